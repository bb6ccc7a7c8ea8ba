"""``omc book check | repair``: find what is inconsistent in a book, and fix only what is safe.

A book that cannot be replayed halts trading (like the kill switch) and stays readable; these
two commands are the way out. ``check`` exits 1 when it finds anything.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    book = common.group(sub, "book", "check and safely repair the book", "book_command")
    common.command(book, "check", book_check, "list every inconsistency; exit 1 if any", json=True)
    common.command(
        book, "repair", book_repair, "apply the safe, audited fixes and say what changed", json=True
    )


def _facts(settings: config.Settings) -> dict[str, Any]:
    from engine.simtime import resume_point
    from engine.trading.books import SIM_MARKET, split_book

    book = common.book_of(settings)
    simulated = split_book(book)[1] == SIM_MARKET
    return {
        "starting_cash": settings.trading.starting_cash,
        "quote": settings.market.quote,
        "resume": resume_point(settings.database_url()) if simulated else None,
        "now": datetime.now(UTC),
    }


def _run(settings: config.Settings, work: Any, *, exclusive: bool = False) -> Any:
    from engine.trading.books import split_book
    from engine.trading.portfolio import CostMethod
    from engine.trading.store import TradingStore
    from ledgers.queries import newest_on_market

    book = common.book_of(settings)
    method = CostMethod(settings.trading.cost_method)

    async def go(db: Any) -> Any:
        newest = await newest_on_market(db, split_book(book)[1])
        return await work(TradingStore(db), book, method, newest=newest, **_facts(settings))

    return common.with_db(settings, go, exclusive=exclusive)


def book_check(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.trading.repair import check_book

    problems = _run(settings, check_book)
    if args.json:
        common.dump(
            {
                "book": common.book_of(settings),
                "consistent": not problems,
                "problems": [
                    {"kind": p.kind, "message": p.message, "repair": p.repair} for p in problems
                ],
            }
        )
    else:
        common.say_book(settings)
        if not problems:
            print("consistent: every fill replays in recorded order and matches its order")
        for p in problems:
            fix = f" (omc book repair: {p.repair})" if p.repair else " (needs a person)"
            print(f"{p.kind}: {p.message}{fix}")
    return 1 if problems else 0


def book_repair(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.simtime import remember
    from engine.trading.repair import repair_book

    def remember_clock(when: datetime) -> None:
        remember(settings.database_url(), when)

    async def work(store: Any, book: str, method: Any, **facts: Any) -> Any:
        return await repair_book(store, book, method, remember_clock, **facts)

    # A repair rewrites the book an owning engine holds in memory: only with nobody else on it.
    changed, left = _run(settings, work, exclusive=True)
    if args.json:
        common.dump(
            {
                "book": common.book_of(settings),
                "changed": changed,
                "left": [{"kind": p.kind, "message": p.message} for p in left],
            }
        )
    else:
        common.say_book(settings)
        for line in changed or ["nothing to repair safely"]:
            print(f"changed: {line}" if changed else line)
        for p in left:
            print(f"left for a person: {p.kind}: {p.message}")
    return 1 if left else 0
