"""Number formatting shared by the desk's panes."""

from __future__ import annotations

from decimal import Decimal

from engine import numbers


def price(value: float | None) -> str:
    """A price with as many decimals as its magnitude deserves."""
    if value is None:
        return "—"
    a = abs(value)
    if a >= 1000:
        return f"{value:,.2f}"
    if a >= 1:
        return f"{value:,.4f}"
    if a >= 0.01:
        return f"{value:.5f}"
    return f"{value:.8f}"


def compact(value: float | None) -> str:
    """1234567 → 1.23M."""
    if value is None:
        return "—"
    a = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{value / limit:.2f}{suffix}"
    return f"{value:.0f}" if a >= 10 else f"{value:.2f}"


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}%"


# -- exact amounts (the trading book is kept in Decimal; engine.numbers formats them) --------


def qty(value: Decimal | None) -> str:
    """A quantity exactly as held, without trailing zeros: 0.01, 1,500."""
    if value is None:
        return "—"
    return numbers.exact(value, grouping=True)


def money(value: Decimal | None, *, signed: bool = False) -> str:
    """An amount of the quote currency in cents; amounts under a cent keep their digits."""
    if value is None:
        return "—"
    return numbers.money(value, signed=signed, grouping=True)


def exact_price(value: Decimal | None) -> str:
    """A price with the decimals its magnitude deserves, trailing zeros past cents trimmed."""
    if value is None:
        return "—"
    return numbers.price(value, grouping=True)


def bps(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} bps"


def pnl_style(value: Decimal | None) -> str:
    """Green for a gain, red for a loss, plain for none."""
    if not value:
        return ""
    return "green" if value > 0 else "red"
