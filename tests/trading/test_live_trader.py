"""The live book over a fake venue: reconcile first, disarmed by default, the same guard."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.events import Event, RiskEvent
from engine.trading.live import LiveBroker
from engine.trading.live_trader import LiveTrader, set_armed
from engine.trading.model import OrderRequest, OrderState
from engine.trading.store import TradingStore
from ledgers.database import Database
from tests.trading.fake_venue import FakeVenue
from tests.trading.test_trader import Market

D = Decimal


@pytest.fixture
async def db(database: Database) -> Database:
    await database.upgrade()
    return database


def live_trader(db: Database, market: Market, venue: FakeVenue, events: list[Event]) -> LiveTrader:
    broker = LiveBroker(venue, "coinspot", now=lambda: market.now)
    return LiveTrader(TradingStore(db), market, events.append, lambda: market.now, broker=broker)


def limit_buy(qty: str, price: str) -> OrderRequest:
    return OrderRequest.parse("BTC/AUD", "buy", qty, price)


async def test_live_reconciles_before_trading_and_refuses_until_armed(db: Database) -> None:
    market, events = Market(), []
    venue = FakeVenue(now=lambda: market.now)
    venue.set_balance("AUD", "5000")
    trader = live_trader(db, market, venue, events)
    await trader.open()
    assert venue.count("fetch_open_orders") >= 1 and venue.count("fetch_balance") >= 1
    assert trader.portfolio.cash["AUD"] == D("5000")
    assert not trader.armed

    refused = await trader.place(limit_buy("1", "100"))
    assert refused.order.state is OrderState.REJECTED
    assert refused.decision is not None and refused.decision.rule == "live_not_armed"
    assert venue.count("create_order") == 0

    await set_armed(trader, True)
    placed = await trader.place(limit_buy("1", "100"))
    assert placed.order.state is OrderState.OPEN
    assert placed.order.venue_order_id is not None
    assert venue.count("create_order") == 1

    venue.fill(placed.order.venue_order_id, "1")
    assert await trader.check_orders() == 1
    stored = await trader.store.order(placed.order.client_id)
    assert stored is not None and stored.state is OrderState.FILLED
    assert trader.portfolio.holdings("BTC", "AUD") == D("1")
    assert not trader.working()


async def test_arming_survives_a_restart_and_foreign_orders_are_reported(db: Database) -> None:
    market, events = Market(), []
    venue = FakeVenue(now=lambda: market.now)
    venue.set_balance("AUD", "5000")
    trader = live_trader(db, market, venue, events)
    await trader.open()
    await set_armed(trader, True)
    venue.place_elsewhere("BTC/AUD", "buy", "0.5", "90")

    again = live_trader(db, market, venue, events)
    await again.open()
    assert again.armed
    assert len(again.unknown_orders) == 1
    assert any(isinstance(e, RiskEvent) and e.rule == "reconcile" for e in events)


async def test_a_working_order_is_cancelled_at_the_venue(db: Database) -> None:
    market = Market()
    venue = FakeVenue(now=lambda: market.now)
    venue.set_balance("AUD", "5000")
    trader = live_trader(db, market, venue, [])
    await trader.open()
    await set_armed(trader, True)
    placed = await trader.place(limit_buy("1", "100"))
    cancelled = await trader.cancel(placed.order.client_id)
    assert cancelled.state is OrderState.CANCELLED
    assert venue.open_ids() == []
