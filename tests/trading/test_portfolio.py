"""The portfolio: cash and lots under fills, exact to the last digit, FIFO and average cost."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.trading.model import ZERO, Fill, Side
from engine.trading.portfolio import CostMethod, InsufficientHoldings, Mark, Portfolio

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SYMBOLS = ("BTC/AUD", "ETH/AUD", "BTC/USDT")
START = {"AUD": D(10) ** 10, "USDT": D(10) ** 10}
EIGHT = D("0.00000001")
# Shares of a cost are rounded to 1e-18; a piece of an apportioned share is within two steps.
ROUNDING = D("2e-18")
_HOURS = itertools.count(1)  # fills made without a time are stamped an hour apart


def fill(
    fill_id: str,
    side: Side,
    quantity: str | Decimal,
    price: str | Decimal,
    fee: str | Decimal = "0",
    *,
    symbol: str = "BTC/AUD",
    at: datetime | None = None,
) -> Fill:
    return Fill(
        fill_id=fill_id,
        client_id=fill_id,
        venue="sim",
        symbol=symbol,
        side=side,
        quantity=D(quantity),
        price=D(price),
        fee=D(fee),
        liquidity="taker",
        ts=at or T0 + timedelta(hours=next(_HOURS)),
    )


def buy(fill_id: str, quantity: str, price: str, fee: str = "0", **kw: object) -> Fill:
    return fill(fill_id, Side.BUY, quantity, price, fee, **kw)  # type: ignore[arg-type]


def sell(fill_id: str, quantity: str, price: str, fee: str = "0", **kw: object) -> Fill:
    return fill(fill_id, Side.SELL, quantity, price, fee, **kw)  # type: ignore[arg-type]


@contextmanager
def exact() -> Iterator[None]:
    # The expectations are sums of many Decimals; they must not round either.
    with localcontext() as ctx:
        ctx.prec = 80
        yield


def state(p: Portfolio) -> tuple[object, ...]:
    return (
        p.cash,
        p.lots(),
        p.disposals,
        p.realized(),
        {s: p.realized(s) for s in p.symbols},
        p.fees_paid,
        p.symbols,
        p.positions({}),
        p.mark({}, "AUD"),
        p.mark({}, "USDT"),
    )


# -- random trading ---------------------------------------------------------------------


def amounts(low: str, high: str | Decimal) -> st.SearchStrategy[Decimal]:
    """Amounts with up to 8 decimals, small ones and ones using every digit up to ``high``."""
    lowest, highest = int(D(low) / EIGHT), int(D(high) / EIGHT)
    return st.one_of(
        st.decimals(min_value=D(low), max_value=D(high), places=8),
        st.integers(lowest, highest).map(lambda n: D(n) * EIGHT),
    )


@st.composite
def trading(draw: st.DrawFn) -> list[Fill]:
    """Buys and sells over three symbols; a sell never exceeds what is held."""
    held = dict.fromkeys(SYMBOLS, ZERO)
    fills = []
    for n in range(draw(st.integers(1, 25))):
        symbol = draw(st.sampled_from(SYMBOLS))
        side = Side.SELL if held[symbol] > 0 and draw(st.booleans()) else Side.BUY
        if side is Side.SELL:
            everything = st.just(held[symbol])
            quantity = draw(st.one_of(everything, amounts("0.00000001", held[symbol])))
            held[symbol] -= quantity
        else:
            quantity = draw(amounts("0.00000001", "100"))
            held[symbol] += quantity
        price = draw(amounts("0.00000001", "100000"))
        rate = draw(st.decimals(min_value=0, max_value=D("0.01"), places=4))
        fee = (price * quantity * rate).quantize(EIGHT, rounding=ROUND_DOWN)
        # Times are drawn regardless of order, so fills often arrive after younger ones.
        at = T0 + timedelta(minutes=draw(st.integers(0, 10_000)))
        fills.append(fill(f"f{n}", side, quantity, price, fee, symbol=symbol, at=at))
    return fills


METHODS = pytest.mark.parametrize("method", list(CostMethod))
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(PROPERTY, max_examples=60)


@METHODS
@PROPERTY
@given(fills=trading())
def test_every_step_keeps_cash_quantities_cost_and_pnl_exact(
    method: CostMethod, fills: list[Fill]
) -> None:
    p = Portfolio(START, method)
    done: list[Fill] = []
    for f in fills:
        pooled = p.positions({})
        disposals = p.apply(f)
        done.append(f)
        with exact():
            if f.side is Side.SELL:
                assert sum(d.quantity for d in disposals) == f.quantity
                assert sum(d.proceeds for d in disposals) == f.gross - f.fee
                if method is CostMethod.AVERAGE:
                    before = next(x for x in pooled if x.symbol == f.symbol)
                    for d in disposals:
                        assert abs(d.cost_base - before.average_cost * d.quantity) <= ROUNDING
                else:
                    # FIFO: nothing left open is older than what this sell consumed.
                    newest_sold = max(d.acquired_at for d in disposals)
                    lots = [x for x in p.lots(f.base) if x.quote == f.quote]
                    assert all(lot.acquired_at >= newest_sold for lot in lots)
            else:
                assert disposals == ()

            for quote, start in START.items():
                spent = sum(x.cash_delta for x in done if x.quote == quote)
                assert p.cash[quote] == start + spent
                assert p.cash[quote] >= 0
            for symbol in SYMBOLS:
                asset, quote = symbol.split("/")
                mine = [x for x in done if x.symbol == symbol]
                lots = [x for x in p.lots(asset) if x.quote == quote]
                gone = [d for d in p.disposals if d.asset == asset and d.quote == quote]
                bought = sum(x.quantity for x in mine if x.side is Side.BUY)
                sold = sum(x.quantity for x in mine if x.side is Side.SELL)
                assert p.holdings(asset, quote) == sum(x.quantity for x in lots) == bought - sold
                buy_cost = sum(x.gross + x.fee for x in mine if x.side is Side.BUY)
                assert sum(x.cost for x in lots) + sum(d.cost_base for d in gone) == buy_cost
                assert all(x.quantity > 0 and x.cost >= 0 for x in lots)
                net = sum(x.gross - x.fee for x in mine if x.side is Side.SELL)
                assert p.realized(symbol) == net - sum(d.cost_base for d in gone)
            assert p.realized() == sum(d.gain for d in p.disposals)
            assert all(d.cost_base >= 0 and d.proceeds >= 0 for d in p.disposals)
            assert p.fees_paid == sum(x.fee for x in done)
            for position in p.positions({}):
                lots = [x for x in p.lots(position.asset) if x.quote == position.quote]
                assert position.cost == sum(x.cost for x in lots)
                assert position.quantity > 0
            if method is CostMethod.AVERAGE:
                for position in p.positions({}):
                    for lot in p.lots(position.asset):
                        if lot.quote == position.quote:
                            pooled_cost = position.average_cost * lot.quantity
                            assert abs(lot.cost - pooled_cost) <= ROUNDING


@METHODS
@FEWER
@given(fills=trading())
def test_replay_and_repeated_fills_rebuild_the_same_state(
    method: CostMethod, fills: list[Fill]
) -> None:
    p = Portfolio(START, method)
    for f in fills:
        p.apply(f)
    assert state(Portfolio.replay(fills, START, method)) == state(p)
    before = state(p)
    for f in fills:
        assert p.apply(f) == ()
    assert state(p) == before


@METHODS
@FEWER
@given(fills=trading(), symbol=st.sampled_from(SYMBOLS))
def test_refused_fills_change_nothing(method: CostMethod, fills: list[Fill], symbol: str) -> None:
    p = Portfolio(START, method)
    for f in fills:
        p.apply(f)
    before = state(p)
    asset, quote = symbol.split("/")
    too_much = p.holdings(asset, quote) + EIGHT
    with pytest.raises(InsufficientHoldings):
        p.apply(sell("over", str(too_much), "1", symbol=symbol))
    cash = p.cash[quote]
    with pytest.raises(InsufficientHoldings):
        p.apply(buy("dear", "1", str(cash), str(EIGHT), symbol=symbol))
    assert state(p) == before
    # A refused fill is not remembered: the same id may be booked once it is affordable.
    p.apply(buy("dear", "1", str(cash), symbol=symbol))
    assert p.cash[quote] == 0


# -- hand-checked ------------------------------------------------------------------------


def test_fifo_sell_takes_the_oldest_lot_first_with_exact_cost_and_proceeds() -> None:
    p = Portfolio({"AUD": D(1000)})
    older, newer, sale = (
        buy("a", "1", "100", "1"),
        buy("b", "1", "200", "2"),
        sell("c", "1.5", "300", "3"),
    )
    p.apply(older)
    p.apply(newer)
    first, second = p.apply(sale)

    assert (first.lot_id, first.quantity, first.cost_base, first.proceeds) == ("a", 1, 101, 298)
    assert (second.lot_id, second.quantity, second.cost_base, second.proceeds) == (
        "b",
        D("0.5"),
        101,
        149,
    )
    assert first.gain == 197 and second.gain == 48
    assert (first.acquired_at, second.acquired_at) == (older.ts, newer.ts)
    assert first.disposed_at == second.disposed_at == sale.ts
    [rest] = p.lots()
    assert (rest.lot_id, rest.quantity, rest.cost) == ("b", D("0.5"), 101)
    assert p.cash == {"AUD": 1144}
    assert p.realized() == p.realized("BTC/AUD") == 245
    assert p.fees_paid == 6
    assert p.holdings("BTC", "AUD") == D("0.5")


def test_average_cost_pools_the_cost_but_keeps_each_lots_date() -> None:
    p = Portfolio({"AUD": D(1000)}, CostMethod.AVERAGE)
    older = buy("a", "1", "100", "1")
    p.apply(older)
    p.apply(buy("b", "1", "200", "2"))
    assert [lot.cost for lot in p.lots()] == [D("151.5"), D("151.5")]

    first, second = p.apply(sell("c", "1.5", "300", "3"))
    assert (first.lot_id, first.cost_base, first.proceeds) == ("a", D("151.5"), 298)
    assert (second.lot_id, second.cost_base, second.proceeds) == ("b", D("75.75"), 149)
    assert first.acquired_at == older.ts  # the discount clock is still the lot's own
    assert p.realized() == D("219.75")
    assert p.cash == {"AUD": 1144}

    p.apply(buy("d", "0.5", "400"))
    assert [(lot.lot_id, lot.quantity, lot.cost) for lot in p.lots()] == [
        ("b", D("0.5"), D("137.875")),
        ("d", D("0.5"), D("137.875")),
    ]


def test_thirds_leave_no_rounding_behind() -> None:
    p = Portfolio({"AUD": D(1000)})
    p.apply(buy("a", "3", "33.33333333", "0.00000001"))  # cost exactly 100
    [one] = p.apply(sell("b", "1", "50"))
    assert one.cost_base == D("33.333333333333333333")
    [two] = p.apply(sell("c", "2", "50"))
    assert two.cost_base == D("66.666666666666666667")
    assert one.cost_base + two.cost_base == 100
    assert p.realized() == 50 and p.lots() == []

    p.apply(buy("x1", "1", "10", symbol="ETH/AUD"))
    p.apply(buy("x2", "1", "10", symbol="ETH/AUD"))
    p.apply(buy("x3", "1", "10", symbol="ETH/AUD"))
    disposals = p.apply(sell("y", "3", "33.33333334", "0.00000002", symbol="ETH/AUD"))  # net 100
    pieces = [d.proceeds for d in disposals]
    assert pieces == [D("33.333333333333333333"), D("33.333333333333333334"), pieces[0]]
    assert sum(pieces) == 100


def test_lots_are_taken_by_acquisition_time_even_when_fills_arrive_late() -> None:
    p = Portfolio({"AUD": D(1000)})
    p.apply(buy("late", "1", "200", at=T0 + timedelta(days=2)))
    p.apply(buy("early", "1", "100", at=T0 + timedelta(days=1)))
    [d] = p.apply(sell("s", "1", "150", at=T0 + timedelta(days=3)))
    assert (d.lot_id, d.cost_base, d.gain) == ("early", 100, 50)


def test_symbols_quoted_differently_are_separate_holdings() -> None:
    p = Portfolio({"AUD": D(1000), "USDT": D(1000)})
    p.apply(buy("a", "1", "100", symbol="BTC/AUD"))
    p.apply(buy("b", "2", "60", symbol="BTC/USDT"))
    p.apply(buy("c", "1", "10", symbol="ETH/AUD"))
    with pytest.raises(InsufficientHoldings, match="only 1 held"):
        p.apply(sell("d", "2", "100", symbol="BTC/AUD"))
    p.apply(sell("e", "1", "70", symbol="BTC/USDT"))
    assert p.holdings("BTC", "AUD") == 1 and p.holdings("BTC", "USDT") == 1
    assert [lot.lot_id for lot in p.lots("BTC")] == ["a", "b"]
    assert p.cash == {"AUD": 890, "USDT": 950}
    assert p.realized("BTC/USDT") == 10 and p.realized("BTC/AUD") == 0
    with pytest.raises(InsufficientHoldings):
        p.apply(sell("f", "1", "10", symbol="SOL/AUD"))


def test_positions_list_open_symbols_with_their_marks() -> None:
    p = Portfolio({"AUD": D(1000)})
    p.apply(buy("a", "2", "100", "2", symbol="ETH/AUD"))
    p.apply(buy("b", "1", "50", symbol="ADA/AUD"))
    p.apply(sell("c", "1", "80", symbol="ADA/AUD"))
    p.apply(sell("d", "1", "150", "1", symbol="ETH/AUD"))
    assert p.symbols == ["ADA/AUD", "ETH/AUD"]  # ADA is closed but has realized PnL
    [position] = p.positions({"ETH/AUD": D(120)})
    assert (position.symbol, position.asset, position.quote) == ("ETH/AUD", "ETH", "AUD")
    assert (position.quantity, position.cost, position.realized) == (1, 101, 48)
    assert position.mark == 120 and position.unrealized == 19
    assert p.positions({})[0].mark is None


def test_mark_values_cash_and_positions_in_one_quote() -> None:
    p = Portfolio({"AUD": D(1000), "USDT": D(500)})
    p.apply(buy("a", "2", "100", "1", symbol="BTC/AUD"))  # cost 201
    p.apply(buy("b", "10", "5", symbol="XRP/AUD"))  # cost 50, no mark
    p.apply(buy("c", "1", "100", symbol="ETH/AUD"))
    p.apply(sell("d", "1", "130", symbol="ETH/AUD"))  # realized 30
    p.apply(buy("e", "1", "300", symbol="BTC/USDT"))

    m = p.mark({"BTC/AUD": D(150), "BTC/USDT": D(1)}, "AUD")
    assert m == Mark(
        at_quote="AUD",
        cash=D(779),
        market_value=D(350),  # 2 × 150 marked, plus XRP at its cost of 50
        unrealized=D(99),
        realized=D(30),
        equity=D(1129),
        unmarked=("XRP/AUD",),
    )
    usdt = p.mark({"BTC/USDT": D(280)}, "USDT")
    assert (usdt.cash, usdt.market_value, usdt.unrealized, usdt.equity) == (200, 280, -20, 480)
    assert usdt.realized == 0 and usdt.unmarked == ()
    assert p.mark({}, "EUR").equity == 0


def test_a_fill_is_booked_once() -> None:
    p = Portfolio({"AUD": D(1000)})
    f = buy("a", "1", "100", "1")
    p.apply(f)
    assert p.apply(f) == ()
    assert p.cash == {"AUD": 899} and len(p.lots()) == 1 and p.fees_paid == 1


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (buy("zero", "0", "100"), "fill zero: quantity must be above zero"),
        (buy("negative-fee", "1", "100", "-1"), "got quantity 1, price 100, fee -1"),
        (buy("negative-price", "1", "-1"), "got quantity 1, price -1, fee 0"),
        (buy("nan", "1", "NaN"), "fill nan: quantity must be above zero and price and fee finite"),
        (buy("snan", "sNaN", "100"), "got quantity sNaN, price 100, fee 0"),
        (buy("inf", "1", "100", "Infinity"), "got quantity 1, price 100, fee Infinity"),
        (
            fill("naive", Side.BUY, "1", "100", at=datetime(2025, 1, 1)),  # noqa: DTZ001
            "fill naive: timestamp 2025-01-01 00:00:00 has no time zone",
        ),
    ],
)
def test_unreadable_fills_are_rejected_by_name(bad: Fill, says: str) -> None:
    p = Portfolio({"AUD": D(1000)})
    with pytest.raises(ValueError, match=re.escape(says)):
        p.apply(bad)
    assert p.cash == {"AUD": 1000} and p.lots() == []


def test_a_sale_at_an_infinite_price_is_rejected_before_anything_changes() -> None:
    p = Portfolio({"AUD": D(1000)})
    p.apply(buy("a", "1", "100"))
    before = state(p)
    with pytest.raises(ValueError, match="fill s: quantity must be above zero"):
        p.apply(sell("s", "1", "Infinity"))
    assert state(p) == before


@pytest.mark.parametrize("amount", ["-1", "NaN", "-Infinity"])
def test_starting_cash_must_be_an_amount_not_below_zero(amount: str) -> None:
    with pytest.raises(
        ValueError,
        match=f"starting cash in AUD must be a finite amount not below zero, got {amount}",
    ):
        Portfolio({"USDT": D(1), "AUD": D(amount)})


def test_starting_with_no_or_little_cash_in_a_currency_is_fine() -> None:
    p = Portfolio({"AUD": D(0), "USDT": D("0.5")})
    assert p.cash == {"AUD": 0, "USDT": D("0.5")}
    assert p.realized() == 0 and isinstance(p.realized(), Decimal)


def test_a_buy_in_a_currency_never_held_is_refused_by_name() -> None:
    p = Portfolio({"AUD": D(1000)})
    with pytest.raises(InsufficientHoldings, match=r"^buy b costs 60 USDT; only 0 USDT in cash$"):
        p.apply(buy("b", "1", "60", symbol="BTC/USDT"))
    assert p.cash == {"AUD": 1000} and p.lots() == []
    with pytest.raises(
        InsufficientHoldings, match=r"^buy c costs 1001 AUD; only 1000 AUD in cash$"
    ):
        p.apply(buy("c", "1", "1000", "1"))


def test_a_fill_at_no_price_is_booked() -> None:
    p = Portfolio({"AUD": D(0)})
    p.apply(buy("gift", "1", "0"))
    [lot] = p.lots()
    assert (lot.lot_id, lot.asset, lot.quote, lot.quantity, lot.cost) == (
        "gift",
        "BTC",
        "AUD",
        1,
        0,
    )
    [d] = p.apply(sell("s", "1", "0"))
    assert (d.fill_id, d.lot_id, d.gain) == ("s", "gift", 0)
    assert p.cash == {"AUD": 0}


@pytest.mark.parametrize(("fee", "cash"), [("1", "0"), ("0.5", "0.5")])
def test_a_sale_whose_fee_leaves_little_or_no_cash_is_booked(fee: str, cash: str) -> None:
    p = Portfolio({"AUD": D(100)})
    p.apply(buy("a", "1", "100"))
    p.apply(sell("s", "1", "1", fee))
    assert p.cash == {"AUD": D(cash)}


def test_a_sale_whose_fee_is_more_than_its_proceeds_and_the_cash_is_refused() -> None:
    p = Portfolio({"AUD": D(100)})
    p.apply(buy("a", "1", "100"))
    with pytest.raises(
        InsufficientHoldings, match="^sell s: its fee 2 exceeds the proceeds and cash in AUD$"
    ):
        p.apply(sell("s", "1", "1", "2"))
    assert p.holdings("BTC", "AUD") == 1


def test_cash_is_kept_exactly_past_28_digits() -> None:
    p = Portfolio({"AUD": D(10) ** 21})
    p.apply(buy("a", "1", "0.00000001"))
    assert p.cash == {"AUD": D("999999999999999999999.99999999")}


def test_cost_shares_are_written_plainly_not_as_powers_of_ten() -> None:
    p = Portfolio({"AUD": D(1000)})
    p.apply(buy("a", "2", "10"))
    p.apply(buy("b", "2", "300", symbol="ETH/AUD"))
    [ten] = p.apply(sell("s", "1", "20"))
    [hundreds] = p.apply(sell("t", "1", "300", symbol="ETH/AUD"))
    assert (str(ten.cost_base), str(hundreds.cost_base)) == ("10", "300")
    assert [str(lot.cost) for lot in p.lots()] == ["10", "300"]


def test_average_cost_re_pools_the_lots_left_after_a_sale() -> None:
    p = Portfolio({"AUD": D(1000)}, CostMethod.AVERAGE)
    p.apply(buy("a", "2", "10"))
    p.apply(buy("b", "2", "0.3", "0.00000001"))
    p.apply(buy("c", "2", "33.33333333", "0.00000001"))
    [d] = p.apply(sell("s", "1", "50"))
    assert d.cost_base == D("14.544444446666666667")  # a sixth of 87.26666668
    # The 72.722222233333333333 left is spread over the lots afresh, by quantity; the lots
    # keep no rounding of their own from before the sale.
    assert [(lot.quantity, lot.cost) for lot in p.lots()] == [
        (1, D("14.544444446666666667")),
        (2, D("29.088888893333333333")),
        (2, D("29.088888893333333333")),
    ]


def test_two_positions_marked_in_one_quote_add_up() -> None:
    p = Portfolio({"AUD": D(1000)})
    p.apply(buy("a", "1", "100"))
    p.apply(buy("b", "2", "10", symbol="ETH/AUD"))
    p.apply(buy("c", "1", "5", symbol="XRP/AUD"))
    p.apply(sell("d", "1", "7", symbol="XRP/AUD"))
    p.apply(sell("e", "1", "13", symbol="ETH/AUD"))
    m = p.mark({"BTC/AUD": D(120), "ETH/AUD": D(12)}, "AUD")
    assert (m.market_value, m.unrealized, m.realized) == (132, 22, 5)
    assert (m.cash, m.equity) == (895, 1027)
    [btc, eth] = p.positions({})
    assert (btc.symbol, btc.realized, eth.symbol, eth.realized) == ("BTC/AUD", 0, "ETH/AUD", 3)


def test_replay_keeps_the_cost_method() -> None:
    fills = [buy("a", "1", "100"), buy("b", "1", "200"), sell("c", "1", "300")]
    p = Portfolio.replay(fills, {"AUD": D(1000)}, CostMethod.AVERAGE)
    assert p.method is CostMethod.AVERAGE
    assert [(lot.lot_id, lot.cost) for lot in p.lots()] == [("b", 150)]


def test_fifo_leaves_each_lot_its_own_cost_after_a_partial_sell() -> None:
    p = Portfolio({"AUD": D(1000)})
    p.apply(buy("a", "1", "100"))
    p.apply(buy("b", "1", "200"))
    [half] = p.apply(sell("c", "0.5", "300"))
    assert (half.lot_id, half.quantity, half.cost_base) == ("a", D("0.5"), 50)
    # FIFO never pools: the lots left keep their own costs, not an average of them.
    assert [(lot.quantity, lot.cost) for lot in p.lots()] == [(D("0.5"), 50), (1, 200)]

    first, second = p.apply(sell("d", "1", "300"))
    assert (first.lot_id, first.quantity, first.cost_base) == ("a", D("0.5"), 50)
    assert (second.lot_id, second.quantity, second.cost_base) == ("b", D("0.5"), 100)
    assert [(lot.lot_id, lot.quantity, lot.cost) for lot in p.lots()] == [("b", D("0.5"), 100)]


@METHODS
def test_buys_stamped_with_one_time_are_taken_in_the_order_they_were_booked(
    method: CostMethod,
) -> None:
    # The paper broker stamps every level of one order with one time; the levels are booked in
    # the order they filled, and the first disposal must take the first of them, whatever the ids.
    p = Portfolio({"AUD": D(1000)}, method)
    p.apply(buy("o1:2", "1", "100", at=T0))
    p.apply(buy("o1:1", "1", "200", at=T0))
    p.apply(buy("o1:3", "1", "300", at=T0))
    assert [lot.lot_id for lot in p.lots()] == ["o1:2", "o1:1", "o1:3"]
    [d] = p.apply(sell("s", "1", "250", at=T0 + timedelta(hours=1)))
    assert d.lot_id == "o1:2"
    if method is CostMethod.FIFO:
        assert d.cost_base == 100


def test_a_late_fill_goes_after_lots_of_its_own_time_and_before_younger_ones() -> None:
    p = Portfolio({"AUD": D(2000)})
    p.apply(buy("a", "1", "100", at=T0))
    p.apply(buy("c", "1", "300", at=T0 + timedelta(hours=2)))
    p.apply(buy("d", "1", "400", at=T0 + timedelta(hours=3)))
    p.apply(buy("b", "1", "200", at=T0 + timedelta(hours=1)))  # recorded last
    p.apply(buy("z", "1", "50", at=T0 - timedelta(hours=1)))  # older than every lot
    assert [lot.lot_id for lot in p.lots()] == ["z", "a", "b", "c", "d"]
