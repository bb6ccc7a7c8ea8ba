"""The paper broker: market orders walk the book, limits rest and fill as maker, funds hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.trading.model import (
    ZERO,
    Book,
    Execution,
    Fill,
    MarketRules,
    Order,
    OrderState,
    OrderType,
    Origin,
    Side,
)
from engine.trading.paper import PaperBroker

D = Decimal
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SYMBOL = "BTC/AUD"
RULES = MarketRules(SYMBOL, taker_fee=D("0.002"), maker_fee=D("0.001"))
RICH = {"AUD": D(1_000_000), "BTC": D(1000)}


def broker() -> PaperBroker:
    return PaperBroker("sim", lambda symbol: RULES)


def order(side: str, qty: str, limit: str | None = None, cid: str = "o1") -> Order:
    return Order(
        client_id=cid,
        venue="sim",
        symbol=SYMBOL,
        side=Side(side),
        type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        quantity=D(qty),
        limit_price=None if limit is None else D(limit),
        origin=Origin.MANUAL,
        mode="paper",
        created_at=T0,
        updated_at=T0,
    )


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], at: datetime = T0) -> Book:
    return Book(
        SYMBOL, at, tuple((D(p), D(q)) for p, q in bids), tuple((D(p), D(q)) for p, q in asks)
    )


def funds(balances: dict[str, Decimal]) -> Callable[[str], Decimal]:
    return lambda currency: balances.get(currency, ZERO)


THREE_ASKS = book([("99", "1")], [("101", "0.5"), ("102", "1"), ("103", "2")])


def test_market_buy_walks_three_levels_with_exact_vwap_fees_and_slippage() -> None:
    ex = broker().submit(order("buy", "2"), THREE_ASKS, funds(RICH), T0)

    assert ex.order.state is OrderState.FILLED
    assert [(f.price, f.quantity) for f in ex.fills] == [
        (D("101"), D("0.5")),
        (D("102"), D("1")),
        (D("103"), D("0.5")),
    ]
    assert ex.order.cost == D("204") and ex.order.average_price == D("102")
    assert ex.order.fees == D("0.408") == sum(f.fee for f in ex.fills)
    assert [f.fee for f in ex.fills] == [D("0.101"), D("0.204"), D("0.103")]
    # Reference is the mid at submission, 100: each level is 1 % further away.
    assert [f.slippage_bps for f in ex.fills] == [D(100), D(200), D(300)]
    assert {f.liquidity for f in ex.fills} == {"taker"}
    assert all(f.ts == T0 and f.client_id == "o1" for f in ex.fills)


def test_market_sell_walks_the_bids_and_reports_adverse_slippage() -> None:
    b = book([("99", "1"), ("98", "1")], [("101", "1")])
    ex = broker().submit(order("sell", "1.5"), b, funds(RICH), T0)

    assert ex.order.state is OrderState.FILLED
    assert [(f.price, f.quantity) for f in ex.fills] == [(D(99), D(1)), (D(98), D("0.5"))]
    assert [f.slippage_bps for f in ex.fills] == [D(100), D(200)]
    assert sum(f.cash_delta for f in ex.fills) == D("148") - D("0.296")


def test_market_order_that_outruns_the_depth_is_partly_filled_then_cancelled() -> None:
    b = book([], [("101", "0.5"), ("102", "1")])
    ex = broker().submit(order("buy", "2"), b, funds(RICH), T0)

    assert ex.order.state is OrderState.CANCELLED
    assert ex.order.filled == D("1.5") and len(ex.fills) == 2
    assert ex.order.reason == "book depth ran out after 1.5 of 2"


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_market_order_on_an_empty_side_is_rejected(side: str) -> None:
    ex = broker().submit(order(side, "1"), book([], []), funds(RICH), T0)

    assert ex.order.state is OrderState.REJECTED
    assert ex.order.reason == "no liquidity on the book"
    assert ex.fills == ()


def test_market_buy_beyond_the_cash_is_rejected_without_any_fill() -> None:
    ex = broker().submit(order("buy", "2"), THREE_ASKS, funds({"AUD": D("204.4")}), T0)

    assert ex.order.state is OrderState.REJECTED
    assert ex.order.reason == "insufficient AUD: needs 204.408, available 204.4"
    assert ex.fills == () and ex.order.filled == ZERO


def test_market_buy_with_exactly_enough_cash_fills() -> None:
    ex = broker().submit(order("buy", "2"), THREE_ASKS, funds({"AUD": D("204.408")}), T0)

    assert ex.order.state is OrderState.FILLED
    assert sum(f.cash_delta for f in ex.fills) == D("-204.408")


def test_sell_of_more_than_is_held_is_rejected() -> None:
    ex = broker().submit(order("sell", "1"), THREE_ASKS, funds({"BTC": D("0.5")}), T0)

    assert ex.order.state is OrderState.REJECTED
    assert ex.order.reason == "insufficient BTC: needs 1, available 0.5"
    assert ex.fills == ()


def test_limit_buy_funds_are_checked_at_the_dearer_fee() -> None:
    # 1 × 100 × (1 + 0.002): the taker fee is the dearer one here.
    short = broker().submit(order("buy", "1", "100"), THREE_ASKS, funds({"AUD": D("100.1")}), T0)
    enough = broker().submit(order("buy", "1", "100"), THREE_ASKS, funds({"AUD": D("100.2")}), T0)

    assert short.order.state is OrderState.REJECTED
    assert short.order.reason == "insufficient AUD: needs 100.2, available 100.1"
    assert enough.order.state is OrderState.OPEN


def test_limit_buy_takes_what_crosses_and_rests_the_rest_with_funds_reserved() -> None:
    b = broker()
    ex = b.submit(order("buy", "2", "101.5"), THREE_ASKS, funds(RICH), T0)

    assert ex.order.state is OrderState.PARTIALLY_FILLED
    assert [(f.price, f.quantity, f.liquidity) for f in ex.fills] == [(D("101"), D("0.5"), "taker")]
    assert ex.fills[0].fee == D("0.101")
    assert b.working() == [ex.order]
    assert b.reserved("AUD") == D("1.5") * D("101.5") * D("1.001")
    assert b.reserved("BTC") == ZERO


def test_limit_that_does_not_cross_rests_open_and_sell_reserves_base() -> None:
    b = broker()
    ex = b.submit(order("sell", "0.75", "110"), THREE_ASKS, funds(RICH), T0)

    assert ex.order.state is OrderState.OPEN and ex.fills == ()
    assert b.reserved("BTC") == D("0.75")
    assert b.reserved("AUD") == ZERO


def test_limit_that_crosses_fully_fills_and_does_not_rest() -> None:
    b = broker()
    ex = b.submit(order("buy", "1", "102"), THREE_ASKS, funds(RICH), T0)

    assert ex.order.state is OrderState.FILLED
    assert ex.order.cost == D("0.5") * 101 + D("0.5") * 102
    assert b.working() == [] and b.reserved("AUD") == ZERO


def test_resting_limit_fills_as_maker_when_later_books_cross_it() -> None:
    b = broker()
    placed = b.submit(order("buy", "2", "100"), THREE_ASKS, funds(RICH), T0)
    assert placed.order.state is OrderState.OPEN

    t1 = T0 + timedelta(seconds=5)
    crossing = book([("98", "1")], [("99.5", "0.5"), ("100", "0.7"), ("100.5", "5")], t1)
    (first,) = b.on_book(crossing, t1)

    (fill,) = first.fills
    assert (fill.price, fill.quantity, fill.liquidity) == (D(100), D("1.2"), "maker")
    assert fill.fee == D("0.12") and fill.slippage_bps == ZERO and fill.ts == t1
    assert first.order.state is OrderState.PARTIALLY_FILLED
    assert b.reserved("AUD") == D("0.8") * D(100) * D("1.001")

    t2 = t1 + timedelta(seconds=5)
    (second,) = b.on_book(book([], [("99", "3")], t2), t2)
    assert second.order.state is OrderState.FILLED
    assert second.fills[0].quantity == D("0.8") and second.fills[0].price == D(100)
    assert second.order.fees == D("0.2")
    assert [first.fills[0].fill_id, second.fills[0].fill_id] == ["o1:1.2", "o1:2"]
    assert b.working() == [] and b.reserved("AUD") == ZERO


def test_resting_sell_fills_when_bids_rise_to_it() -> None:
    b = broker()
    b.submit(order("sell", "1", "105"), THREE_ASKS, funds(RICH), T0)
    (ex,) = b.on_book(book([("106", "0.4"), ("105", "2")], [("107", "1")]), T0)

    assert ex.order.state is OrderState.FILLED
    assert ex.fills[0].price == D(105) and ex.fills[0].fee == D("0.105")
    assert b.reserved("BTC") == ZERO


def test_book_that_does_not_cross_or_is_another_symbol_changes_nothing() -> None:
    b = broker()
    b.submit(order("buy", "1", "100"), THREE_ASKS, funds(RICH), T0)
    other = Book("ETH/AUD", T0, (), ((D(1), D(10)),))

    assert b.on_book(THREE_ASKS, T0) == []
    assert b.on_book(other, T0) == []
    assert b.working()[0].state is OrderState.OPEN


def test_resting_orders_share_one_books_liquidity_best_price_first() -> None:
    b = broker()
    b.submit(order("buy", "1", "100", cid="low"), THREE_ASKS, funds(RICH), T0)
    b.submit(order("buy", "1", "100.5", cid="high"), THREE_ASKS, funds(RICH), T0)
    out = b.on_book(book([], [("100", "1.5")]), T0)

    filled = {ex.order.client_id: ex.order.filled for ex in out}
    assert filled == {"high": D(1), "low": D("0.5")}
    assert [o.client_id for o in b.working()] == ["low"]


def test_a_level_used_up_by_a_better_resting_order_gives_the_next_one_no_fill() -> None:
    b = broker()
    b.submit(order("buy", "1", "100", cid="low"), THREE_ASKS, funds(RICH), T0)
    b.submit(order("buy", "1", "100.5", cid="high"), THREE_ASKS, funds(RICH), T0)
    out = b.on_book(book([], [("100", "1"), ("100.5", "2")]), T0)

    # "high" sees the book first and takes all of 100 (filling at its limit, as maker); for
    # "low" that level is used up and 100.5 is past its limit: no fill, not an empty one.
    assert [(ex.order.client_id, [(f.price, f.quantity) for f in ex.fills]) for ex in out] == [
        ("high", [(D("100.5"), D(1))])
    ]
    assert all(f.quantity > 0 for ex in out for f in ex.fills)
    assert [o.client_id for o in b.working()] == ["low"]


def test_a_used_up_level_is_passed_over_for_the_next_within_the_limit() -> None:
    b = broker()
    b.submit(order("buy", "1", "100.5", cid="best"), THREE_ASKS, funds(RICH), T0)
    b.submit(order("buy", "2", "100.2", cid="next"), THREE_ASKS, funds(RICH), T0)
    out = b.on_book(book([], [("100", "1"), ("100.1", "1"), ("100.2", "5")]), T0)

    filled = {ex.order.client_id: (ex.fills[0].quantity, ex.fills[0].price) for ex in out}
    assert filled == {"best": (D(1), D("100.5")), "next": (D(2), D("100.2"))}


def test_a_market_order_on_a_one_sided_book_reports_slippage_from_the_best_price() -> None:
    ex = broker().submit(
        order("buy", "1.5"), book([], [("101", "0.5"), ("102", "1")]), funds(RICH), T0
    )

    assert [f.slippage_bps for f in ex.fills] == [D(0), D("99.0099")]
    sold = broker().submit(
        order("sell", "1.5"), book([("99", "1"), ("98", "1")], []), funds(RICH), T0
    )
    assert [f.slippage_bps for f in sold.fills] == [D(0), D("101.0101")]


def test_cancel_releases_the_reservation_and_unknown_ids_return_none() -> None:
    b = broker()
    b.submit(order("buy", "1", "100"), THREE_ASKS, funds(RICH), T0)
    ex = b.cancel("o1", T0, reason="user cancelled")

    assert ex is not None and ex.order.state is OrderState.CANCELLED
    assert ex.order.reason == "user cancelled"
    assert b.working() == [] and b.reserved("AUD") == ZERO
    assert b.cancel("o1", T0) is None
    assert b.cancel("nope", T0) is None


def test_cancel_all_cancels_every_resting_order_with_the_reason() -> None:
    b = broker()
    b.submit(order("buy", "1", "100", cid="a"), THREE_ASKS, funds(RICH), T0)
    b.submit(order("sell", "1", "110", cid="b"), THREE_ASKS, funds(RICH), T0)
    out = b.cancel_all(T0, "kill switch")

    assert sorted(ex.order.client_id for ex in out) == ["a", "b"]
    assert all(ex.order.state is OrderState.CANCELLED for ex in out)
    assert {ex.order.reason for ex in out} == {"kill switch"}
    assert b.working() == [] and b.reserved("AUD") == b.reserved("BTC") == ZERO


def test_working_filters_by_symbol() -> None:
    b = broker()
    b.submit(order("buy", "1", "100"), THREE_ASKS, funds(RICH), T0)

    assert [o.client_id for o in b.working(SYMBOL)] == ["o1"]
    assert b.working("ETH/AUD") == []


def test_fill_ids_are_deterministic_across_replays_and_unique() -> None:
    first = broker().submit(order("buy", "2"), THREE_ASKS, funds(RICH), T0)
    replay = broker().submit(order("buy", "2"), THREE_ASKS, funds(RICH), T0)

    ids = [f.fill_id for f in first.fills]
    assert ids == ["o1:0.5", "o1:1.5", "o1:2"]
    assert ids == [f.fill_id for f in replay.fills]
    assert len(set(ids)) == len(ids)


def test_restore_after_a_restart_keeps_reservations_and_fill_ids_going() -> None:
    before = broker()
    placed = before.submit(order("buy", "2", "101.5"), THREE_ASKS, funds(RICH), T0)

    after = broker()
    after.restore([placed.order])
    assert after.working() == [placed.order]
    assert after.reserved("AUD") == before.reserved("AUD")

    (ex,) = after.on_book(book([], [("101", "5")]), T0)
    assert ex.order.state is OrderState.FILLED
    assert ex.fills[0].fill_id == "o1:2" and ex.fills[0].quantity == D("1.5")


def test_restore_refuses_an_order_that_is_not_working() -> None:
    done = broker().submit(order("buy", "2"), THREE_ASKS, funds(RICH), T0).order
    with pytest.raises(ValueError, match="not a working limit order"):
        broker().restore([done])


def test_a_symbol_the_venue_does_not_list_is_rejected() -> None:
    b = PaperBroker("sim", lambda symbol: None)
    ex = b.submit(order("buy", "1"), THREE_ASKS, funds(RICH), T0)

    assert ex.order.state is OrderState.REJECTED
    assert ex.order.reason == "BTC/AUD is not traded on sim"


def test_resting_orders_keep_their_funds_while_the_venue_rules_are_missing() -> None:
    listed: dict[str, MarketRules] = {}
    b = PaperBroker("sim", listed.get)
    b.restore([broker().submit(order("buy", "1", "100"), THREE_ASKS, funds(RICH), T0).order])

    assert b.reserved("AUD") == D("100.1")  # the model's default maker fee, 0.1 %
    (ex,) = b.on_book(book([], [("100", "1")]), T0)
    assert ex.order.state is OrderState.FILLED and ex.fills[0].fee == D("0.1")


def test_submitting_twice_or_an_order_already_past_new_is_refused() -> None:
    b = broker()
    placed = b.submit(order("buy", "1", "100"), THREE_ASKS, funds(RICH), T0)
    with pytest.raises(ValueError, match="not new"):
        b.submit(placed.order, THREE_ASKS, funds(RICH), T0)
    with pytest.raises(ValueError, match="already working"):
        b.submit(order("buy", "1", "100"), THREE_ASKS, funds(RICH), T0)


# -- properties over random order flow ---------------------------------------------------

prices = st.integers(min_value=900, max_value=1100).map(lambda n: D(n) / 10)
sizes = st.integers(min_value=1, max_value=300).map(lambda n: D(n) / 100)


@st.composite
def books(draw: st.DrawFn) -> Book:
    mid = draw(st.integers(min_value=950, max_value=1050))
    bid_gaps = draw(st.lists(st.integers(1, 40), max_size=4, unique=True))
    ask_gaps = draw(st.lists(st.integers(1, 40), max_size=4, unique=True))
    bids = tuple((D(mid - g) / 10, draw(sizes)) for g in sorted(bid_gaps))
    asks = tuple((D(mid + g) / 10, draw(sizes)) for g in sorted(ask_gaps))
    return Book(SYMBOL, T0, bids, asks)


actions = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["buy", "sell"]), sizes, st.none()),
    st.tuples(st.just("limit"), st.sampled_from(["buy", "sell"]), sizes, prices),
    st.tuples(st.just("book"), books(), st.none(), st.none()),
    st.tuples(st.just("cancel"), st.integers(0, 30), st.none(), st.none()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=books(),
    steps=st.lists(actions, max_size=30),
    cash=st.integers(0, 3000),
    coins=st.integers(0, 30),
)
def test_random_order_flow_keeps_orders_funds_and_reservations_consistent(
    first: Book, steps: list[tuple[object, object, object, object]], cash: int, coins: int
) -> None:
    b = broker()
    balances = {"AUD": D(cash), "BTC": D(coins)}
    orders: dict[str, Order] = {}
    fills: dict[str, list[Fill]] = {}
    current = first

    def available(currency: str) -> Decimal:
        return balances[currency] - b.reserved(currency)

    def apply(ex: Execution) -> None:
        orders[ex.order.client_id] = ex.order
        for f in ex.fills:
            fills.setdefault(f.client_id, []).append(f)
            balances["AUD"] += f.cash_delta
            balances["BTC"] += f.quantity if f.side is Side.BUY else -f.quantity
            if ex.order.limit_price is not None:
                better = f.price <= ex.order.limit_price
                assert better if f.side is Side.BUY else f.price >= ex.order.limit_price

    for n, (kind, a, qty, limit) in enumerate(steps):
        at = T0 + timedelta(seconds=n)
        if kind == "book":
            assert isinstance(a, Book)
            current = a
            for ex in b.on_book(a, at):
                apply(ex)
        elif kind == "cancel":
            ids = list(orders)
            ex_ = b.cancel(ids[int(str(a)) % len(ids)], at) if ids else None
            if ex_ is not None:
                apply(ex_)
        else:
            price = None if limit is None else str(limit)
            o = order(str(a), str(qty), price, cid=f"c{n}")
            apply(b.submit(o, current, available, at))
        for currency in ("AUD", "BTC"):
            assert balances[currency] >= 0, "a balance went negative"
            assert b.reserved(currency) >= 0
            assert available(currency) >= 0, "more reserved than held"

    all_ids = [f.fill_id for fs in fills.values() for f in fs]
    assert len(all_ids) == len(set(all_ids))
    for cid, o in orders.items():
        mine = fills.get(cid, [])
        assert ZERO <= o.filled <= o.quantity
        assert sum((f.quantity for f in mine), ZERO) == o.filled
        assert sum((f.gross for f in mine), ZERO) == o.cost
        assert sum((f.fee for f in mine), ZERO) == o.fees
    resting = {cid for cid, o in orders.items() if o.state.working}
    assert {o.client_id for o in b.working()} == resting
    if not resting:
        assert b.reserved("AUD") == ZERO and b.reserved("BTC") == ZERO
