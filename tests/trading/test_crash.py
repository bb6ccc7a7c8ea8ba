"""kill -9 in the middle of paper trading, restart: nothing lost, nothing duplicated."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from engine.trading.model import ZERO, Fill, Order, OrderState
from engine.trading.portfolio import Portfolio
from engine.trading.store import TradingStore
from ledgers.database import Database
from ledgers.schema import DeploymentRow
from tests.engine.test_headless import command, env

STRATEGY = "ma_cross:BTC/AUD:1m"
FAST_ENGINE = {
    # Ten one-minute bars a second, and every job quick enough to trade on each of them.
    "OMC_TRADING__STRATEGY_SECONDS": "0.1",
    "OMC_TRADING__ORDERS_SECONDS": "0.2",
    "OMC_TRADING__MARK_SECONDS": "0.5",
    "OMC_ENGINE__CANDLE_SECONDS": "0.1",
    "OMC_ENGINE__FLUSH_SECONDS": "0.1",
    "OMC_SIM__SYMBOLS": "3",
    "OMC_SOURCES__ENABLED": "false",
}


def run(coro_fn):  # type: ignore[no-untyped-def]
    return asyncio.run(coro_fn())


def book(db_url: str) -> tuple[list[Order], list[Fill]]:
    async def go() -> tuple[list[Order], list[Fill]]:
        db = Database(db_url)
        try:
            store = TradingStore(db)
            return await store.orders("paper:sim", limit=None), await store.fills("paper:sim")
        finally:
            await db.dispose()

    return run(go)


def deploy(db_url: str) -> None:
    async def go() -> None:
        db = Database(db_url)
        try:
            await db.upgrade()
            async with db.engine.begin() as conn:
                await conn.execute(
                    DeploymentRow.__table__.insert().values(
                        name=STRATEGY,
                        book="paper:sim",
                        strategy="ma_cross",
                        symbol="BTC/AUD",
                        timeframe="1m",
                        params={"fast": 2, "slow": 3},
                        allocation=Decimal("1000"),
                        backtest_id=None,
                        active=True,
                        deployed_at=datetime.now(UTC),
                    )
                )
        finally:
            await db.dispose()

    run(go)


def start(db_url: str, tmp_path: Path) -> subprocess.Popen[str]:
    # The log goes to a file: a pipe nobody reads would fill up and stall the engine.
    log = tmp_path / f"engine-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            command("--sim", "--speed", "600", "--db", db_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env(tmp_path), **FAST_ENGINE},
        )
    deadline = time.monotonic() + 60
    while not any(json.loads(line).get("msg") == "ready" for line in _lines(log)):
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "engine never became ready"
        time.sleep(0.1)
    return proc


def _lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("{")]


def wait_for_fills(db_url: str, more_than: int, timeout: float = 45.0) -> list[Fill]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, fills = book(db_url)
        if len(fills) > more_than:
            return fills
        time.sleep(0.3)
    raise AssertionError(f"no more than {more_than} fills after {timeout} s of trading")


def test_kill_9_while_trading_loses_and_duplicates_nothing(db_url: str, tmp_path: Path) -> None:
    deploy(db_url)
    proc = start(db_url, tmp_path)
    try:
        wait_for_fills(db_url, 3)
        time.sleep(0.37)  # land somewhere in the middle of the next orders
        _, before = book(db_url)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = max(f.ts for f in before)

    proc = start(db_url, tmp_path)
    try:
        # The simulated clock resumes from where it was last remembered (every few seconds),
        # so the strategy may wait a moment for time to pass the last bar it decided.
        after_restart = wait_for_fills(db_url, len(before) + 2, timeout=90)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert max(f.ts for f in after_restart) > killed_at, "trading did not resume"

    orders, fills = book(db_url)
    ids = [f.fill_id for f in fills]
    assert len(ids) == len(set(ids))
    assert {f.fill_id for f in before} <= set(ids), "a fill stored before the crash was lost"

    orders_match_their_fills(orders, fills)

    # One strategy order per decided bar, whatever the crash: client ids come from the bar.
    strategy_orders = [o for o in orders if o.strategy == STRATEGY]
    assert len(strategy_orders) >= 4
    held = ZERO
    for order in sorted(strategy_orders, key=lambda o: o.created_at):
        held += order.filled if order.side.value == "buy" else -order.filled
        assert held >= ZERO
    start_cash = Decimal("10000")
    portfolio = Portfolio.replay(fills, {"AUD": start_cash})
    assert portfolio.cash["AUD"] == start_cash + sum((f.cash_delta for f in fills), ZERO)
    assert portfolio.cash["AUD"] >= ZERO
    assert portfolio.holdings("BTC", "AUD") == held


def orders_match_their_fills(orders: list[Order], fills: list[Fill]) -> None:
    """Every order's filled, cost and fees are the sums of its fills; none is left NEW."""
    by_order: dict[str, list[Fill]] = defaultdict(list)
    for fill in fills:
        by_order[fill.client_id].append(fill)
    for order in orders:
        mine = by_order.pop(order.client_id, [])
        assert order.filled == sum((f.quantity for f in mine), ZERO), order
        assert order.cost == sum((f.gross for f in mine), ZERO), order
        assert order.fees == sum((f.fee for f in mine), ZERO), order
        assert order.state is not OrderState.NEW, "an order was left unsettled"
    assert not by_order, "fills without their order"
