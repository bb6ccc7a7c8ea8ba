"""OHLCV bars built from ticks, for venues that serve no candles (CoinSpot).

A bar closes when a tick (or a seeded bar) of a later bucket arrives for its symbol; a bucket
in which no tick arrived has no bar.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ledgers.market import Candle, Tick
from ledgers.timeframes import TIMEFRAMES, seconds


@dataclass(frozen=True, slots=True)
class CandleUpdates:
    """What ``CandleBuilder.drain`` hands over."""

    changed: list[Candle]  # every bar changed since the previous drain, latest state, each once
    closed: list[Candle]  # the bars of ``changed`` that closed, oldest first


class _Bar:
    """The mutable forming bar; ``start`` and ``seen`` are epoch seconds, kept as numbers for speed."""

    __slots__ = ("close", "dirty", "high", "low", "open", "seen", "start", "volume")

    def __init__(self, start: int, price: float, volume: float, seen: float) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = volume
        self.seen = seen  # time of the latest tick applied, so a late tick cannot rewind the close
        self.dirty = True


class CandleBuilder:
    """Forming bars of every (venue, symbol) for the given timeframes (all of TIMEFRAMES by default)."""

    def __init__(self, timeframes: Iterable[str] | None = None) -> None:
        self.timeframes = tuple(dict.fromkeys(TIMEFRAMES if timeframes is None else timeframes))
        self._steps = tuple(seconds(timeframe) for timeframe in self.timeframes)
        self._bars: dict[tuple[str, str], list[_Bar | None]] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._closed: list[Candle] = []

    def add(self, tick: Tick) -> None:
        """Fold ``tick.last`` into the forming bars of its symbol; ticks of past buckets are ignored."""
        price = tick.last
        if not 0.0 < price < math.inf:  # NaN fails too: one bad price would poison a bar for good
            return
        key = (tick.venue, tick.symbol)
        bars = self._bars.get(key)
        if bars is None:
            bars = self._bars[key] = [None] * len(self._steps)
        at = tick.ts.timestamp()
        volume = tick.volume or 0.0
        for index, step in enumerate(self._steps):
            start = int(at) // step * step
            bar = bars[index]
            if bar is None or start > bar.start:
                if bar is not None:
                    self._closed.append(self._candle(key, index, bar))
                bars[index] = _Bar(start, price, volume, at)
            elif start == bar.start:
                if price > bar.high:
                    bar.high = price
                elif price < bar.low:
                    bar.low = price
                if at >= bar.seen:
                    bar.close = price
                    bar.seen = at
                bar.volume += volume
                bar.dirty = True
        self._dirty.add(key)

    def seed(self, candle: Candle) -> None:
        """Adopt a stored bar (at restart) so a bar begun earlier keeps its open, high, low and volume.

        A bar older than the forming one is ignored; one of the same bucket is merged into it, as
        the forming bar then holds the ticks seen since the restart.
        """
        if candle.timeframe not in self.timeframes:
            raise ValueError(f"this builder makes no {candle.timeframe!r} bars")
        index = self.timeframes.index(candle.timeframe)
        step = self._steps[index]
        key = (candle.venue, candle.symbol)
        bars = self._bars.setdefault(key, [None] * len(self._steps))
        start = int(candle.ts.timestamp()) // step * step
        bar = bars[index]
        if bar is None or start > bar.start:
            if bar is not None:
                self._closed.append(self._candle(key, index, bar))
                self._dirty.add(key)
            seeded = _Bar(start, candle.open, candle.volume, float(start))
            seeded.high, seeded.low, seeded.close = candle.high, candle.low, candle.close
            seeded.dirty = False  # it is what storage already holds
            bars[index] = seeded
        elif start == bar.start:
            bar.open = candle.open
            bar.high = max(bar.high, candle.high)
            bar.low = min(bar.low, candle.low)
            bar.volume += candle.volume
            bar.dirty = True
            self._dirty.add(key)

    def drain(self) -> CandleUpdates:
        """Bars changed and bars closed since the previous drain; the engine upserts and announces them."""
        closed, self._closed = self._closed, []
        changed = list(closed)  # a closed bar precedes the forming bar of the same key
        for key in self._dirty:
            for index, bar in enumerate(self._bars[key]):
                if bar is not None and bar.dirty:
                    bar.dirty = False
                    changed.append(self._candle(key, index, bar))
        self._dirty.clear()
        return CandleUpdates(changed, closed)

    def forming(self, venue: str, symbol: str, timeframe: str) -> Candle | None:
        """The bar of ``timeframe`` being built for ``symbol``, if any."""
        bars = self._bars.get((venue, symbol))
        if bars is None or timeframe not in self.timeframes:
            return None
        index = self.timeframes.index(timeframe)
        bar = bars[index]
        return None if bar is None else self._candle((venue, symbol), index, bar)

    def _candle(self, key: tuple[str, str], index: int, bar: _Bar) -> Candle:
        return Candle(
            venue=key[0],
            symbol=key[1],
            timeframe=self.timeframes[index],
            ts=datetime.fromtimestamp(bar.start, tz=UTC),
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
        )
