"""``SimMarket``: the simulated venue "sim", a MarketSource whose prices are a pure function of
(seed, listed coins, time)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from ledgers.clock import Clock, WallClock
from ledgers.market import BookSnapshot, Candle, Instrument, Tick, utc
from ledgers.sources.base import UnknownSymbolError
from ledgers.sources.sim.bars import (
    BACKFILL_HORIZONS,
    aggregate,
    backfill_bars,
    hour_bars,
    minute_bars,
    to_candles,
)
from ledgers.sources.sim.book import depth_side, level_unit
from ledgers.sources.sim.path import EPOCH, HourGrid
from ledgers.sources.sim.streams import Stream, generator
from ledgers.sources.sim.tape import DAY, Tape, seconds_since_epoch
from ledgers.sources.sim.universe import VENUE, CoinTable, build_coins, instrument
from ledgers.timeframes import TIMEFRAMES, seconds

MAX_CATCH_UP = 3_600  # steps replayed at most after a pause; older ones are skipped


class SimMarket:
    """A seeded, deterministic crypto market: ticks, books and candles from one shared path.

    The same seed and symbol count give the same prices at the same timestamps across calls,
    instances and restarts, so stored history joins the live path. Adding symbols never moves
    the existing ones.
    """

    venue = VENUE
    simulated = True
    has_ohlcv = False

    def __init__(
        self,
        seed: int = 7,
        symbols: int = 12,
        quote: str = "AUD",
        clock: Clock | None = None,
        tick_seconds: float = 1.0,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        # Steps count whole microseconds, like datetimes, so step boundaries are exact.
        self._step_length = timedelta(seconds=tick_seconds)
        if self._step_length <= timedelta(0):
            raise ValueError(f"tick_seconds must be at least a microsecond, got {tick_seconds}")
        self.seed = seed
        self.quote = quote
        self.clock = clock or WallClock()
        self.tick_seconds = tick_seconds
        self._coins = build_coins(seed, symbols)
        self._symbols = [f"{coin.base}/{quote}" for coin in self._coins]
        self._index = {symbol: i for i, symbol in enumerate(self._symbols)}
        table = CoinTable.of(self._coins)
        self._tape = Tape(seed, HourGrid(seed, table), table)
        self._last_step: dict[str, int] = {}
        # The newest book asked of each symbol: a book is fixed for its step, and an order
        # and its preview ask for the same one many times a second.
        self._books: dict[str, tuple[int, int, BookSnapshot]] = {}

    @property
    def universe(self) -> list[str]:
        """Every listed symbol, in listing order."""
        return list(self._symbols)

    @property
    def hours(self) -> HourGrid:
        """The hourly backbone every price comes from, for readers such as the simulated ledgers."""
        return self._tape.grid

    def price_at(self, symbol: str, ts: datetime) -> float:
        """The mid of ``symbol`` at ``ts``, on its tick grid (what ticks and candles report)."""
        index = self._coin(symbol)
        return float(self._tape.mid(seconds_since_epoch(ts))[index])

    async def load_instruments(self) -> list[Instrument]:
        return [instrument(coin, self.quote) for coin in self._coins]

    async def fetch_ticks(self, symbols: Sequence[str]) -> list[Tick]:
        """One tick per listed symbol per step passed since the symbol was last asked for."""
        now = self._step(self.clock.now())
        wanted = [s for s in dict.fromkeys(symbols) if s in self._index]
        first = {
            s: max(self._last_step.get(s, now - 1) + 1, now - MAX_CATCH_UP + 1) for s in wanted
        }
        ticks: list[Tick] = []
        for step in range(min(first.values(), default=now + 1), now + 1):
            due = [s for s in wanted if first[s] <= step]
            ticks.extend(self._ticks_at(step, due))
        for symbol in wanted:
            self._last_step[symbol] = max(self._last_step.get(symbol, now), now)
        return ticks

    async def fetch_book(self, symbol: str, depth: int = 20) -> BookSnapshot:
        """The book at the current step: the tick's best bid and ask, then deeper levels."""
        index = self._coin(symbol)
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        step = self._step(self.clock.now())
        cached = self._books.get(symbol)
        if cached is not None and cached[:2] == (step, depth):
            return cached[2]
        t = self._seconds(step)
        quotes = self._tape.quotes(t)
        coin = self._coins[index]
        bid, ask = float(quotes.bid[index]), float(quotes.ask[index])
        unit = level_unit(coin, bid, ask)
        draws = generator(self.seed, Stream.BOOK, index, math.floor(t)).random((2, depth, 2))
        book = BookSnapshot(
            venue=VENUE,
            symbol=symbol,
            ts=EPOCH + step * self._step_length,
            bids=depth_side(coin, bid, -1, unit, draws[0]),
            asks=depth_side(coin, ask, +1, unit, draws[1]),
        )
        self._books[symbol] = (step, depth, book)
        return book

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        """Up to ``limit`` bars from ``since`` (or the latest ones), the forming bar included."""
        index = self._coin(symbol)
        length = seconds(timeframe)
        now = seconds_since_epoch(self.clock.now())
        if since is None:
            first_open = (math.floor(now / length) - limit + 1) * length
        else:
            first_open = math.ceil(seconds_since_epoch(since) / length) * length
        first_open = max(first_open, 0)
        stop = first_open + limit * length
        end = min(now, stop)
        if end < first_open:
            return []
        hour = math.floor(end) // 3600
        width = index + 1  # coins after this one never change it, so they are not computed
        if length < 3600:
            bars = aggregate(minute_bars(self._tape, first_open // 3600, end, width), length // 60)
        else:
            minutes = minute_bars(self._tape, hour, end, width)
            hours = hour_bars(self._tape, first_open // 86_400 * 24, end, minutes)
            bars = aggregate(hours, length // 3600)
        scale = self._tape.coins.price_scale
        return to_candles(bars, timeframe, [(index, symbol)], scale, first_open, stop)

    def backfill(
        self, symbols: Iterable[str], end: datetime, since: dict[str, datetime] | None = None
    ) -> list[Candle]:
        """History of every timeframe up to ``end`` (see ``BACKFILL_HORIZONS``): closed bars
        within the horizon plus the bar forming at ``end``; ``since`` keeps, per timeframe,
        only bars opening at or after it. Unknown symbols are left out."""
        coins = [(self._index[s], s) for s in dict.fromkeys(symbols) if s in self._index]
        t_end = seconds_since_epoch(end)
        first_opens = {}
        for timeframe, horizon in BACKFILL_HORIZONS.items():
            first = t_end - horizon.total_seconds()
            if since and timeframe in since:
                first = max(first, seconds_since_epoch(since[timeframe]))
            first_opens[timeframe] = max(first, 0.0)
        if not coins:
            return []
        width = max(index for index, _ in coins) + 1
        bars = backfill_bars(self._tape, t_end, first_opens, width)
        scale = self._tape.coins.price_scale
        candles: list[Candle] = []
        for timeframe in TIMEFRAMES:
            first_open = math.ceil(first_opens[timeframe] / TIMEFRAMES[timeframe])
            first_open *= TIMEFRAMES[timeframe]
            candles.extend(to_candles(bars[timeframe], timeframe, coins, scale, first_open))
        return candles

    async def close(self) -> None:
        """Nothing to release: the simulator holds no connections."""

    def _coin(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise UnknownSymbolError(symbol, VENUE) from None

    def _step(self, now: datetime) -> int:
        seconds_since_epoch(now)  # refuses times before the epoch
        return (utc(now) - EPOCH) // self._step_length

    def _seconds(self, step: int) -> float:
        return (step * self._step_length) / timedelta(seconds=1)

    def _ticks_at(self, step: int, symbols: list[str]) -> list[Tick]:
        if not symbols:
            return []
        tape = self._tape
        t = self._seconds(step)
        quotes = tape.quotes(t)
        day_ago = tape.mid(t - DAY)
        base_volume, quote_volume = tape.day_volume(t)
        traded = tape.traded_between(self._seconds(step - 1), t)
        change = (quotes.mid / day_ago - 1.0) * 100.0
        ts = EPOCH + step * self._step_length
        out = []
        for symbol in symbols:
            i = self._index[symbol]
            out.append(
                Tick(
                    venue=VENUE,
                    symbol=symbol,
                    ts=ts,
                    last=float(quotes.mid[i]),
                    bid=float(quotes.bid[i]),
                    ask=float(quotes.ask[i]),
                    base_volume=float(base_volume[i]),
                    quote_volume=float(quote_volume[i]),
                    change_pct=float(change[i]),
                    volume=float(traded[i]),
                )
            )
        return out
