"""Order-book arithmetic: which levels an order takes, and how far from the market it fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine.trading.matching import gross, opposite, slippage_bps, take, within
from engine.trading.model import Book, Side

D = Decimal
ASKS = ((D(101), D("0.5")), (D(102), D(1)), (D(103), D(2)))
BIDS = ((D(99), D(1)), (D(98), D(1)))


def test_an_order_trades_against_the_other_side_of_the_book() -> None:
    book = Book("BTC/AUD", datetime(2026, 1, 1, tzinfo=UTC), BIDS, ASKS)
    assert opposite(book, Side.BUY) == ASKS
    assert opposite(book, Side.SELL) == BIDS


@pytest.mark.parametrize(
    ("side", "price", "limit", "inside"),
    [
        (Side.BUY, D(101), None, True),
        (Side.BUY, D(101), D(101), True),
        (Side.BUY, D("101.01"), D(101), False),
        (Side.SELL, D(99), D(99), True),
        (Side.SELL, D("98.99"), D(99), False),
        (Side.SELL, D(1), None, True),
    ],
)
def test_a_level_is_within_a_limit_at_or_better_than_it(
    side: Side, price: Decimal, limit: Decimal | None, inside: bool
) -> None:
    assert within(side, price, limit) is inside


def test_take_walks_the_levels_best_first_and_stops_when_filled() -> None:
    assert take(ASKS, D(2), Side.BUY) == [(D(101), D("0.5")), (D(102), D(1)), (D(103), D("0.5"))]
    assert take(ASKS, D("0.5"), Side.BUY) == [(D(101), D("0.5"))]  # no empty take of 102
    assert take(ASKS, D("1.5"), Side.BUY) == [(D(101), D("0.5")), (D(102), D(1))]
    assert take(BIDS, D(5), Side.SELL) == list(BIDS)  # all there is
    assert take(ASKS, D(0), Side.BUY) == []


def test_take_stops_at_the_limit() -> None:
    assert take(ASKS, D(5), Side.BUY, D(102)) == [(D(101), D("0.5")), (D(102), D(1))]
    assert take(ASKS, D(5), Side.BUY, D("100.99")) == []
    assert take(BIDS, D(5), Side.SELL, D(99)) == [(D(99), D(1))]


def test_what_earlier_orders_used_is_not_taken_again() -> None:
    # 101 was used up and 102 half used by an earlier order on this same book.
    used = {D(101): D("0.5"), D(102): D("0.5")}
    assert take(ASKS, D(1), Side.BUY, used=used) == [(D(102), D("0.5")), (D(103), D("0.5"))]
    # A level used up yields no zero-quantity take, even when it is the only one in the limit.
    assert take(ASKS, D(1), Side.BUY, D(101), used) == []
    assert take(ASKS, D(1), Side.BUY, used={D(103): D(1)}) == [
        (D(101), D("0.5")),
        (D(102), D("0.5")),
    ]


def test_a_level_with_nothing_on_it_is_skipped() -> None:
    levels = ((D(101), D(0)), (D(102), D(1)))
    assert take(levels, D(1), Side.BUY) == [(D(102), D(1))]


def test_gross_adds_price_times_quantity_exactly() -> None:
    assert gross([(D("101.1"), D("0.3")), (D("0.00000001"), D(3))]) == D("30.33000003")
    assert gross([]) == 0 and isinstance(gross([]), Decimal)


@pytest.mark.parametrize(
    ("side", "price", "reference", "bps"),
    [
        (Side.BUY, D(101), D(100), D(100)),
        (Side.BUY, D(99), D(100), D(-100)),  # bought below the reference: an improvement
        (Side.SELL, D(99), D(100), D(100)),
        (Side.SELL, D(101), D(100), D(-100)),
        (Side.BUY, D(101), D("99.9"), D("110.1101")),  # to a hundredth of a basis point
        (Side.BUY, D(101), None, D(0)),  # nothing to measure from
    ],
)
def test_slippage_is_the_adverse_distance_from_the_reference_in_basis_points(
    side: Side, price: Decimal, reference: Decimal | None, bps: Decimal
) -> None:
    assert slippage_bps(side, price, reference) == bps
