"""The order path through the book's lock, in process and across processes.

In process: ``Trader.place`` end to end on a SQLite file — the book's transaction (BEGIN
IMMEDIATE), the decision, the order and its fills written, the portfolio moved — per market
order. Across processes: 20 ``omc order`` commands started at once against one database; every
one must complete, and the book must hold exactly one order per command.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from engine.trading.risk import RiskLimits
from engine.trading.store import TradingStore
from engine.trading.trader import Trader
from ledgers.database import Database
from tests.bench.order_path import percentile
from tests.trading.test_trader import Market, buy

ORDERS = 500
PARALLEL = 20


async def _in_process(folder: Path) -> list[float]:
    db = Database(f"sqlite:///{folder / 'lock.db'}")
    await db.upgrade()
    market = Market()
    market.set_book("BTC/AUD", bid="99", ask="101", size="1000000")
    limits = RiskLimits(
        max_order_notional=Decimal(10**9),
        max_position_pct=Decimal(100),
        max_orders_per_minute=10**6,
    )
    trader = Trader(
        TradingStore(db),
        market,
        lambda _e: None,
        lambda: market.now,
        limits=limits,
        starting_cash=Decimal(10**9),
    )
    await trader.open()
    times = []
    for _ in range(ORDERS):
        start = time.perf_counter()
        result = await trader.place(buy("0.01"))
        times.append((time.perf_counter() - start) * 1000)
        if not result.fills:
            raise RuntimeError(f"order not filled: {result.order.reason}")
    await db.dispose()
    return times[50:]


def _parallel(folder: Path) -> dict[str, object]:
    url = f"sqlite:///{folder / 'parallel.db'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OMC_")},
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "cfg"),
    }
    argv = [sys.executable, "-m", "omc_tui.cli", "--sim", "--db", url]
    subprocess.run([*argv, "book", "check"], env=env, capture_output=True, check=True)
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*argv, "order", "buy", "ETH", "0.01", "--client-id", f"p{i}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(PARALLEL)
    ]
    codes = [p.wait(timeout=300) for p in procs]
    elapsed = time.perf_counter() - start
    failures = [p.stderr.read().decode().strip() for p in procs if p.returncode and p.stderr]

    async def count() -> tuple[int, int]:
        db = Database(url)
        async with db.engine.connect() as conn:
            from sqlalchemy import text

            orders = (await conn.execute(text("SELECT count(*) FROM orders"))).scalar_one()
            decisions = (
                await conn.execute(text("SELECT count(*) FROM risk_decisions"))
            ).scalar_one()
        await db.dispose()
        return orders, decisions

    orders, decisions = asyncio.run(count())
    return {
        "figure": "parallel_commands_one_book",
        "commands": PARALLEL,
        "completed": sum(1 for c in codes if c == 0),
        "failed": failures,
        "orders": orders,
        "decisions": decisions,
        "lost_or_doubled": PARALLEL - orders,
        "seconds": round(elapsed, 2),
    }


def run() -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        times = asyncio.run(_in_process(folder))
        figures: list[dict[str, object]] = [
            {
                "figure": "order_path_with_book_lock_ms",
                "orders": len(times),
                "database": "sqlite",
                "p50": round(percentile(times, 0.50), 3),
                "p99": round(percentile(times, 0.99), 3),
                "unit": "ms",
            }
        ]
        figures.append(_parallel(folder))
    return figures
