"""Paths inside an hour (minute by minute) and inside a minute (second by second).

Each level is a Brownian bridge between endpoints the coarser level already fixed, drawn from
streams keyed by the day (for minutes) or the minute (for seconds). The coarser level also fixed the bar's high and low,
so the bridge is stretched or shrunk to stay inside them, and the extremes are then placed
exactly: an hour's high is the highest of its minute highs, and a minute's high is reached by
one of its seconds. Bars of every timeframe therefore agree with each other and with the ticks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ledgers.sources.sim.path import VOLUME_MOVE, HourGrid, range_excess
from ledgers.sources.sim.streams import Stream, generator

STEPS = 60  # minutes in an hour, seconds in a minute
_STRETCH_CAP = 3.0  # the most a bridge's excursions are stretched towards the drawn extreme
_WICK = 0.6  # the stretched path stops this many step sigmas short of the extreme
_VOLUME_NOISE = 0.5  # lognormal sigma of each step's share of volume
_TIMES = np.arange(STEPS + 1) / STEPS
_STEP_INDEX = np.arange(STEPS + 1)
_DAY_HOURS = 24


@dataclass(frozen=True, slots=True)
class HourPaths:
    """Minute paths of consecutive hours from ``first``; arrays are (coins, hours, ...)."""

    first: int
    path: np.ndarray  # (..., 61) log mid at each minute boundary
    high: np.ndarray  # (..., 60) minute bars
    low: np.ndarray
    volume: np.ndarray
    cum_volume: np.ndarray  # (..., 61) volume traded since the hour began
    sigma: np.ndarray  # (coins, hours) diffusive sigma of one minute
    jump: np.ndarray  # (coins, hours)
    jump_minute: np.ndarray  # (coins, hours), STEPS when the hour has no jump
    jump_second: np.ndarray


@dataclass(frozen=True, slots=True)
class MinutePath:
    """Every coin's second path through one minute; arrays are (coins, ...)."""

    path: np.ndarray  # (coins, 61) log mid at each second boundary
    volume: np.ndarray  # (coins, 60)
    cum_volume: np.ndarray  # (coins, 61)


def fit_bridge(
    opens: np.ndarray,
    closes: np.ndarray,
    jump: np.ndarray,
    jump_step: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    sigma: np.ndarray,
    shocks: np.ndarray,
) -> np.ndarray:
    """A STEPS-step path from ``opens`` to ``closes`` inside [low, high]; shape (..., STEPS + 1).

    ``sigma`` is the diffusive deviation over the whole bar; ``shocks`` are standard normals
    (..., STEPS); the jump lands between step ``jump_step`` and the next (STEPS: no jump).
    """
    before = closes - jump
    line = opens[..., None] + _TIMES * (before - opens)[..., None]
    bridge = np.zeros(line.shape)
    np.cumsum(shocks, axis=-1, out=bridge[..., 1:])
    bridge *= (sigma / np.sqrt(STEPS))[..., None]
    bridge -= _TIMES * bridge[..., -1:]
    # Bounds for the jump-free part, so the path stays inside on both sides of the jump.
    margin = _WICK * sigma / np.sqrt(STEPS)
    ceiling = np.maximum(high - np.maximum(jump, 0.0) - margin, np.maximum(opens, before))
    floor = np.minimum(low - np.minimum(jump, 0.0) + margin, np.minimum(opens, before))
    rises = np.maximum(bridge, 0.0)
    dips = bridge - rises
    stretch_up = _stretch(ceiling[..., None] - line, rises, rises > 0.0)
    stretch_down = _stretch(floor[..., None] - line, dips, dips < 0.0)
    path = line
    path += stretch_up * rises
    path += stretch_down * dips
    # Jumps are rare: add them only where there is one.
    jumped = np.nonzero(jump_step < STEPS)
    after = _STEP_INDEX > jump_step[jumped][:, None]
    path[jumped] += jump[jumped][:, None] * after
    path[..., 0] = opens
    path[..., -1] = closes
    return np.clip(path, low[..., None], high[..., None], out=path)


def _stretch(room: np.ndarray, excursion: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """The largest factor (up to the cap) that keeps every stretched excursion within room."""
    ratio = np.divide(room, excursion, out=np.full(room.shape, np.inf), where=moving)
    return np.clip(ratio.min(axis=-1), 0.0, _STRETCH_CAP)[..., None]


def _volume_shares(path: np.ndarray, step_sigma: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Each step's share of the bar's volume: bigger moves trade more."""
    weight = np.abs(np.diff(path, axis=-1))
    weight *= (VOLUME_MOVE / step_sigma)[..., None]
    weight += 1.0
    weight *= np.exp(_VOLUME_NOISE * noise)
    weight /= weight.sum(axis=-1, keepdims=True)
    return weight


def _cumulative(volume: np.ndarray) -> np.ndarray:
    cum = np.zeros(volume.shape[:-1] + (STEPS + 1,))
    np.cumsum(volume, axis=-1, out=cum[..., 1:])
    return cum


def _minute_draws(
    seed: int, first: int, stop: int, coins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minute-level randomness of hours [first, stop), drawn a UTC day at a time.

    Returns the market factor (hours, 60), per-coin normals (coins, hours, 2, 60) for the
    path and the volume, and per-coin Exp(1) (coins, hours, 2, 60) for the minute highs and
    lows. Each coin's draws follow the earlier coins' in the day's streams, so fewer coins give
    exactly the same draws for the coins they keep.
    """
    factor, normals, exponentials = [], [], []
    for day in range(first // _DAY_HOURS, (stop - 1) // _DAY_HOURS + 1):
        hours = slice(max(first - day * _DAY_HOURS, 0), min(stop - day * _DAY_HOURS, _DAY_HOURS))
        shape = (coins, _DAY_HOURS, 2, STEPS)
        draws = generator(seed, Stream.MINUTES, day, 0)
        factor.append(draws.standard_normal((_DAY_HOURS, STEPS))[hours])
        normals.append(draws.standard_normal(shape)[:, hours])
        extremes = generator(seed, Stream.MINUTES, day, 1).standard_exponential(shape)
        exponentials.append(extremes[:, hours])
    return (
        np.concatenate(factor),
        np.concatenate(normals, axis=1),
        np.concatenate(exponentials, axis=1),
    )


def hour_paths(
    seed: int, grid: HourGrid, first: int, stop: int, width: int | None = None
) -> HourPaths:
    """Minute paths and minute bars of hours [first, stop), for the first ``width`` coins
    (a narrower width gives exactly the same paths for the coins it keeps)."""
    coins = len(grid.beta) if width is None else width
    span = grid.span(first, stop, coins)
    beta, idio = grid.beta[:coins, None, None], grid.idio[:coins, None, None]
    factor, own, extremes = _minute_draws(seed, first, stop, coins)
    shocks = idio * own[:, :, 0]
    shocks += beta * factor
    opens, closes, high, low = span.open, span.close, span.high, span.low
    sigma, jump = span.sigma, span.jump
    jump_minute = np.minimum(span.jump_at // 60, STEPS).astype(np.int64)
    path = fit_bridge(opens, closes, jump, jump_minute, high, low, sigma, shocks)

    # Minute bars: each minute's extreme drawn for its own bridge, capped by the hour's, and
    # the minute where the path peaks carries the hour's extreme as its wick.
    starts, ends = path[..., :-1], path[..., 1:].copy()
    jumped = np.nonzero(jump_minute < STEPS)
    at_jump = (*jumped, jump_minute[jumped])
    ends[at_jump] -= jump[jumped]  # the jump minute's bridge runs to the pre-jump price
    anchor_high = np.maximum(starts, ends)
    anchor_low = np.minimum(starts, ends)
    anchor_high[at_jump] += np.maximum(jump[jumped], 0.0)
    anchor_low[at_jump] += np.minimum(jump[jumped], 0.0)
    step_sigma = sigma / np.sqrt(STEPS)
    spread = step_sigma[..., None]
    up = range_excess(starts, ends, spread, extremes[:, :, 0])
    down = range_excess(-starts, -ends, spread, extremes[:, :, 1])
    minute_high = anchor_high + up
    minute_low = anchor_low - down
    np.minimum(minute_high, high[..., None], out=minute_high)
    np.maximum(minute_low, low[..., None], out=minute_low)
    np.put_along_axis(minute_high, anchor_high.argmax(axis=-1)[..., None], high[..., None], -1)
    np.put_along_axis(minute_low, anchor_low.argmin(axis=-1)[..., None], low[..., None], -1)

    normal_sigma = np.broadcast_to(grid.sigma_hour[:coins, None] / np.sqrt(STEPS), sigma.shape)
    volume = _volume_shares(path, normal_sigma, own[:, :, 1])
    volume *= span.volume[..., None]
    return HourPaths(
        first=first,
        path=path,
        high=minute_high,
        low=minute_low,
        volume=volume,
        cum_volume=_cumulative(volume),
        sigma=step_sigma,
        jump=jump,
        jump_minute=jump_minute,
        jump_second=(span.jump_at % 60).astype(np.int64),
    )


def minute_path(seed: int, grid: HourGrid, hour: HourPaths, minute: int) -> MinutePath:
    """The second path of global ``minute``, inside ``hour`` (a one-hour HourPaths)."""
    at = minute - hour.first * STEPS
    draws = generator(seed, Stream.SECONDS, minute)
    factor = draws.standard_normal(STEPS)
    own = draws.standard_normal((len(grid.beta), 2, STEPS))
    shocks = grid.beta[:, None] * factor + grid.idio[:, None] * own[:, 0]
    jumps_here = hour.jump_minute[:, 0] == at
    high, low = hour.high[:, 0, at], hour.low[:, 0, at]
    path = fit_bridge(
        hour.path[:, 0, at],
        hour.path[:, 0, at + 1],
        np.where(jumps_here, hour.jump[:, 0], 0.0),
        np.where(jumps_here, hour.jump_second[:, 0], STEPS),
        high,
        low,
        hour.sigma[:, 0],
        shocks,
    )
    # The minute's high and low are traded prices: one interior second reaches each exactly.
    coins = np.arange(len(path))
    top = path[:, 1:-1].argmax(axis=1) + 1
    path[coins, top] = high
    rest = path[:, 1:-1].copy()
    rest[coins, top - 1] = np.inf
    path[coins, rest.argmin(axis=1) + 1] = low

    normal_sigma = grid.sigma_hour / STEPS
    volume = hour.volume[:, 0, at, None] * _volume_shares(path, normal_sigma, own[:, 1])
    return MinutePath(path=path, volume=volume, cum_volume=_cumulative(volume))
