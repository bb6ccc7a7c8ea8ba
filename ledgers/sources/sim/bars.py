"""OHLCV bars of every timeframe, built from the same path the ticks walk.

Minute bars come from the minute paths, hour bars from the hourly backbone, and every coarser
bar aggregates one of those, so bars agree across timeframes: a bar's open and close are the
mid at its edges and its high and low are the extremes of the bars inside it. The bar forming
at ``end`` is cut there, its close the price at ``end``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from ledgers.market import Candle
from ledgers.sources.sim.bridge import STEPS, hour_paths
from ledgers.sources.sim.tape import Tape, on_ticks, to_datetime
from ledgers.sources.sim.universe import VENUE
from ledgers.timeframes import TIMEFRAMES

BACKFILL_HORIZONS: dict[str, timedelta] = {
    "1m": timedelta(days=1),
    "5m": timedelta(days=3),
    "15m": timedelta(days=7),
    "1h": timedelta(days=30),
    "4h": timedelta(days=120),
    "1d": timedelta(days=365),
}
_MINUTE_FRAMES = [tf for tf, length in TIMEFRAMES.items() if length < 3600]
_HOUR_FRAMES = [tf for tf, length in TIMEFRAMES.items() if length >= 3600]
_DAY_HOURS = 24


@dataclass(frozen=True, slots=True)
class Bars:
    """Consecutive bars of the first coins in log prices, (coins, n); the last may be forming."""

    first: int  # index of the first bar, counted in ``seconds`` from the epoch
    seconds: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def starts(self) -> np.ndarray:
        """Each bar's open time, in simulator seconds."""
        return (self.first + np.arange(self.open.shape[1])) * self.seconds

    def after(self, start: float, per_bar: int) -> Bars:
        """These units from the first group of ``per_bar`` opening at or after ``start`` (or
        from the forming group's first, when none does), so fewer are aggregated."""
        wanted = math.ceil(start / (self.seconds * per_bar)) * per_bar
        forming = (self.first + self.open.shape[1] - 1) // per_bar * per_bar
        skip = max(min(wanted, forming) - self.first, 0)
        return Bars(self.first + skip, self.seconds, *(v[:, skip:] for v in _fields(self)))


def minute_bars(tape: Tape, first_hour: int, end: float, width: int) -> Bars:
    """Closed minute bars of the first ``width`` coins from ``first_hour`` up to ``end``, and
    the minute forming at ``end``."""
    second = math.floor(end)
    minute = second // STEPS
    closed = minute - first_hour * STEPS
    columns = np.empty((5, width, closed + 1))  # open, high, low, close, volume
    # One UTC day of minute paths at a time (their draws come by the day) keeps the working
    # arrays small for wide universes.
    start = first_hour
    while start * STEPS < minute:
        stop = min((start // _DAY_HOURS + 1) * _DAY_HOURS, minute // STEPS + 1)
        hours = hour_paths(tape.seed, tape.grid, start, stop, width)
        at = (start - first_hour) * STEPS
        take = min((stop - start) * STEPS, closed - at)
        for column, values in zip(
            columns,
            (hours.path[..., :-1], hours.high, hours.low, hours.path[..., 1:], hours.volume),
            strict=True,
        ):
            column[:, at : at + take] = values.reshape(width, -1)[:, :take]
        start = stop

    # The forming minute: its seconds up to ``end`` and the (interpolated) price at ``end``.
    played = tape.minute(minute)
    path, volume = played.path[:width], played.volume[:width]
    at = second % STEPS
    last = tape.log_mid(end)[:width]
    columns[:, :, closed] = (
        path[:, 0],
        np.maximum(path[:, : at + 1].max(axis=1), last),
        np.minimum(path[:, : at + 1].min(axis=1), last),
        last,
        played.cum_volume[:width, at] + (end - second) * volume[:, at],
    )
    return Bars(first_hour * STEPS, 60, *columns)


def hour_bars(tape: Tape, first_hour: int, end: float, minutes: Bars) -> Bars:
    """Closed hour bars from ``first_hour`` and the hour forming at ``end``, whose figures come
    from ``minutes`` (minute bars from some whole hour up to ``end``), for the same coins."""
    hour = math.floor(end) // 3600
    width = minutes.open.shape[0]
    skip = hour * STEPS - minutes.first
    this_hour = Bars(hour * STEPS, 60, *(values[:, skip:] for values in _fields(minutes)))
    current = aggregate(this_hour, STEPS)
    forming = tuple(values[:, -1] for values in _fields(current))
    if hour > first_hour:
        span = tape.grid.span(first_hour, hour, width)
        closed_bars = (span.open, span.high, span.low, span.close, span.volume)
    else:
        closed_bars = tuple(np.empty((width, 0)) for _ in range(5))
    return _with_forming(first_hour, 3600, closed_bars, forming)


def aggregate(units: Bars, per_bar: int) -> Bars:
    """Group ``per_bar`` consecutive units into bars; the units' last (forming) one ends the
    last bar. ``units.first`` must be a multiple of ``per_bar`` so bars align to the epoch."""
    if units.first % per_bar:
        raise ValueError("units must start on a bar boundary")
    if per_bar == 1:
        return units
    closed = units.open.shape[1] - 1
    whole = closed // per_bar * per_bar
    count = units.open.shape[0]

    def grouped(values: np.ndarray) -> np.ndarray:
        return values[:, :whole].reshape(count, -1, per_bar)

    def tail(values: np.ndarray) -> np.ndarray:  # the forming bar's units, forming unit last
        return values[:, whole:]

    closed_bars = (
        grouped(units.open)[..., 0],
        grouped(units.high).max(axis=2),
        grouped(units.low).min(axis=2),
        grouped(units.close)[..., -1],
        grouped(units.volume).sum(axis=2),
    )
    forming = (
        tail(units.open)[:, 0],
        tail(units.high).max(axis=1),
        tail(units.low).min(axis=1),
        units.close[:, -1],
        tail(units.volume).sum(axis=1),
    )
    return _with_forming(units.first // per_bar, units.seconds * per_bar, closed_bars, forming)


def _fields(bars: Bars) -> tuple[np.ndarray, ...]:
    return bars.open, bars.high, bars.low, bars.close, bars.volume


def _with_forming(
    first: int,
    seconds: int,
    closed: tuple[np.ndarray, ...],
    forming: tuple[np.ndarray, ...],
) -> Bars:
    columns = [
        np.concatenate([c, f[:, None]], axis=1) for c, f in zip(closed, forming, strict=True)
    ]
    return Bars(first, seconds, *columns)


def backfill_bars(
    tape: Tape, end: float, first_opens: dict[str, float], width: int
) -> dict[str, Bars]:
    """Bars of the first ``width`` coins for each timeframe in ``first_opens`` (the earliest
    wanted bar open) up to ``end``."""
    hour = math.floor(end) // 3600
    minute_frames = [tf for tf in _MINUTE_FRAMES if tf in first_opens]
    hour_frames = [tf for tf in _HOUR_FRAMES if tf in first_opens]
    # Hour-aligned minute units suit every minute frame; day-aligned hours suit every hour one.
    earliest = {tf: min(first_opens[tf], end) for tf in first_opens}
    first_minute_hour = min([hour] + [math.floor(earliest[tf] / 3600) for tf in minute_frames])
    minutes = minute_bars(tape, first_minute_hour, end, width)
    result = {
        tf: aggregate(minutes.after(earliest[tf], TIMEFRAMES[tf] // 60), TIMEFRAMES[tf] // 60)
        for tf in minute_frames
    }
    if hour_frames:
        first_day = min(math.floor(earliest[tf] / 86_400) for tf in hour_frames)
        hours = hour_bars(tape, first_day * 24, end, minutes)
        for tf in hour_frames:
            per_bar = TIMEFRAMES[tf] // 3600
            result[tf] = aggregate(hours.after(earliest[tf], per_bar), per_bar)
    return result


def to_candles(
    bars: Bars,
    timeframe: str,
    coins: list[tuple[int, str]],
    scale: np.ndarray,
    first_open: float,
    stop: float = math.inf,
) -> list[Candle]:
    """Candles of ``coins`` (index, symbol) for bars opening in [first_open, stop)."""
    starts = bars.starts()
    keep = np.flatnonzero((starts >= first_open) & (starts < stop))
    times = [to_datetime(float(t)) for t in starts[keep]]
    rows = np.array([index for index, _ in coins], dtype=np.int64)[:, None]
    prices = [
        on_ticks(values[rows, keep], scale[rows]).tolist()
        for values in (bars.open, bars.high, bars.low, bars.close)
    ]
    volumes = bars.volume[rows, keep].tolist()
    out: list[Candle] = []
    for k, (_, symbol) in enumerate(coins):
        # map over columns is the cheapest way to build many frozen dataclasses.
        out.extend(
            map(
                Candle,
                itertools.repeat(VENUE, len(times)),
                itertools.repeat(symbol, len(times)),
                itertools.repeat(timeframe, len(times)),
                times,
                *(column[k] for column in prices),
                volumes[k],
            )
        )
    return out
