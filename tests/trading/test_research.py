"""Backtests kept and judged, promotion as a human step, and the deployed-strategy runner."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from engine.trading.backtest import GovernanceGate
from engine.trading.model import OrderState, Origin, Side
from engine.trading.research import Research
from engine.trading.store import TradingStore
from engine.trading.trader import Trader, TradingError
from ledgers.database import Database
from ledgers.market import Candle
from ledgers.store import LedgerStore
from tests.trading.test_trader import T0, Market

D = Decimal
ANYTHING = GovernanceGate(min_trades=0, min_sharpe=-1e9, max_drawdown_pct=100)


@pytest.fixture
async def db(database: Database) -> Database:
    await database.upgrade()
    return database


async def store_bars(db: Database, closes: list[float], start_minutes: int = 0) -> None:
    bars = [
        Candle("sim", "BTC/AUD", "1m", T0 + timedelta(minutes=start_minutes + i), c, c, c, c, 1.0)
        for i, c in enumerate(closes)
    ]
    await LedgerStore(db).upsert_candles(bars)


def at(market: Market, minutes: float, bid: str = "99", ask: str = "101") -> None:
    """Move the clock and refresh the book (the guard refuses a stale quote)."""
    market.now = T0 + timedelta(minutes=minutes)
    market.set_book("BTC/AUD", bid=bid, ask=ask)


async def research(db: Database, market: Market, gate: GovernanceGate = ANYTHING) -> Research:
    trader = Trader(TradingStore(db), market, lambda e: None, lambda: market.now)
    await trader.open()
    return Research(
        db,
        trader,
        lambda: "sim",
        lambda: market.now,
        gate=gate,
        slippage_bps=D("0"),
        allocation=D("1000"),
    )


async def test_the_gate_decides_whether_a_human_may_promote(db: Database) -> None:
    market = Market()
    await store_bars(db, [100 + (i % 7) for i in range(60)])
    market.now = T0 + timedelta(minutes=61)
    strict = await research(db, market, GovernanceGate(min_trades=1000))
    view = await strict.backtest(
        "ma_cross", "BTC/AUD", timeframe="1m", params={"fast": "2", "slow": "3"}
    )
    assert not view.gate_passed and "at least 1000 needed" in view.gate_reasons[0]
    with pytest.raises(TradingError, match="governance gate"):
        await strict.promote(view.id)
    with pytest.raises(TradingError, match="not promoted"):
        await strict.deploy(view.id)
    assert [b.id for b in await strict.backtests()] == [view.id]


async def test_a_deployed_strategy_trades_once_per_bar_through_the_guard(db: Database) -> None:
    market = Market()
    # Rising closes: the fast average is above the slow one at the newest closed bar.
    await store_bars(db, [90.0, 91.0, 92.0, 93.0, 94.0, 95.0])
    at(market, 6.5)
    lab = await research(db, market)
    view = await lab.backtest(
        "ma_cross", "BTC/AUD", timeframe="1m", params={"fast": "2", "slow": "3"}
    )
    await lab.promote(view.id)
    deployed = await lab.deploy(view.id, D("500"))
    assert deployed.name == "ma_cross:BTC/AUD:1m"

    assert await lab.run_deployments() == 1
    assert await lab.run_deployments() == 0  # the same bar never trades twice
    orders = await lab.trader.store.orders("paper:sim")
    assert len(orders) == 1
    buy = orders[0]
    assert (buy.side, buy.origin, buy.strategy) == (Side.BUY, Origin.STRATEGY, deployed.name)
    assert buy.state is OrderState.FILLED
    assert buy.cost + buy.fees <= D("500")  # the allocation, fees included

    # Falling closes: the next closed bar turns the strategy flat, and it sells what it holds.
    await store_bars(db, [80.0, 70.0], start_minutes=6)
    at(market, 8.5, bid="79", ask="81")
    assert await lab.run_deployments() == 1
    sell = (await lab.trader.store.orders("paper:sim"))[0]
    assert sell.side is Side.SELL and sell.quantity == buy.filled

    await lab.undeploy(deployed.name)
    await store_bars(db, [90.0, 100.0, 110.0], start_minutes=8)
    at(market, 11.5)
    assert await lab.run_deployments() == 0
