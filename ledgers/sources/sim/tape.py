"""Mid prices, quotes and traded volume of every coin at any moment.

Time is seconds since ``EPOCH``. The hours and minutes being played are cached, so a stream of
ticks costs a few small array operations each; a new minute or hour costs one bridge.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import numpy as np

from ledgers.market import utc
from ledgers.sources.sim.bridge import STEPS, HourPaths, MinutePath, hour_paths, minute_path
from ledgers.sources.sim.path import EPOCH, REGIME_SPREAD, HourGrid
from ledgers.sources.sim.universe import CoinTable

DAY = 86_400
_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def seconds_since_epoch(ts: datetime) -> float:
    """``ts`` as simulator time; the simulator has no history before ``EPOCH``."""
    t = (utc(ts) - EPOCH) / timedelta(seconds=1)
    if t < 0:
        raise ValueError(f"{ts.isoformat()} is before the simulator's epoch {EPOCH.isoformat()}")
    return t


def to_datetime(t: float) -> datetime:
    return EPOCH + timedelta(seconds=t)


def on_ticks(log_mid: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Log mids as prices on each coin's tick grid (``scale`` is 1 / tick, a power of ten)."""
    return np.rint(np.exp(log_mid) * scale) / scale


@dataclass(frozen=True, slots=True)
class Quotes:
    """Top of book of every coin at one moment; prices on the tick grid."""

    mid: np.ndarray  # the rounded mid: the price ticks and candles report
    bid: np.ndarray
    ask: np.ndarray


@dataclass(frozen=True, slots=True)
class _DayWindow:
    """Hourly volumes around one hour, for the rolling 24h figures."""

    middle_base: np.ndarray  # the 23 whole hours before ``hour``
    middle_quote: np.ndarray
    now_base: np.ndarray  # the hour being played
    now_quote: np.ndarray
    oldest_base: np.ndarray  # the hour 24h before it, of which a shrinking share still counts
    oldest_quote: np.ndarray


class _Recent(Generic[_Key, _Value]):
    """A tiny least-recently-used cache, safe to share with a backfill in a worker thread."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[_Key, _Value] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get_or_make(self, key: _Key, make: Callable[[_Key], _Value]) -> _Value:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                value = make(key)
                self._items[key] = value
                if len(self._items) > self._size:
                    self._items.popitem(last=False)
            else:
                self._items.move_to_end(key)
            return value


class Tape:
    """Prices and volumes of every coin, as pure functions of simulator time."""

    def __init__(self, seed: int, grid: HourGrid, coins: CoinTable) -> None:
        self.seed = seed
        self.grid = grid
        self.coins = coins
        self._hours: _Recent[int, HourPaths] = _Recent(6)
        self._minutes: _Recent[int, MinutePath] = _Recent(6)
        self._days: _Recent[int, _DayWindow] = _Recent(3)

    def hour(self, hour: int) -> HourPaths:
        return self._hours.get_or_make(hour, lambda h: hour_paths(self.seed, self.grid, h, h + 1))

    def minute(self, minute: int) -> MinutePath:
        return self._minutes.get_or_make(
            minute, lambda m: minute_path(self.seed, self.grid, self.hour(m // STEPS), m)
        )

    def log_mid(self, t: float) -> np.ndarray:
        """Every coin's log mid at ``t``, linear between whole seconds."""
        second = math.floor(t)
        played = self.minute(second // STEPS)
        at, frac = second % STEPS, t - second
        start = played.path[:, at]
        if frac == 0.0:
            return start
        return start + frac * (played.path[:, at + 1] - start)

    def mid(self, t: float) -> np.ndarray:
        """Every coin's mid at ``t`` on its tick grid."""
        return on_ticks(self.log_mid(t), self.coins.price_scale)

    def quotes(self, t: float) -> Quotes:
        """Rounded mid, bid and ask: the spread widens with the regime and bid < ask always."""
        log_mid = self.log_mid(t)
        exact = np.exp(log_mid)
        scale = self.coins.price_scale
        regime = self.grid.regime(math.floor(t) // 3600)
        half = 0.5e-4 * exact * self.coins.spread_bps * REGIME_SPREAD[regime]
        bid = np.floor((exact - half) * scale)
        ask = np.maximum(np.ceil((exact + half) * scale), bid + 1.0)
        return Quotes(np.rint(exact * scale) / scale, bid / scale, ask / scale)

    def traded_in_hour(self, t: float) -> np.ndarray:
        """Base units traded from the start of t's hour up to ``t``."""
        second = math.floor(t)
        minute = second // STEPS
        hour = self.hour(minute // STEPS)
        played = self.minute(minute)
        at = second % STEPS
        partial = (t - second) * played.volume[:, at] if t > second else 0.0
        return hour.cum_volume[:, 0, minute % STEPS] + played.cum_volume[:, at] + partial

    def traded_between(self, start: float, end: float) -> np.ndarray:
        """Base units traded in (start, end]."""
        first, last = math.floor(start) // 3600, math.floor(end) // 3600
        if first == last:
            traded = self.traded_in_hour(end) - self.traded_in_hour(start)
        else:
            whole = self.grid.span(first + 1, last).volume.sum(axis=1) if last > first + 1 else 0
            rest_of_first = self.hour(first).cum_volume[:, 0, -1] - self.traded_in_hour(start)
            traded = rest_of_first + whole + self.traded_in_hour(end)
        return np.maximum(traded, 0.0)

    def day_volume(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Rolling 24h base and quote volume, from hourly volumes pro rata at both ends."""
        hour = math.floor(t) // 3600
        window = self._days.get_or_make(hour, self._day_window)
        share = t / 3600.0 - hour
        base = window.middle_base + share * window.now_base + (1 - share) * window.oldest_base
        quote = window.middle_quote + share * window.now_quote + (1 - share) * window.oldest_quote
        return base, quote

    def _day_window(self, hour: int) -> _DayWindow:
        span = self.grid.span(hour - 24, hour + 1)
        # An hour's quote volume at the geometric mean of its open and close.
        quote = span.volume * np.exp(0.5 * (span.open + span.close))
        return _DayWindow(
            middle_base=span.volume[:, 1:-1].sum(axis=1),
            middle_quote=quote[:, 1:-1].sum(axis=1),
            now_base=span.volume[:, -1],
            now_quote=quote[:, -1],
            oldest_base=span.volume[:, 0],
            oldest_quote=quote[:, 0],
        )
