"""A scripting command starts light: it loads what its work needs and nothing else.

Which modules a start loads, not how long it takes, so the checks hold on any machine (the
wall times are ``tests/bench/cli_speed.py``'s). With no engine on the database a command
reads it without the desk, the simulator, the venues' exchange classes or the migrations (and
a SQLite file without the asyncio layer); through the engine that owns it, a command is a thin client that loads no database layer.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import config
from engine.cli import common
from engine.simtime import remember
from tests.engine.cli.shell import run_process

ROOT = Path(__file__).resolve().parents[3]

# Runs ``omc ARGV`` in a fresh interpreter, then names every module the command loaded.
PROBE = (
    "import json, sys\n"
    "from omc_tui.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
)

# What no scripting command on a current database needs: the desk, the simulator and its
# numpy, the venues' exchange classes, migrations, the scheduler and the engine itself.
NEVER = (
    "textual",
    "omc_tui.app",
    "numpy",
    "ledgers.sources.sim",
    "ccxt",
    "alembic",
    "apscheduler",
    "engine.local",
    "engine.service.owner",
    "sqlalchemy.dialects.postgresql",
    "pydantic",  # the settings are checked by engine.sections
)
# Only the engine that owns the database needs its database layer.
DATABASE = ("sqlalchemy", "aiosqlite", "ledgers.database", "ledgers.schema")
# A command's read is made by a plain engine: none of the async layer (on SQLite, on the
# command's own thread; on PostgreSQL, asyncpg's awaits through SQLAlchemy's greenlets).
ASYNC_DATABASE = ("sqlalchemy.ext.asyncio", "sqlalchemy.orm", "aiosqlite")


def among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def probe_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OMC_")}


def report(stderr: str) -> dict[str, Any]:
    return json.loads(stderr.strip().splitlines()[-1])  # type: ignore[no-any-return]


def loaded(*argv: str) -> tuple[str, set[str]]:
    """The command's output and the modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=probe_env(),
    )
    found = report(done.stderr)
    assert found["code"] == 0, done.stderr
    return done.stdout, set(found["modules"])


def test_a_command_on_a_current_database_loads_no_desk_market_or_migrations(db_url: str) -> None:
    assert run_process("db", "upgrade", "--db", db_url)[0] == 0
    if db_url.startswith("postgresql"):
        never = tuple(n for n in NEVER if n != "sqlalchemy.dialects.postgresql")
        unused = ("sqlalchemy.dialects.sqlite", "sqlite3")
    else:
        never, unused = NEVER, ("asyncpg", "greenlet", "sqlalchemy.dialects.postgresql")
    for argv in (
        ("ledger", "stats", "--json"),
        ("positions", "--json"),
        ("--sim", "positions", "--json"),  # an empty book: nothing for the simulator to price
        ("orders", "--json"),
        ("--sim", "fills", "--json"),
        ("lots", "--json"),
    ):
        out, modules = loaded("--db", db_url, *argv)
        assert isinstance(json.loads(out), list)
        assert among(modules, never + unused) == [], argv
        assert among(modules, ("websockets", "engine.service.remote")) == [], argv
        assert among(modules, ASYNC_DATABASE) == [], argv
        # A book's holdings are plain data of their own: no engine API, and the events only
        # for the orders and fills that are events.
        assert "engine.api" not in modules, argv
        if "orders" not in argv and "fills" not in argv:
            assert "engine.events" not in modules, argv


def test_the_first_command_on_a_new_database_still_brings_its_schema_up(
    sqlite_url: str,
) -> None:
    out, modules = loaded("--db", sqlite_url, "ledger", "stats", "--json")
    assert "alembic" in modules and len(json.loads(out)) > 0
    code, out, _ = run_process("db", "current", "--json", "--db", sqlite_url)
    assert code == 0 and json.loads(out)["up_to_date"] is True


def test_through_the_owning_engine_a_command_is_a_thin_client(db_url: str) -> None:
    # On PostgreSQL the owner's address is read from the database (asyncpg alone).
    from tests.service.test_attach import owner

    async def scenario() -> list[tuple[str, set[str]]]:
        engine = await owner(db_url)
        try:
            bought = await engine.place_order("BTC/AUD", "buy", "0.01")
            assert bought.accepted, bought.message
            found = []
            for argv in (
                ("--sim", "positions", "--json"),
                ("ledger", "stats", "--json"),  # not a book's: any book's owner answers it
            ):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    PROBE,
                    "--db",
                    db_url,
                    *argv,
                    cwd=ROOT,
                    env=probe_env(),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(proc.communicate(), 120)
                answer = report(err.decode())
                assert answer["code"] == 0, err.decode()
                found.append((out.decode(), set(answer["modules"])))
            return found
        finally:
            await engine.stop()

    (positions, modules), (stats, more) = asyncio.run(scenario())
    assert [p["symbol"] for p in json.loads(positions)] == ["BTC/AUD"]
    assert {"table": "fills", "rows": 1} in [
        {k: row[k] for k in ("table", "rows")} for row in json.loads(stats)
    ]
    for found in (modules, more):
        assert "engine.service.remote" in found  # it did ask the engine
        assert among(found, NEVER + DATABASE) == []
        assert "engine.jobs" not in found  # attached for its answer: no snapshot of the jobs


def test_a_book_read_without_an_engine_is_the_engines(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulated clock stands still (a microsecond a second from a remembered point in
    # mid-second), so the engine and the read price the book at the same simulated tick.
    still = {"OMC_SIM__SPEED": "0.000001"}
    monkeypatch.setenv("OMC_SIM__SPEED", still["OMC_SIM__SPEED"])
    settings = config.load(None, sim={"enabled": True}, database={"url": sqlite_url})
    when = common.parse_when("2027-03-01T10:00:00.5", "at")
    assert when is not None
    remember(settings.database_url(), when)
    for side, symbol, qty in (
        ("buy", "BTC/AUD", "0.01"),
        ("buy", "ETH/AUD", "0.2"),
        ("sell", "BTC/AUD", "0.004"),
    ):
        code, out, err = run_process(
            "--sim", "--db", sqlite_url, "order", side, symbol, qty, env=still
        )
        assert code == 0, out + err

    async def through_an_engine(engine: Any) -> Any:
        from engine.cli.trading import steps

        view = await engine.trading()
        return list(view.positions), await steps(engine, (p.symbol for p in view.positions))

    async def read(db: Any) -> Any:
        from engine.cli.trading import _steps
        from engine.trading.positions import read_positions

        positions, known = await read_positions(settings, db)
        return positions, _steps(known)

    engine_positions, engine_steps = common.with_engine(settings, through_an_engine, market=True)
    alone_positions, alone_steps = common.with_engine(settings, through_an_engine, alone=read)
    assert alone_positions == engine_positions and alone_steps == engine_steps
    assert [p.symbol for p in alone_positions] == ["BTC/AUD", "ETH/AUD"]
    assert all(p.mark is not None and p.mark > Decimal(0) for p in alone_positions)
    assert alone_steps.amounts and alone_steps.prices  # people's columns keep their steps

    # The book's other reads, and what a table of them shows, are the engine's too.
    async def the_book(engine: Any) -> Any:
        return (
            await engine.orders(limit=2),
            await engine.fills(2),
            await engine.lots(),
            await engine.instrument_steps(["BTC/AUD", "ETH/AUD"]),
        )

    async def read_book(db: Any) -> Any:
        from engine.trading import positions as book

        return (
            await book.read_orders(settings, db, limit=2),
            await book.read_fills(settings, db, 2),
            await book.read_lots(settings, db),
            await book.read_steps(settings, db, ["ETH/AUD", "BTC/AUD", "BTC/AUD"]),
        )

    engine_book = common.with_engine(settings, the_book)
    alone_book = common.with_engine(settings, the_book, alone=read_book)
    assert alone_book == engine_book
    orders, fills, lots, known = alone_book
    assert [(o.side, o.symbol) for o in orders] == [("sell", "BTC/AUD"), ("buy", "ETH/AUD")]
    assert [(f.side, f.symbol) for f in fills] == [("sell", "BTC/AUD"), ("buy", "ETH/AUD")]
    assert [(lot.asset, lot.quantity) for lot in lots] == [
        ("BTC", Decimal("0.006")),
        ("ETH", Decimal("0.2")),
    ]
    assert [s.symbol for s in known] == ["BTC/AUD", "ETH/AUD"]
    for command in ("orders", "fills", "lots"):
        code, out, err = run_process("--sim", "--db", sqlite_url, command, env=still)
        assert code == 0 and "BTC" in out, out + err


def test_the_head_read_from_the_files_is_alembics() -> None:
    """The quick reading of the history agrees with alembic's own, so a database at head is
    never mistaken for one behind it (or the other way round)."""
    from alembic.script import ScriptDirectory

    from ledgers.migrate import alembic_config, listed_head

    assert listed_head() == ScriptDirectory.from_config(alembic_config()).get_current_head()
