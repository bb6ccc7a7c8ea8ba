"""Closed OHLCV bars of one symbol as aligned numpy arrays: what strategies and backtests read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from engine.api import OHLCV
from ledgers.timeframes import seconds


@dataclass(frozen=True, slots=True, eq=False)
class Bars:
    """Bars oldest first; ``ts`` holds each bar's open time in epoch seconds.

    The arrays are made read-only so a strategy cannot change the data it is judged on.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: str
    timeframe: str
    bar_seconds: int

    def __post_init__(self) -> None:
        if self.bar_seconds <= 0:
            raise ValueError(f"bar_seconds must be positive, got {self.bar_seconds}")
        object.__setattr__(self, "ts", _frozen(self.ts, np.int64, "ts"))
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            column = _frozen(getattr(self, name), np.float64, name)
            if len(column) != n:
                raise ValueError(f"{name} has {len(column)} values but ts has {n}")
            if not np.isfinite(column).all():
                raise ValueError(f"{name} of {self.symbol} holds a NaN or infinite value")
            if name == "volume" and (column < 0).any():
                raise ValueError(f"volume of {self.symbol} must not be negative")
            if name != "volume" and (column <= 0).any():
                raise ValueError(f"{name} prices of {self.symbol} must be positive")
            object.__setattr__(self, name, column)
        if n > 1 and not (np.diff(self.ts) > 0).all():
            raise ValueError(f"bars of {self.symbol} must be in strictly increasing time order")

    @classmethod
    def from_candles(
        cls,
        candles: Sequence[OHLCV],
        symbol: str,
        timeframe: str,
        bar_seconds: int | None = None,
    ) -> Bars:
        """Stack candles (oldest first) into arrays; ``bar_seconds`` defaults to the timeframe's."""
        for candle in candles:
            if candle.ts.tzinfo is None:
                raise ValueError(f"candle time {candle.ts} has no timezone; expected aware UTC")
        return cls(
            ts=np.array([int(c.ts.timestamp()) for c in candles], dtype=np.int64),
            open=np.array([c.open for c in candles], dtype=np.float64),
            high=np.array([c.high for c in candles], dtype=np.float64),
            low=np.array([c.low for c in candles], dtype=np.float64),
            close=np.array([c.close for c in candles], dtype=np.float64),
            volume=np.array([c.volume for c in candles], dtype=np.float64),
            symbol=symbol,
            timeframe=timeframe,
            bar_seconds=seconds(timeframe) if bar_seconds is None else bar_seconds,
        )

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, window: slice) -> Bars:
        """A contiguous run of these bars, e.g. ``bars[:-1]`` or ``bars[-500:]``."""
        if not isinstance(window, slice) or window.step not in (None, 1):
            raise TypeError("bars can only be cut into contiguous runs, e.g. bars[-500:]")
        return Bars(
            self.ts[window],
            self.open[window],
            self.high[window],
            self.low[window],
            self.close[window],
            self.volume[window],
            self.symbol,
            self.timeframe,
            self.bar_seconds,
        )

    def time(self, i: int) -> datetime:
        """Open time of bar ``i`` (negative counts from the end), aware UTC."""
        return datetime.fromtimestamp(int(self.ts[i]), tz=UTC)


def _frozen(values: object, dtype: type, name: str) -> np.ndarray:
    array = np.array(values, dtype=dtype)  # a copy, so the caller's array stays writable
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    array.setflags(write=False)
    return array
