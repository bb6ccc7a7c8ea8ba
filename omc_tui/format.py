"""Number formatting shared by the desk's panes."""

from __future__ import annotations


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
