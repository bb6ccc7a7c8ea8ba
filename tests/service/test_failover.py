"""One owner per database, with real ``omc-engine`` processes: refusal, commands through the
owner, and on PostgreSQL a standby that takes over when the leader is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.trading.model import ZERO
from engine.trading.portfolio import Portfolio
from tests.conftest import PG_URL, REQUIRE_PG, _pg_database
from tests.engine.cli.shell import run_process
from tests.engine.test_headless import command, env
from tests.trading.test_crash import FAST_ENGINE, STRATEGY, book, deploy, orders_match_their_fills
from tests.trading.test_integrity import rows

SERVICE = {
    **FAST_ENGINE,
    "OMC_SERVICE__LISTEN": "127.0.0.1:0",
    "OMC_SERVICE__FAILOVER_SECONDS": "5",
}


def launch(db_url: str, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / f"engine-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            command("--sim", "--speed", "600", "--db", db_url, *extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env(tmp_path), **SERVICE},
        )
    return proc, log


def messages(log: Path) -> list[dict]:
    found = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass  # a line being written
    return found


def wait_for(log: Path, msg: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in messages(log):
            if m.get("msg") == msg:
                return m
        time.sleep(0.05)
    raise AssertionError(f"no {msg!r} in {log.name} after {timeout} s:\n{log.read_text()[-2000:]}")


def omc(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return run_process(
        "--sim", "--speed", "600", "--db", db_url, *args, env={**env(tmp_path), **SERVICE}
    )


def stop(proc: subprocess.Popen[str]) -> float:
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    proc.wait(timeout=15)
    return time.monotonic() - t0


def test_a_second_engine_on_sqlite_refuses_in_one_line(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'omc.db'}"
    owner, log = launch(db_url, tmp_path)
    try:
        wait_for(log, "listening")
        wait_for(log, "leader")
        second = subprocess.run(
            command("--sim", "--db", db_url),
            capture_output=True,
            text=True,
            timeout=60,
            env={**env(tmp_path), **SERVICE},
        )
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1
        assert (
            f"is owned by pid {owner.pid} on " in second.stderr
            and "ws://127.0.0.1:" in second.stderr
        )
    finally:
        assert stop(owner) < 5.0
    assert owner.returncode == 0


def test_commands_and_the_desk_share_the_owners_one_book(db_url: str, tmp_path: Path) -> None:
    """The reproduction: a command sells while the desk's engine runs; the desk then sells the
    rest. Before, the desk never saw the command's sell and its book broke for good."""
    owner, log = launch(db_url, tmp_path)
    try:
        wait_for(log, "leader")
        # A just-started owner on a busy machine may not have polled a fresh quote yet: the
        # guard refuses with stale_quote (nothing is traded), and the same order a moment
        # later goes through.
        deadline = time.monotonic() + 60
        while True:
            code, out, err = omc(db_url, tmp_path, "order", "buy", "BTC/AUD", "0.01", "--json")
            if code == 0 or time.monotonic() > deadline or '"stale_quote"' not in out:
                break
            time.sleep(1.0)
        assert code == 0, out + err
        assert json.loads(out)["order"]["state"] == "filled"
        code, out, err = omc(db_url, tmp_path, "order", "sell", "BTC/AUD", "0.004", "--json")
        assert code == 0, err
        # The owner's own book saw the command's sell: it may sell exactly what is left.
        code, out, err = omc(db_url, tmp_path, "positions", "--json")
        assert [Decimal(p["quantity"]) for p in json.loads(out)] == [Decimal("0.006")]
        code, out, err = omc(db_url, tmp_path, "order", "sell", "BTC/AUD", "0.006", "--json")
        assert code == 0, err
        code, out, err = omc(db_url, tmp_path, "order", "sell", "BTC/AUD", "0.001", "--json")
        assert code == 1 and json.loads(out)["rule"] == "insufficient_funds"
        code, out, _ = omc(db_url, tmp_path, "engine", "status", "--json")
        status = json.loads(out)
        assert status["role"] == "leader" and status["book"] == "paper:sim"
        assert any(m["pid"] == owner.pid for m in status["members"])
        # A repair rewrites the book the owner holds: refused while it runs, saying who.
        code, out, err = omc(db_url, tmp_path, "book", "repair")
        assert code == 1 and f"pid {owner.pid}" in err and "stop it first" in err
        served = [m for m in messages(log) if m.get("logger") == "omc.service.ws"]
        assert sum(m["msg"] == "connection open" for m in served) >= 5  # they went through it
    finally:
        assert stop(owner) < 5.0
    assert owner.returncode == 0
    code, out, err = omc(db_url, tmp_path, "book", "check")
    assert code == 0, out + err
    orders, fills = book(db_url)
    assert sum(f.quantity if f.side.value == "buy" else -f.quantity for f in fills) == ZERO


@pytest.fixture
def pg_url() -> Iterator[str]:
    """Replicas elect a leader on PostgreSQL only (SQLite refuses a second engine, above)."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("OMC_REQUIRE_PG=1 but OMC_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not configured (set OMC_TEST_PG_URL)")
    yield from _pg_database(PG_URL)


@pytest.mark.pg
def test_a_standby_takes_over_from_a_killed_leader_and_nothing_is_lost(
    pg_url: str, tmp_path: Path
) -> None:
    db_url = pg_url
    deploy(db_url)
    kills = 20
    leader, leader_log = launch(db_url, tmp_path)
    wait_for(leader_log, "leader")
    takeovers: list[float] = []
    try:
        for _ in range(kills):
            standby, standby_log = launch(db_url, tmp_path)
            wait_for(standby_log, "standby")
            time.sleep(0.3)
            os.kill(leader.pid, signal.SIGKILL)
            leader.wait(timeout=10)
            killed = time.monotonic()
            wait_for(standby_log, "leader", timeout=30)
            takeovers.append(time.monotonic() - killed)
            leader, leader_log = standby, standby_log
        code, out, _ = omc(db_url, tmp_path, "engine", "status", "--json")
        assert code == 0 and json.loads(out)["role"] == "leader"
        standby, standby_log = launch(db_url, tmp_path)
        wait_for(standby_log, "standby")
        assert stop(standby) < 5.0 and standby.returncode == 0
    finally:
        if leader.poll() is None:
            assert stop(leader) < 5.0
    assert leader.returncode == 0
    assert max(takeovers) <= 15.0, takeovers  # the lease frees at once; the standby looks every 1 s
    orders, fills = book(db_url)
    assert fills, "the deployed strategy never traded"
    ids = Counter(f.fill_id for f in fills)
    assert not [i for i, n in ids.items() if n > 1]
    orders_match_their_fills(orders, fills)
    start_cash = Decimal("10000")
    portfolio = Portfolio.replay(fills, {"AUD": start_cash})
    assert portfolio.cash["AUD"] == start_cash + sum((f.cash_delta for f in fills), ZERO)
    # No bar decided twice by two leaders: one risk decision per strategy order.
    decided = Counter(
        cid
        for (cid,) in rows(db_url, "SELECT client_id FROM risk_decisions")
        if cid and cid.startswith("strat-")
    )
    assert decided and max(decided.values()) == 1
    assert any(o.strategy == STRATEGY and o.filled for o in orders), "the strategy never traded"
    assert not [o for o in orders if o.state.value == "new"]
    code, out, err = omc(db_url, tmp_path, "book", "check", "--json")
    assert code == 0 and json.loads(out)["consistent"], out + err


@pytest.mark.pg
def test_a_standby_serves_probes_and_carries_clients_to_the_leader(
    pg_url: str, tmp_path: Path
) -> None:
    import asyncio

    import httpx

    from engine.service.protocol import Unreachable
    from engine.service.remote import RemoteEngine

    leader, leader_log = launch(pg_url, tmp_path)
    standby = None
    try:
        wait_for(leader_log, "leader")
        standby, standby_log = launch(pg_url, tmp_path)
        address = wait_for(standby_log, "standby")["event"]["address"]
        base = address.replace("ws://", "http://")
        assert httpx.get(f"{base}/healthz").text == "ok\n"
        assert httpx.get(f"{base}/readyz").status_code == 200  # a healthy standby
        assert "omc_leader 0.0" in httpx.get(f"{base}/metrics").text
        token = (tmp_path / "data" / "omc" / "engine.token").read_text().strip()

        async def through_the_standby() -> tuple[str, str, str, bool]:
            remote = RemoteEngine(address, token)
            await remote.start()
            try:
                result = await remote.place_order("ETH/AUD", "buy", "0.01")
                view = await remote.trading()
                return remote.url, remote.snapshot().mode.book, view.trading.book, result.accepted
            finally:
                await remote.stop()

        # Relayed by the standby, not sent elsewhere: a load balancer's client stays put.
        relayed = (f"{address}/attach", "paper:sim", "paper:sim", True)
        assert asyncio.run(through_the_standby()) == relayed

        async def a_command_through_the_standby() -> tuple[str, bool]:
            remote = RemoteEngine(address, token, reconnect=False, events=False)
            await remote.start()
            try:
                with pytest.raises(Unreachable, match="answers only"):
                    remote.snapshot()  # the leader heard the command's query through the relay
                view = await remote.trading()
                return view.trading.book, bool(view.positions)
            finally:
                await remote.stop()

        assert asyncio.run(a_command_through_the_standby()) == ("paper:sim", True)
        orders, _ = book(pg_url)
        assert [o.symbol for o in orders if o.origin.value == "manual"] == ["ETH/AUD"]
    finally:
        for proc in (standby, leader):
            if proc is not None and proc.poll() is None:
                assert stop(proc) < 5.0


@pytest.mark.pg
def test_a_leader_that_loses_its_connection_stops_before_a_standby_leads(
    pg_url: str, tmp_path: Path
) -> None:
    """Cut the leader's lease connection (no kill): it must stop acting, exit 3, and the
    standby take over; the book's last fill is the deposed leader's at the latest."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    from engine.service.lease import LOCK_KEYS

    deploy(pg_url)
    leader, leader_log = launch(pg_url, tmp_path)
    standby = None
    try:
        wait_for(leader_log, "leader")
        standby, standby_log = launch(pg_url, tmp_path)
        wait_for(standby_log, "standby")
        dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)

        async def cut() -> int:
            conn = await asyncpg.connect(dsn)
            try:
                pid = await conn.fetchval(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = $1 AND objid = $2",
                    *LOCK_KEYS,
                )
                await conn.execute("SELECT pg_terminate_backend($1)", pid)
                return int(pid)
            finally:
                await conn.close()

        asyncio.run(cut())
        assert leader.wait(timeout=20) == 3  # deposed: it stopped on its own
        lost = [m for m in messages(leader_log) if m.get("msg") == "leader"]
        assert lost and lost[-1]["event"]["leader"] is False
        wait_for(standby_log, "leader", timeout=30)
    finally:
        for proc in (standby, leader):
            if proc is not None and proc.poll() is None:
                assert stop(proc) < 5.0
    orders, fills = book(pg_url)
    orders_match_their_fills(orders, fills)
    assert not [o for o in orders if o.state.value == "new"]
