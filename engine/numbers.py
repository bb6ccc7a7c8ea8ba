"""Exact amounts shown to people: money to cents, prices and quantities to the venue's steps.

The command line, the order messages and the desk (``omc_tui.format``) share these. JSON keeps
the exact value instead (``exact``). Nothing here rounds the book: only what is printed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

CENT = Decimal("0.01")
MAX_PLACES = 8  # a quantity or price with no known step: satoshi precision, zeros trimmed
_WIDE = Context(prec=80)  # rounding for display never fails on a large amount


def exact(value: Decimal, *, grouping: bool = False) -> str:
    """Every digit the value has, without trailing zeros or exponent: 0.01, 1500."""
    value = _no_negative_zero(value).normalize()
    return f"{value:,f}" if grouping else f"{value:f}"


def money(value: Decimal, *, signed: bool = False, grouping: bool = False) -> str:
    """An amount of the quote currency in cents; an amount under a cent keeps its digits."""
    value = _no_negative_zero(value)
    sign = "+" if signed and value > 0 else ""
    if value and abs(value) < CENT:
        return f"{sign}{value.normalize():f}"
    return f"{sign}{value:,.2f}" if grouping else f"{sign}{value:.2f}"


def price(value: Decimal, step: Decimal | None = None, *, grouping: bool = False) -> str:
    """A price to the venue's tick, or with the decimals its magnitude deserves (at least cents)."""
    value = _no_negative_zero(value)
    if step is not None and step > 0:
        text = _fixed(value, _places(step), grouping)
    else:
        a = abs(value)
        places = 2 if a >= 1000 else 4 if a >= 1 else 5 if a >= CENT else MAX_PLACES
        text = _fixed(value, places, grouping)
    whole, dot, fraction = text.partition(".")
    if not dot:
        return whole
    return f"{whole}.{fraction.rstrip('0').ljust(min(2, len(fraction)), '0')}"


def quantity(value: Decimal, step: Decimal | None = None, *, grouping: bool = False) -> str:
    """A quantity to the instrument's amount step (or 8 decimals), trailing zeros trimmed."""
    value = _no_negative_zero(value)
    places = _places(step) if step is not None and step > 0 else MAX_PLACES
    text = _fixed(value, places, grouping)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _places(step: Decimal) -> int:
    return max(0, -int(step.normalize().as_tuple().exponent))


def _fixed(value: Decimal, places: int, grouping: bool) -> str:
    rounded = _no_negative_zero(value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN, _WIDE))
    return f"{rounded:,.{places}f}" if grouping else f"{rounded:.{places}f}"


def _no_negative_zero(value: Decimal) -> Decimal:
    return abs(value) if value.is_zero() else value


def count(n: int, noun: str) -> str:
    """ "1 row", "2 rows", "1,500 candles": a count with its noun in the right number."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
