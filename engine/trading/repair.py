"""``omc book check`` and ``omc book repair``: read a book whole, name what is wrong with it,
and apply only the fixes that are safe, each written down in the book's repair log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.trading.books import split_book, state_key
from engine.trading.integrity import BookFacts, Problem, check, recorded_order
from engine.trading.model import Order, OrderState, OrderType, Origin, Side
from engine.trading.portfolio import CostMethod
from engine.trading.store import BookWriter, TradingStore

REPAIRS = "repairs"  # the trading_state key (per book) of the repair log


async def read_facts(
    w: BookWriter,
    *,
    starting_cash: Decimal,
    quote: str,
    newest: datetime | None,
    resume: datetime | None,
    now: datetime,
) -> BookFacts:
    account = await w.get_state(state_key(w.book, "account"))
    cash = {c: Decimal(v) for c, v in (account or {}).get("cash", {}).items()}
    return BookFacts(
        book=w.book,
        cash=cash or {quote: starting_cash},
        orders=await w.orders(),
        fills=await w.fills(),
        decisions=[(d.id, d.client_id, d.allowed) for d in await w.decisions()],
        newest=newest,
        resume=resume,
        now=now,
    )


async def check_book(
    store: TradingStore, book: str, method: CostMethod, **facts: Any
) -> list[Problem]:
    async with store.writing(book) as w:  # the lock: nothing changes while the book is read
        return check(await read_facts(w, **facts), method)


async def repair_book(
    store: TradingStore,
    book: str,
    method: CostMethod,
    remember_clock: Callable[[datetime], None],
    **facts: Any,
) -> tuple[list[str], list[Problem]]:
    """Apply every safe fix in one transaction; returns what changed and what is left."""
    changed: list[str] = []
    async with store.writing(book) as w:
        known = await read_facts(w, **facts)
        problems = check(known, method)
        # What repair writes is stamped no earlier than anything in the book.
        now = max(t for t in (facts["now"], known.resume, known.newest) if t is not None)
        for problem in problems:
            if problem.repair is None:
                continue
            if problem.kind == "unreplayable":
                await w.resequence(recorded_order(known))
                changed.append(f"re-sequenced {len(known.fills)} fills in recorded order")
            elif problem.kind == "left_new":
                changed += await _settle_new(w, known, now)
            elif problem.kind == "orphan_decision":
                changed += await _settle_orphans(w, known, now)
            elif problem.kind == "clock_behind":
                changed.append(f"the simulated clock resumes at {now.isoformat()}")
        changed = list(dict.fromkeys(changed))  # one line per fix, even when found twice
        if changed:
            log = (await w.get_state(state_key(book, REPAIRS))) or {"entries": []}
            log["entries"].append({"at": now.isoformat(), "changes": changed})
            await w.set_state(state_key(book, REPAIRS), log, now)
        if changed and known.resume is not None:
            remember_clock(now)  # a simulated book: its clock goes on from here
        after = {**facts, "resume": now if known.resume is not None else None}
        left = [p for p in check(await read_facts(w, **after), method) if p.repair is None]
    return changed, left


async def _settle_new(w: BookWriter, facts: BookFacts, now: datetime) -> list[str]:
    done = []
    for order in facts.orders:
        if order.state is OrderState.NEW and order.mode == "paper":
            reason = "not sent: settled by omc book repair"
            await w.save_order(order.transition(OrderState.REJECTED, now, reason=reason))
            done.append(f"order {order.client_id} settled as not sent")
    return done


async def _settle_orphans(w: BookWriter, facts: BookFacts, now: datetime) -> list[str]:
    known = {o.client_id for o in facts.orders}
    done = []
    mode, market = split_book(w.book)
    for d in await w.decisions():
        if d.client_id is None or d.client_id in known:
            continue
        known.add(d.client_id)
        order = Order(
            client_id=d.client_id,
            venue=market,
            symbol=d.symbol,
            side=Side(d.side),
            type=OrderType.MARKET,  # never sent: its price was only the guard's estimate
            quantity=d.quantity,
            limit_price=None,
            origin=Origin(d.origin),
            mode=mode,
            created_at=d.at,
            updated_at=now,
        )
        reason = "not sent: the order path stopped after its decision (settled by omc book repair)"
        await w.save_order(replace(order, state=OrderState.REJECTED, reason=reason))
        done.append(f"decision {d.id}: order {d.client_id} stored as rejected, not sent")
    return done
