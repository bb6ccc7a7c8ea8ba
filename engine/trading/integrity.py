"""Keeping a book sound: replay what holds, and the crash points the order path passes.

A book that cannot be replayed in recorded order (a sell before the buy it sells, a fill the
cash could not pay) must never lock the trader out: the engine opens it with what is
consistent, takes no new orders, and says why; ``omc book check`` and ``omc book repair``
are the way out.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping
from decimal import Decimal

from engine.trading.model import Fill
from engine.trading.portfolio import CostMethod, InsufficientHoldings, Portfolio

CRASH_AT = "OMC_CRASH_AT"  # tests name a step of the order path to be killed at


def replay_what_holds(
    fills: Iterable[Fill], cash: Mapping[str, Decimal], method: CostMethod
) -> tuple[Portfolio, str | None]:
    """The portfolio from every fill in recorded order; a fill that cannot be applied is left
    out and the first such is named (None when the whole book replays)."""
    fills = list(fills)
    try:
        return Portfolio.replay(fills, cash, method), None
    except (InsufficientHoldings, ValueError):
        pass
    portfolio = Portfolio(cash, method)
    problem: str | None = None
    for fill in fills:
        try:
            portfolio.apply(fill)
        except (InsufficientHoldings, ValueError) as exc:
            problem = problem or f"fill {fill.fill_id} cannot be replayed: {exc}"
    return portfolio, problem


def checkpoint(step: str) -> None:
    """A step of the order path (decision, order, fills, portfolio): a test may kill the
    process right here to show that every crash point leaves a book that replays."""
    if os.environ.get(CRASH_AT) == step:
        os.kill(os.getpid(), signal.SIGKILL)
