"""What the trader needs of the market: quotes, books and the venue's rules, in exact numbers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from engine.trading.model import Book, MarketRules
from ledgers.market import Instrument
from ledgers.sources.base import SourceError

DEFAULT_FEE = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    ts: datetime
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None


class MarketAccess(Protocol):
    venue: str

    def quote(self, symbol: str) -> Quote | None: ...

    async def book(self, symbol: str) -> Book: ...

    def rules(self, symbol: str) -> MarketRules | None: ...

    def symbols(self) -> Sequence[str]: ...


class BookUnavailable(Exception):
    """No order book could be had for a symbol; the message says why."""


def exact(value: float | None) -> Decimal | None:
    """A market observation (float) as the decimal the venue printed."""
    return None if value is None else Decimal(repr(value))


def step(precision: float | None) -> Decimal | None:
    """ccxt precision as a step: a tick size (0.001) stays, a count of decimals (3) becomes one."""
    if precision is None or precision <= 0:
        return None
    if precision >= 1 and float(precision).is_integer():
        return Decimal(1).scaleb(-int(precision))
    return Decimal(repr(precision))


def rules_from_instrument(
    instrument: Instrument,
    *,
    taker_fee: Decimal | None = None,
    maker_fee: Decimal | None = None,
) -> MarketRules:
    amount_step = step(instrument.amount_precision)
    if taker_fee is None:
        taker_fee = exact(instrument.taker_fee)
    if maker_fee is None:
        maker_fee = exact(instrument.maker_fee)
    return MarketRules(
        symbol=instrument.symbol,
        amount_step=amount_step,
        price_step=step(instrument.price_precision),
        min_amount=exact(instrument.min_amount),
        taker_fee=taker_fee if taker_fee is not None else DEFAULT_FEE,
        maker_fee=maker_fee if maker_fee is not None else DEFAULT_FEE,
    )


class FeedMarket:
    """``MarketAccess`` over the engine's market feed (which may be swapped for the simulator)."""

    def __init__(
        self,
        feed: Callable[[], object],
        *,
        taker_fee: Decimal | None = None,
        maker_fee: Decimal | None = None,
        depth: int = 20,
    ) -> None:
        self._feed = feed
        self._taker = taker_fee
        self._maker = maker_fee
        self._depth = depth
        self._books: dict[str, tuple[object, Book]] = {}  # the last snapshot read, per symbol
        self._rules: dict[str, tuple[object, MarketRules]] = {}  # per symbol, by instrument

    @property
    def venue(self) -> str:
        return self._feed().venue  # type: ignore[attr-defined, no-any-return]

    @property
    def simulated(self) -> bool:
        return bool(self._feed().source.simulated)  # type: ignore[attr-defined]

    def quote(self, symbol: str) -> Quote | None:
        event = self._feed().quotes.get(symbol)  # type: ignore[attr-defined]
        if event is None:
            return None
        return Quote(symbol, event.ts, exact(event.bid), exact(event.ask), exact(event.last))

    async def book(self, symbol: str) -> Book:
        feed = self._feed()
        try:
            snap = await feed.source.fetch_book(symbol, self._depth)  # type: ignore[attr-defined]
        except SourceError as exc:
            raise BookUnavailable(f"no order book for {symbol}: {exc}") from None
        last = self._books.get(symbol)
        if last is not None and last[0] is snap:  # the source gave the same book again
            return last[1]
        book = Book.from_levels(symbol, snap.ts, snap.bids, snap.asks)
        self._books[symbol] = (snap, book)
        return book

    def rules(self, symbol: str) -> MarketRules | None:
        instrument = self._feed().instruments.get(symbol)  # type: ignore[attr-defined]
        if instrument is None:
            return None
        known = self._rules.get(symbol)
        if known is not None and known[0] is instrument:  # the venue's listing is unchanged
            return known[1]
        rules = rules_from_instrument(instrument, taker_fee=self._taker, maker_fee=self._maker)
        self._rules[symbol] = (instrument, rules)
        return rules

    def symbols(self) -> Sequence[str]:
        return sorted(self._feed().instruments)  # type: ignore[attr-defined]
