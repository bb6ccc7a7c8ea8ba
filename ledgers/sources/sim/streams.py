"""Named random streams: every draw of the simulator comes from a generator keyed by what it is for.

Keying each stream by (seed, purpose, index) makes any piece of the market reproducible on its
own, so the path at a given time never depends on which calls came before it.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    COINS = 1  # synthetic coins' parameters, by coin index
    DIFFUSION = 2  # hourly factor and coin shocks, by block
    JUMPS = 3  # market-wide and coin jumps, by block
    REGIMES = 4  # volatility regime switches, by block
    HOUR_RANGES = 5  # hourly highs, lows and volume noise, by block
    MINUTES = 6  # minute path inside an hour, by hour index
    SECONDS = 7  # second path inside a minute, by minute index
    BOOK = 8  # depth beyond the best quotes, by coin and second


def generator(seed: int, stream: Stream, *index: int) -> np.random.Generator:
    """A fresh PCG64 generator for one (seed, stream, index) key."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, int(stream), *index))))


def exponentials(z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
    """Exp(1) draws from two arrays of standard normals: (z1² + z2²) / 2.

    Drawing only normals keeps one call per key, so a coin's draws sit at the same place in the
    stream however many coins follow it (adding coins never moves existing ones).
    """
    e = z1 * z1
    e += z2 * z2
    e *= 0.5
    return e
