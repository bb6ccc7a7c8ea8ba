"""Paths inside an hour (minute by minute) and inside a minute (second by second).

Each level is a Brownian bridge between endpoints the coarser level already fixed, drawn from a
stream keyed by the hour or minute index. The coarser level also fixed the bar's high and low,
so the bridge is stretched or shrunk to stay inside them, and the extremes are then placed
exactly: an hour's high is the highest of its minute highs, and a minute's high is reached by
one of its seconds. Bars of every timeframe therefore agree with each other and with the ticks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ledgers.sources.sim.path import VOLUME_MOVE, HourGrid, range_excess
from ledgers.sources.sim.streams import Stream, exponentials, generator

STEPS = 60  # minutes in an hour, seconds in a minute
_STRETCH_CAP = 3.0  # the most a bridge's excursions are stretched towards the drawn extreme
_WICK = 0.6  # the stretched path stops this many step sigmas short of the extreme
_VOLUME_NOISE = 0.5  # lognormal sigma of each step's share of volume
_TIMES = np.arange(STEPS + 1) / STEPS
_STEP_INDEX = np.arange(STEPS + 1)


@dataclass(frozen=True, slots=True)
class HourPaths:
    """Minute paths of consecutive hours from ``first``; arrays are (hours, coins, ...)."""

    first: int
    path: np.ndarray  # (..., 61) log mid at each minute boundary
    high: np.ndarray  # (..., 60) minute bars
    low: np.ndarray
    volume: np.ndarray
    cum_volume: np.ndarray  # (..., 61) volume traded since the hour began
    sigma: np.ndarray  # (hours, coins) diffusive sigma of one minute
    jump: np.ndarray  # (hours, coins)
    jump_minute: np.ndarray  # (hours, coins), STEPS when the hour has no jump
    jump_second: np.ndarray


@dataclass(frozen=True, slots=True)
class MinutePath:
    """Every coin's second path through one minute; arrays are (coins, ...)."""

    minute: int
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


def hour_paths(seed: int, grid: HourGrid, first: int, stop: int) -> HourPaths:
    """Minute paths and minute bars of hours [first, stop)."""
    span = grid.span(first, stop)
    hours, coins = stop - first, len(grid.beta)
    factor = np.empty((hours, STEPS))
    # Per coin and minute: diffusion, two pairs for the high and low draws, volume noise.
    own = np.empty((hours, coins, 6, STEPS))
    for k in range(hours):
        draws = generator(seed, Stream.MINUTES, first + k)
        factor[k] = draws.standard_normal(STEPS)
        own[k] = draws.standard_normal((coins, 6, STEPS))
    shocks = grid.idio[:, None] * own[:, :, 0]
    shocks += grid.beta[:, None] * factor[:, None, :]
    opens, closes = span.open.T, span.close.T
    high, low, sigma, jump = span.high.T, span.low.T, span.sigma.T, span.jump.T
    jump_minute = np.minimum(span.jump_at.T // 60, STEPS).astype(np.int64)
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
    up = range_excess(starts, ends, spread, exponentials(own[:, :, 1], own[:, :, 2]))
    down = range_excess(-starts, -ends, spread, exponentials(own[:, :, 3], own[:, :, 4]))
    minute_high = anchor_high + up
    minute_low = anchor_low - down
    np.minimum(minute_high, high[..., None], out=minute_high)
    np.maximum(minute_low, low[..., None], out=minute_low)
    np.put_along_axis(minute_high, anchor_high.argmax(axis=-1)[..., None], high[..., None], -1)
    np.put_along_axis(minute_low, anchor_low.argmin(axis=-1)[..., None], low[..., None], -1)

    normal_sigma = np.broadcast_to(grid.sigma_hour / np.sqrt(STEPS), sigma.shape)
    volume = _volume_shares(path, normal_sigma, own[:, :, 5])
    volume *= span.volume.T[..., None]
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
        jump_second=(span.jump_at.T % 60).astype(np.int64),
    )


def minute_path(seed: int, grid: HourGrid, hour: HourPaths, minute: int) -> MinutePath:
    """The second path of global ``minute``, inside ``hour`` (a one-hour HourPaths)."""
    at = minute - hour.first * STEPS
    draws = generator(seed, Stream.SECONDS, minute)
    factor = draws.standard_normal(STEPS)
    own = draws.standard_normal((len(grid.beta), 2, STEPS))
    shocks = grid.beta[:, None] * factor + grid.idio[:, None] * own[:, 0]
    jumps_here = hour.jump_minute[0] == at
    high, low = hour.high[0, :, at], hour.low[0, :, at]
    path = fit_bridge(
        hour.path[0, :, at],
        hour.path[0, :, at + 1],
        np.where(jumps_here, hour.jump[0], 0.0),
        np.where(jumps_here, hour.jump_second[0], STEPS),
        high,
        low,
        hour.sigma[0],
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
    volume = hour.volume[0, :, at, None] * _volume_shares(path, normal_sigma, own[:, 1])
    return MinutePath(minute=minute, path=path, volume=volume, cum_volume=_cumulative(volume))
