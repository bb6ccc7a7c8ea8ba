"""Which book an order belongs to: the simulated market, a venue's paper account, a live account.

Each is a separate book with its own cash, orders, fills, lots, equity curve, day start and
deployments. A book is named ``<mode>:<market>`` — ``paper:sim``, ``paper:coinspot``,
``live:coinspot`` — and that name is what the database stores and every screen shows.
"""

from __future__ import annotations

SIM_MARKET = "sim"


def book_id(mode: str, market: str) -> str:
    return f"{mode}:{market}"


def split_book(book: str) -> tuple[str, str]:
    mode, _, market = book.partition(":")
    return mode, market


def book_label(book: str) -> str:
    """For people: "paper · simulated market", "paper · coinspot", "LIVE · coinspot"."""
    mode, market = split_book(book)
    where = "simulated market" if market == SIM_MARKET else market
    return f"{'LIVE' if mode == 'live' else mode} · {where}"


def state_key(book: str, name: str) -> str:
    """The ``trading_state`` key of one book's switch or record (account, day_start, armed)."""
    return f"{book}/{name}"
