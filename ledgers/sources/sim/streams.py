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
    HOUR_RANGES = 5  # hourly highs, lows and volume noise, by block (then 0 or 1)
    MINUTES = 6  # minute paths inside hours, by UTC day (then 0: normals, 1: exponentials)
    SECONDS = 7  # second path inside a minute, by minute index
    BOOK = 8  # depth beyond the best quotes, by coin and second


def generator(seed: int, stream: Stream, *index: int) -> np.random.Generator:
    """A fresh PCG64 generator for one (seed, stream, index) key."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, int(stream), *index))))
