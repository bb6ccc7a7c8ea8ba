"""Wall time of ``omc positions --json`` and ``omc ledger stats --json`` from the shell: a real
process each run, with no engine on the database, and through a running ``omc-engine --sim``
that owns it (the command is then a thin client of the engine).

Targets: ≤ 0.4 s with no owner, ≤ 0.25 s through an owner (median of 7 runs after a warm-up,
the commands interleaved so a busy machine slows each alike). ``positions_sim_no_owner`` holds
a position on the simulated market, which the simulator must price: it has no target.

Bytecode is cached in the run's own folder, as an installed ``omc`` has it: with
PYTHONDONTWRITEBYTECODE set, every start would compile the project's modules again.

Each figure has its floor beside it (``FLOORS``: the libraries such a command must load,
timed in the same runs) and what the command costs over it: the part that is ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.engine.test_headless import command
from tests.terminal import omc_command

RUNS = 7
NO_OWNER_TARGET = 0.4
OWNER_TARGET = 0.25


def _env(tmp: Path) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OMC_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {
        **keep,
        "XDG_CONFIG_HOME": str(tmp / "cfg"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "PYTHONPYCACHEPREFIX": str(tmp / "pyc"),
    }


def _omc(env: dict[str, str], *args: str) -> float:
    """Seconds from start to exit of one ``omc`` process; a failure stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(omc_command(*args), capture_output=True, text=True, env=env, timeout=120)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"omc {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return took


def _owner(db: str, tmp: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``omc-engine --sim`` on ``db``, returned once it has published where it listens."""
    with (tmp / "engine.log").open("w") as log:
        proc = subprocess.Popen(
            command("--sim", "--db", db, "--listen", "127.0.0.1:0"),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"omc-engine exited {proc.returncode}")
        if _listening(db, env):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("omc-engine did not listen within 60 s")


def _listening(db: str, env: dict[str, str]) -> bool:
    if db.startswith("sqlite"):
        record = Path(db.removeprefix("sqlite:///") + ".owner.json")
        try:
            return bool(json.loads(record.read_text()).get("address"))
        except (OSError, ValueError):
            return False
    done = subprocess.run(
        omc_command("--db", db, "engine", "status", "--json"),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    try:
        return done.returncode == 0 and bool((json.loads(done.stdout) or {}).get("address"))
    except ValueError:
        return False


def _settled(pid: int, timeout: float = 60.0) -> None:
    """Wait until a new engine has done its start-up work (collectors' first runs, history):
    under a fifth of a core for two seconds running, so it does not compete with the timing."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():  # not Linux: a fixed wait instead
        time.sleep(10)
        return

    def cpu() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    quiet, last, deadline = 0, cpu(), time.monotonic() + timeout
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu()
        quiet = quiet + 1 if now - last < 0.2 else 0
        last = now


# What a command cannot help loading, timed the same way: a no-owner read of a SQLite file
# needs asyncio, its parser, SQLAlchemy and the standard driver; a thin client swaps the
# database layer for a websocket client. A machine's pace shows in these floors as much as in
# the commands, so each command is reported beside its floor.
FLOORS = {
    "floor_no_owner": "import argparse, asyncio, sqlite3, sqlalchemy",
    "floor_through_owner": "import argparse, asyncio, websockets.asyncio.client",
    # PostgreSQL's driver is asyncpg (which finds the owner too), under SQLAlchemy's dialect
    # for it and the greenlets that bridge its awaits.
    "pg_floor_no_owner": (
        "import argparse, asyncio, asyncpg, sqlalchemy, sqlalchemy.dialects.postgresql.asyncpg,"
        " greenlet"
    ),
    "pg_floor_through_owner": "import argparse, asyncio, asyncpg, websockets.asyncio.client",
}


def _python(env: dict[str, str], code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    return time.perf_counter() - start


def _measure(env: dict[str, str], commands: dict[str, list[str]]) -> dict[str, list[float]]:
    def timed(name: str, argv: list[str]) -> float:
        return _python(env, FLOORS[name]) if name in FLOORS else _omc(env, *argv)

    for name, argv in commands.items():
        timed(name, argv)  # warm-up: bytecode cached, files in the page cache
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, argv in commands.items():
            times[name].append(timed(name, argv))
    return times


def _figure(
    name: str, times: list[float], target: float | None, floor: list[float] | None = None
) -> dict[str, object]:
    figure: dict[str, object] = {
        "figure": f"{name}_s",
        "p50": round(statistics.median(times), 3),
        "max": round(max(times), 3),
        "runs": len(times),
    }
    if floor is not None:
        figure["floor_p50"] = round(statistics.median(floor), 3)
        figure["over_floor"] = round(statistics.median(times) - statistics.median(floor), 3)
    if target is not None:
        figure["target"] = target
    return figure


def run() -> list[dict[str, object]]:
    """SQLite always; PostgreSQL too when ``OMC_TEST_PG_URL`` names a server (its figures
    start ``postgresql_``)."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        figures = _backend(
            "", f"sqlite:///{tmp / 'alone.db'}", f"sqlite:///{tmp / 'owned.db'}", tmp, ""
        )
        base = os.environ.get("OMC_TEST_PG_URL")
        if base:
            with _pg_databases(base) as (alone, owned):
                figures += _backend("postgresql_", alone, owned, tmp, "pg_")
    return figures


def _backend(name: str, alone: str, owned: str, tmp: Path, floors: str) -> list[dict[str, object]]:
    env = _env(tmp)
    _omc(env, "--sim", "--db", alone, "order", "buy", "BTC", "0.01")  # a position to price
    times = _measure(
        env,
        {
            "positions_no_owner": ["--db", alone, "positions", "--json"],
            "positions_sim_no_owner": ["--sim", "--db", alone, "positions", "--json"],
            "ledger_stats_no_owner": ["--db", alone, "ledger", "stats", "--json"],
            f"{floors}floor_no_owner": [],
        },
    )
    engine = _owner(owned, tmp, env)
    try:
        _omc(env, "--sim", "--db", owned, "order", "buy", "BTC", "0.01")
        _settled(engine.pid)
        times |= _measure(
            env,
            {
                "positions_through_owner": ["--sim", "--db", owned, "positions", "--json"],
                "ledger_stats_through_owner": ["--db", owned, "ledger", "stats", "--json"],
                f"{floors}floor_through_owner": [],
            },
        )
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=30)
    alone_floor = times[f"{floors}floor_no_owner"]
    owner_floor = times[f"{floors}floor_through_owner"]
    return [
        _figure(
            f"{name}{figure}",
            times[figure],
            target,
            alone_floor if figure.endswith("no_owner") else owner_floor,
        )
        for figure, target in (
            ("positions_no_owner", NO_OWNER_TARGET),
            ("positions_sim_no_owner", None),
            ("ledger_stats_no_owner", NO_OWNER_TARGET),
            ("positions_through_owner", OWNER_TARGET),
            ("ledger_stats_through_owner", OWNER_TARGET),
        )
    ]


@contextlib.contextmanager
def _pg_databases(base: str) -> Iterator[tuple[str, str]]:
    """Two new databases on the server ``base`` names (a lease is a database's own), dropped
    after."""
    import asyncio
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    from engine.service.lease import asyncpg_dsn

    names = [f"omc_cli_{label}_{uuid.uuid4().hex[:8]}" for label in ("alone", "owned")]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(base))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    alone, owned = (make_url(base).set(database=n).render_as_string(False) for n in names)
    for n in names:
        asyncio.run(admin(f'CREATE DATABASE "{n}"'))
    try:
        yield alone, owned
    finally:
        for n in names:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))


if __name__ == "__main__":
    for figure in run():
        print(json.dumps({"bench": "cli_speed", **figure}), flush=True)
