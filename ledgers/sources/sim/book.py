"""Order-book depth around the simulated quotes."""

from __future__ import annotations

import numpy as np

from ledgers.sources.sim.universe import Coin

_GAP_TICKS = (1, 4)  # each level steps this many price units (at least a tick) further away
_TOP_SIZE = 0.15  # a best level rests about this share of a minute's volume
_SIZE_GROWTH = 0.35  # per level away from the touch


def depth_side(
    coin: Coin, best: float, direction: int, unit: int, draws: np.ndarray
) -> tuple[tuple[float, float], ...]:
    """Levels from ``best`` stepping away (``direction`` -1 for bids, +1 for asks).

    ``unit`` is the step in ticks; ``draws`` are (levels, 2) uniforms for gaps and sizes.
    Prices stay strictly monotonic and positive, sizes are whole lots of at least the minimum.
    """
    scale = 10.0**coin.price_decimals
    lots = 10.0**coin.amount_decimals
    gaps = _GAP_TICKS[0] + np.floor(draws[:, 0] * (_GAP_TICKS[1] - _GAP_TICKS[0]))
    gaps[0] = 0.0
    ticks = np.rint(best * scale) + direction * unit * np.cumsum(gaps)
    ticks = ticks[ticks > 0]
    away = np.arange(len(ticks))
    wanted = coin.minute_volume * _TOP_SIZE * (1.0 + _SIZE_GROWTH * away)
    wanted *= np.exp(1.2 * (draws[: len(ticks), 1] - 0.5))
    sizes = np.maximum(np.rint(wanted * lots) / lots, coin.min_amount)
    return tuple(zip((ticks / scale).tolist(), sizes.tolist(), strict=True))


def level_unit(coin: Coin, bid: float, ask: float) -> int:
    """The book's price step in ticks: about a quarter of the quoted spread."""
    spread_ticks = (ask - bid) * 10.0**coin.price_decimals
    return max(1, round(0.25 * spread_ticks))
