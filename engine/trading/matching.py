"""Pure order-book arithmetic for the paper broker: which levels an order takes, at what cost.

Nothing here holds state or rounds: every quantity and price is the exact ``Decimal`` it came
in as, so the broker's fills add up to the order's totals to the last digit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from engine.trading.model import ZERO, Book, Side

Level = tuple[Decimal, Decimal]  # (price, quantity)

_BPS = Decimal(10000)


def opposite(book: Book, side: Side) -> tuple[Level, ...]:
    """The levels an order of ``side`` trades against: asks for a buy, bids for a sell."""
    return book.asks if side is Side.BUY else book.bids


def within(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    """Whether a level at ``price`` is at or better than ``limit`` for an order of ``side``."""
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


def take(
    levels: Sequence[Level],
    quantity: Decimal,
    side: Side,
    limit: Decimal | None = None,
    used: Mapping[Decimal, Decimal] | None = None,
) -> list[Level]:
    """Walk ``levels`` best first and take up to ``quantity`` at prices within ``limit``.

    ``used`` is what earlier orders already took from each price level of this same book.
    """
    taken: list[Level] = []
    left = quantity
    for price, size in levels:
        if left <= ZERO or not within(side, price, limit):
            break
        if used:
            size -= used.get(price, ZERO)
        if size <= ZERO:
            continue
        qty = size if size < left else left
        taken.append((price, qty))
        left -= qty
    return taken


def gross(taken: Sequence[Level]) -> Decimal:
    """Sum of price × quantity over the taken levels."""
    return sum((price * qty for price, qty in taken), ZERO)


def slippage_bps(side: Side, price: Decimal, reference: Decimal | None) -> Decimal:
    """Adverse distance of ``price`` from ``reference`` in basis points (negative: improvement)."""
    if not reference:
        return ZERO
    move = price - reference if side is Side.BUY else reference - price
    # A reported measure, not money: a hundredth of a basis point is finer than any venue.
    return (move / reference * _BPS).quantize(Decimal("0.0001"))
