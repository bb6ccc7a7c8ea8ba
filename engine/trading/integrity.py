"""Keeping a book sound: replay what holds, and the crash points the order path passes.

A book that cannot be replayed in recorded order (a sell before the buy it sells, a fill the
cash could not pay) must never lock the trader out: the engine opens it with what is
consistent, takes no new orders, and says why; ``omc book check`` and ``omc book repair``
are the way out.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from engine.trading.model import ZERO, Fill, Order, OrderState
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


# -- omc book check / repair ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency of a book; ``repair`` says how it is fixed safely, or None."""

    kind: str  # unreplayable | fills_mismatch | orphan_decision | left_new | clock_behind
    message: str
    repair: str | None = None


@dataclass(frozen=True, slots=True)
class BookFacts:
    """What ``check`` needs of a book, read in one go."""

    book: str
    cash: Mapping[str, Decimal]
    orders: Sequence[Order]
    fills: Sequence[Fill]  # in recorded order (the book's sequence)
    decisions: Sequence[tuple[int, str | None, bool]]  # (id, client id, allowed), oldest first
    newest: datetime | None  # the newest time stored on the book's market
    resume: datetime | None  # where a simulated clock would resume (None on the wall clock)
    now: datetime


def check(facts: BookFacts, method: CostMethod) -> list[Problem]:
    """Every inconsistency of a book, each with the safe repair when there is one."""
    problems: list[Problem] = []
    _, unreplayable = replay_what_holds(facts.fills, facts.cash, method)
    if unreplayable:
        reordered = recorded_order(facts)
        _, still = replay_what_holds(reordered, facts.cash, method)
        fix = None if still else "re-sequence the fills in the order their decisions were recorded"
        problems.append(Problem("unreplayable", unreplayable, fix))
    by_order: dict[str, list[Fill]] = {}
    for fill in facts.fills:
        by_order.setdefault(fill.client_id, []).append(fill)
    for order in facts.orders:
        made = by_order.get(order.client_id, [])
        filled = sum((f.quantity for f in made), ZERO)
        cost = sum((f.price * f.quantity for f in made), ZERO)
        fees = sum((f.fee for f in made), ZERO)
        if (filled, cost, fees) != (order.filled, order.cost, order.fees):
            problems.append(
                Problem(
                    "fills_mismatch",
                    f"order {order.client_id} says filled {order.filled}, cost {order.cost}, "
                    f"fees {order.fees}; its fills sum to {filled}, {cost}, {fees}",
                )
            )
        if order.state is OrderState.NEW:
            fix = "settle it as not sent" if order.mode == "paper" else None
            problems.append(
                Problem("left_new", f"order {order.client_id} was stored but never sent", fix)
            )
    known = {o.client_id for o in facts.orders}
    for decision_id, client_id, allowed in facts.decisions:
        if client_id is not None and client_id not in known:
            verdict = "allowed" if allowed else "refused"
            problems.append(
                Problem(
                    "orphan_decision",
                    f"decision {decision_id} {verdict} order {client_id}, which was never stored",
                    "store the order as rejected (not sent), so its client id cannot trade",
                )
            )
    if facts.newest is not None:
        clock = facts.resume if facts.resume is not None else facts.now
        if clock < facts.newest:
            where = "the simulated clock would resume" if facts.resume else "the clock reads"
            fix = (
                "remember the newest stored time as the simulated clock's" if facts.resume else None
            )
            problems.append(
                Problem(
                    "clock_behind",
                    f"{where} {clock.isoformat()}, before the book's newest {facts.newest.isoformat()}",
                    fix,
                )
            )
    return problems


def recorded_order(facts: BookFacts) -> list[Fill]:
    """Fills in the order their orders' risk decisions were recorded (the audit's ids only
    grow), then by time: funds and holdings were reserved when an order was decided."""
    first: dict[str, int] = {}
    for decision_id, client_id, _ in facts.decisions:
        if client_id is not None:
            first.setdefault(client_id, decision_id)
    position = {f.fill_id: i for i, f in enumerate(facts.fills)}
    late = len(facts.decisions) + 1
    return sorted(
        facts.fills,
        key=lambda f: (first.get(f.client_id, late), f.ts, position[f.fill_id]),
    )
