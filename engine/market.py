"""The Exchange-ledger feed: polls a market source, builds candles, buffers rows, publishes."""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime

from engine.bus import EventBus
from engine.events import BookEvent, CandleEvent, InstrumentsEvent, QuoteEvent
from engine.feeds import FeedHealth
from engine.jobs import Backoff
from engine.writer import WriteBehind
from ledgers.candles import CandleBuilder
from ledgers.clock import Clock
from ledgers.market import Candle, Instrument, Tick
from ledgers.sources.base import MarketSource, SourceError

log = logging.getLogger("omc.market")

SPARK_POINTS = 24  # hourly closes shown in the watchlist sparkline
SPARK_TIMEFRAME = "1h"


def quote_event(tick: Tick, published: float = 0.0) -> QuoteEvent:
    return QuoteEvent(
        tick.venue,
        tick.symbol,
        tick.ts,
        tick.last,
        tick.bid,
        tick.ask,
        tick.change_pct,
        tick.base_volume,
        tick.quote_volume,
        published,
    )


def candle_event(c: Candle, closed: bool = False) -> CandleEvent:
    return CandleEvent(
        c.venue, c.symbol, c.timeframe, c.ts, c.open, c.high, c.low, c.close, c.volume, closed
    )


class MarketFeed:
    """One venue's (or the simulator's) ticks, books and candles for the watchlist."""

    def __init__(
        self,
        source: MarketSource,
        watchlist: list[str],
        bus: EventBus,
        writer: WriteBehind,
        clock: Clock,
        *,
        poll_seconds: float,
        book_depth: int = 20,
    ) -> None:
        self.source = source
        self.watchlist = list(watchlist)
        self.bus = bus
        self.writer = writer
        self.clock = clock
        self.book_depth = book_depth
        self.health = FeedHealth(f"{source.venue}.market", poll_seconds, source.simulated)
        # The book has its own health: CoinSpot serves books only to keyed accounts, and that
        # must not mark the whole market feed down.
        self.book_health = FeedHealth(f"{source.venue}.book", poll_seconds, source.simulated)
        self.builder = CandleBuilder()
        self.listed: set[str] | None = None  # None until the instrument list has loaded
        self.instruments: dict[str, Instrument] = {}
        self.quotes: dict[str, QuoteEvent] = {}
        self.spark: dict[str, deque[float]] = {}
        self._spark_ts: dict[str, datetime] = {}
        self.book: BookEvent | None = None
        self.selected: str | None = self.watchlist[0] if self.watchlist else None

    @property
    def venue(self) -> str:
        return self.source.venue

    @property
    def unknown(self) -> list[str]:
        if self.listed is None:
            return []
        return [s for s in self.watchlist if s not in self.listed]

    def status(self, symbol: str) -> str:
        if self.listed is not None and symbol not in self.listed:
            return "unknown"
        return "ok" if symbol in self.quotes else "waiting"

    async def refresh_instruments(self) -> int:
        try:
            instruments = await self.source.load_instruments()
        except SourceError as exc:
            raise self._failure("instrument list", exc) from None
        self.listed = {i.symbol for i in instruments}
        self.instruments = {i.symbol: i for i in instruments}
        self.writer.set_instruments(instruments, self.clock.now())
        self.bus.publish(InstrumentsEvent(self.venue, len(instruments), tuple(self.unknown)))
        return len(instruments)

    async def poll_tickers(self) -> int:
        if self.listed is None:
            await self.refresh_instruments()
        symbols = [s for s in self.watchlist if self.listed is None or s in self.listed]
        if not symbols:
            return 0
        try:
            ticks = await self.source.fetch_ticks(symbols)
        except SourceError as exc:
            raise self._failure("tickers", exc) from None
        self._ok()
        self.ingest(ticks)
        return len(ticks)

    def ingest(self, ticks: list[Tick]) -> None:
        """Fold ticks into candles and the write buffer, and publish the newest quote of each."""
        if not ticks:
            return
        add = self.builder.add
        for tick in ticks:
            add(tick)
        self.writer.add_ticks(ticks)
        newest: dict[str, Tick] = {}
        for tick in ticks:
            newest[tick.symbol] = tick
        events = [quote_event(t) for t in newest.values()]
        for event in events:
            self.quotes[event.symbol] = event
            spark = self.spark.get(event.symbol)
            if spark:
                spark[-1] = event.last
        self.bus.publish_many(events)

    async def poll_book(self) -> int:
        symbol = self.selected
        if symbol is None or (self.listed is not None and symbol not in self.listed):
            return 0
        try:
            snap = await self.source.fetch_book(symbol, self.book_depth)
        except SourceError as exc:
            raise self._failure(f"order book of {symbol}", exc, self.book_health) from None
        if event := self.book_health.ok(self.clock.now()):
            self.bus.publish(event)
        self.writer.add_book(snap)
        self.book = BookEvent(snap.venue, snap.symbol, snap.ts, snap.bids, snap.asks)
        self.bus.publish(self.book)
        return 1

    async def build_candles(self) -> int:
        updates = self.builder.drain()
        if not updates.changed:
            return 0
        self.writer.add_candles(updates.changed)
        closed_keys = {(c.symbol, c.timeframe, c.ts) for c in updates.closed}
        events = [
            candle_event(c, (c.symbol, c.timeframe, c.ts) in closed_keys) for c in updates.changed
        ]
        for c in updates.changed:
            if c.timeframe == SPARK_TIMEFRAME:
                self._spark_bar(c)
        self.bus.publish_many(events)
        return len(updates.changed)

    def seed(self, candles: list[Candle]) -> None:
        """Adopt stored forming bars and sparkline history at start."""
        for c in candles:
            self.builder.seed(c)

    def seed_spark(self, symbol: str, bars: list[Candle]) -> None:
        if bars:
            self._spark_ts[symbol] = bars[-1].ts
        closes = [b.close for b in bars]
        spark = deque(closes[-SPARK_POINTS:], maxlen=SPARK_POINTS)
        if symbol in self.quotes and spark:
            spark[-1] = self.quotes[symbol].last
        self.spark[symbol] = spark

    def _spark_bar(self, c: Candle) -> None:
        spark = self.spark.setdefault(c.symbol, deque(maxlen=SPARK_POINTS))
        # A new hourly bar appends a point; the forming bar keeps moving the last one.
        last_ts = self._spark_ts.get(c.symbol)
        if last_ts is None or c.ts > last_ts:
            spark.append(c.close)
            self._spark_ts[c.symbol] = c.ts
        elif spark:
            spark[-1] = c.close

    def select(self, symbol: str) -> None:
        self.selected = symbol
        self.book = None

    def _ok(self) -> None:
        event = self.health.ok(self.clock.now())
        if event is not None:
            self.bus.publish(event)

    def _failure(self, what: str, exc: SourceError, health: FeedHealth | None = None) -> Backoff:
        health = health or self.health
        event, wait = health.failed(f"{what}: {exc}", self.clock.now(), exc.transient)
        self.bus.publish(event)
        log.warning("feed %s failed: %s (retry in %.0fs)", health.name, event.error, wait)
        return Backoff(event.error or str(exc), wait)
