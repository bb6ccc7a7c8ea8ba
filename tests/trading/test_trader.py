"""The trader end to end on both databases: guard, broker, persistence, restart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.events import Event, FillEvent, OrderEvent, RiskEvent, TradingEvent
from engine.trading.model import (
    Book,
    MarketRules,
    OrderRequest,
    OrderState,
    Origin,
    Side,
)
from engine.trading.store import TradingStore
from engine.trading.trader import Trader, TradingError
from engine.trading.venue import BookUnavailable, Quote
from ledgers.database import Database

D = Decimal
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


class Market:
    """A venue with one book per symbol that tests move by hand."""

    venue = "sim"

    def __init__(self) -> None:
        self.now = T0
        self.books: dict[str, Book] = {}
        self.set_book("BTC/AUD", bid="99", ask="101")

    def set_book(self, symbol: str, *, bid: str, ask: str, size: str = "5") -> None:
        b, a = D(bid), D(ask)
        self.books[symbol] = Book(
            symbol,
            self.now,
            ((b, D(size)), (b - 1, D(size))),
            ((a, D(size)), (a + 1, D(size))),
        )

    def quote(self, symbol: str) -> Quote | None:
        book = self.books.get(symbol)
        if book is None:
            return None
        return Quote(symbol, book.ts, book.best_bid, book.best_ask, book.mid)

    async def book(self, symbol: str) -> Book:
        if symbol not in self.books:
            raise BookUnavailable(f"no order book for {symbol}")
        return self.books[symbol]

    def rules(self, symbol: str) -> MarketRules | None:
        if symbol not in self.books:
            return None
        return MarketRules(
            symbol,
            amount_step=D("0.0001"),
            price_step=D("0.01"),
            min_amount=D("0.0001"),
            taker_fee=D("0.001"),
            maker_fee=D("0.0005"),
        )

    def symbols(self) -> Sequence[str]:
        return sorted(self.books)


@pytest.fixture
async def db(database: Database) -> Database:
    await database.upgrade()
    return database


def make_trader(db: Database, market: Market, events: list[Event]) -> Trader:
    return Trader(TradingStore(db), market, events.append, lambda: market.now)


def buy(qty: str, limit: str | None = None, client_id: str | None = None) -> OrderRequest:
    return OrderRequest.parse("BTC/AUD", "buy", qty, limit, client_id=client_id)


async def test_a_market_buy_fills_persists_and_moves_the_book(db: Database) -> None:
    market, events = Market(), []
    trader = make_trader(db, market, events)
    await trader.open()
    result = await trader.place(buy("2"))
    assert result.order.state is OrderState.FILLED
    assert [f.price for f in result.fills] == [D("101")]
    assert trader.portfolio.cash["AUD"] == D("10000") - D("202") - D("0.202")
    stored = await trader.store.order(result.order.client_id)
    assert stored == result.order
    assert await trader.store.fills("paper:sim") == list(result.fills)
    assert any(isinstance(e, FillEvent) for e in events)
    assert any(isinstance(e, OrderEvent) and e.state == "filled" for e in events)


async def test_money_round_trips_exactly(db: Database) -> None:
    market = Market()
    market.set_book("BTC/AUD", bid="123456.78", ask="123456.79", size="0.5")
    trader = make_trader(db, market, [])
    await trader.open()
    result = await trader.place(buy("0.0123"))
    fill = (await trader.store.fills("paper:sim"))[0]
    assert fill.price == D("123456.79")
    assert fill.fee == D("123456.79") * D("0.0123") * D("0.001")
    assert fill == result.fills[0]


async def test_a_repeated_client_id_never_trades_twice(db: Database) -> None:
    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    first = await trader.place(buy("1", client_id="abc-1"))
    again = await trader.place(buy("1", client_id="abc-1"))
    assert again.decision is None and again.order == first.order
    assert len(await trader.store.fills("paper:sim")) == 1


async def test_every_decision_is_audited_and_refusals_are_stored_as_rejected(
    db: Database,
) -> None:
    market, events = Market(), []
    trader = make_trader(db, market, events)
    await trader.open()
    refused = await trader.place(buy("0.00001"))
    assert refused.order.state is OrderState.REJECTED
    assert refused.decision is not None and refused.decision.rule == "precision"
    await trader.place(buy("1"))
    audit = await trader.store.decisions()
    assert [(r.allowed, r.rule) for r in audit] == [(True, "ok"), (False, "precision")]
    assert any(isinstance(e, RiskEvent) and e.rule == "precision" for e in events)
    assert len(await trader.store.fills("paper:sim")) == 1


async def test_an_unknown_symbol_is_refused_by_name(db: Database) -> None:
    trader = make_trader(db, Market(), [])
    await trader.open()
    result = await trader.place(OrderRequest.parse("NOPE/AUD", "buy", "1"))
    assert result.order.state is OrderState.REJECTED
    assert result.decision is not None and result.decision.rule == "unknown_symbol"
    assert "NOPE/AUD" in (result.order.reason or "")


async def test_a_limit_rests_then_fills_when_the_market_crosses(db: Database) -> None:
    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    rested = await trader.place(buy("1", "95"))
    assert rested.order.state is OrderState.OPEN
    assert await trader.check_orders() == 0  # the ask is still above the limit
    market.now += timedelta(seconds=5)
    market.set_book("BTC/AUD", bid="93", ask="94.5")
    assert await trader.check_orders() == 1
    filled = await trader.store.order(rested.order.client_id)
    assert filled is not None and filled.state is OrderState.FILLED
    assert filled.average_price == D("95")
    assert filled.fees == D("95") * D("0.0005")  # maker


async def test_working_orders_and_the_book_survive_a_restart(db: Database) -> None:
    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    await trader.place(buy("2"))
    resting = await trader.place(buy("1", "95"))
    cash = trader.portfolio.cash["AUD"]

    again = make_trader(db, market, [])
    await again.open()
    assert again.portfolio.cash["AUD"] == cash
    assert again.portfolio.holdings("BTC", "AUD") == D("2")
    assert [o.client_id for o in again.broker.working()] == [resting.order.client_id]
    cancelled = await again.cancel(resting.order.client_id)
    assert cancelled.state is OrderState.CANCELLED
    with pytest.raises(TradingError, match="nothing to cancel"):
        await again.cancel(resting.order.client_id)


async def test_the_kill_switch_halts_orders_across_a_restart_and_cancels_all(
    db: Database,
) -> None:
    market, events = Market(), []
    trader = make_trader(db, market, events)
    await trader.open()
    resting = await trader.place(buy("1", "95"))
    await trader.set_kill_switch(True, cancel_all=True, reason="test")
    assert any(isinstance(e, TradingEvent) and e.kill_switch for e in events)
    cancelled = await trader.store.order(resting.order.client_id)
    assert cancelled is not None and cancelled.state is OrderState.CANCELLED

    restarted = make_trader(db, market, [])
    await restarted.open()
    assert restarted.kill_switch
    refused = await restarted.place(buy("1"))
    assert refused.decision is not None and refused.decision.rule == "kill_switch"
    await restarted.set_kill_switch(False)
    assert (await restarted.place(buy("1"))).order.state is OrderState.FILLED


async def test_an_order_left_new_by_a_crash_is_settled_not_resent(db: Database) -> None:
    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    from engine.trading.model import Order, OrderType

    stranded = Order(
        "stranded-1",
        "sim",
        "BTC/AUD",
        Side.BUY,
        OrderType.MARKET,
        D("1"),
        None,
        Origin.MANUAL,
        "paper",
        T0,
        T0,
    )
    await trader.store.save_order(stranded)
    restarted = make_trader(db, market, [])
    await restarted.open()
    settled = await restarted.store.order("stranded-1")
    assert settled is not None and settled.state is OrderState.REJECTED
    assert "stopped before sending" in (settled.reason or "")
    assert not await restarted.store.fills("paper:sim")


async def test_marks_record_the_equity_curve_and_the_days_start(db: Database) -> None:
    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    await trader.place(buy("10"))
    await trader.record_mark()
    market.now += timedelta(minutes=1)
    market.set_book("BTC/AUD", bid="109", ask="111")
    await trader.record_mark()
    curve = await trader.store.marks("paper:sim")
    assert [ts for ts, _ in curve] == [T0, T0 + timedelta(minutes=1)]
    assert curve[1][1] - curve[0][1] == D("10") * (D("110") - D("100"))
    assert trader.portfolio_event().day_pnl == curve[1][1] - curve[0][1]


async def test_preview_changes_nothing(db: Database) -> None:
    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    decision, execution = await trader.preview(buy("6"))
    assert decision.allowed
    assert execution is not None
    assert [f.price for f in execution.fills] == [D("101"), D("102")]
    assert not await trader.store.orders("paper:sim")
    assert not await trader.store.decisions()
    assert trader.portfolio.cash["AUD"] == D("10000")


async def test_the_audit_is_a_table_to_browse_and_export(db: Database) -> None:
    import io
    import json

    from engine.exports import write_table
    from ledgers import queries

    trader = make_trader(db, Market(), [])
    await trader.open()
    await trader.place(buy("0.00001"))
    await trader.place(buy("1.5"))
    columns, rows = await queries.browse(db, "risk_decisions", search="steps of")
    assert len(rows) == 1
    row = dict(zip(columns, rows[0], strict=True))
    assert row["rule"] == "precision" and row["quantity"] == D("0.00001")
    out = io.StringIO()
    assert await write_table(db, "fills", out, "jsonl") == 1
    fill = json.loads(out.getvalue())
    assert fill["quantity"] == "1.5" and fill["price"] == "101"


async def test_a_resting_limit_expires_when_its_time_runs_out(db: Database) -> None:
    from engine.trading.model import OrderInputError

    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    expires = T0 + timedelta(minutes=5)
    rested = await trader.place(OrderRequest.parse("BTC/AUD", "buy", "1", "95", expires_at=expires))
    assert rested.order.state is OrderState.OPEN
    assert trader.broker.reserved("AUD") > 0
    restarted = make_trader(db, market, [])  # the expiry is stored with the order
    await restarted.open()
    market.now = T0 + timedelta(minutes=4)
    assert await restarted.check_orders() == 0
    market.now = T0 + timedelta(minutes=5)
    assert await restarted.check_orders() == 1
    expired = await restarted.store.order(rested.order.client_id)
    assert expired is not None and expired.state is OrderState.EXPIRED
    assert expired.expires_at == expires and "expired at" in (expired.reason or "")
    assert restarted.broker.reserved("AUD") == 0
    with pytest.raises(OrderInputError, match="already past"):
        await restarted.place(OrderRequest.parse("BTC/AUD", "buy", "1", "95", expires_at=T0))
    with pytest.raises(OrderInputError, match="only a limit order"):
        OrderRequest.parse("BTC/AUD", "buy", "1", expires_at=expires)


async def test_orders_placed_in_the_same_instant_list_newest_first_as_placed(
    db: Database,
) -> None:
    # A clock that does not move between orders (a strategy's bracket, a simulated clock
    # nearly stopped): newest first is still the order they were placed in.
    market = Market()
    trader = make_trader(db, market, [])
    await trader.open()
    for client_id in ("omc-z1", "omc-a2", "omc-m3"):
        assert (await trader.place(buy("0.1", client_id=client_id))).accepted
    listed = await trader.store.orders("paper:sim")
    assert [o.client_id for o in listed] == ["omc-m3", "omc-a2", "omc-z1"]
    assert len({o.created_at for o in listed}) == 1
