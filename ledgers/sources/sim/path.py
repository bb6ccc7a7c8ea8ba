"""The hourly backbone of the simulated market.

Each coin's log-price is a slow Ornstein–Uhlenbeck process around its starting level, driven by
a one-factor market model, scaled by a market-wide volatility regime and hit by occasional
jumps. Hours are generated in fixed blocks from ``EPOCH``; a block depends only on the seed and
the state the previous block ended in, so the path is a pure function of (seed, coins, time)
whatever order it is asked for in. Block end states are kept (a few floats each) so any block
can be rebuilt; only a bounded number of blocks stay in memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from ledgers.sources.sim.streams import Stream, generator
from ledgers.sources.sim.universe import CoinTable

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
BLOCK_HOURS = 720
HOURS_PER_YEAR = 8760.0
REVERSION = 0.5 ** (1.0 / (120 * 24))  # per hour: a 120-day half-life

# Market-wide volatility regimes: calm, normal, turbulent.
REGIME_VOL = np.array([0.6, 1.0, 2.5])
REGIME_SPREAD = np.array([0.8, 1.0, 2.2])
_REGIME_STAY = np.array([240.0, 300.0, 60.0])  # mean hours spent in each regime
_REGIME_NEXT = np.array([[0.0, 0.8, 0.2], [0.55, 0.0, 0.45], [0.3, 0.7, 0.0]])

# Jumps: Binomial(slots, p) per block stands in for Poisson so every coin draws a fixed count.
_COIN_JUMP_SLOTS = 12
_COIN_JUMP_SIZE = (0.03, 0.12)
_MARKET_JUMP_SLOTS = 6
_MARKET_JUMPS_PER_MONTH = 0.8
_MARKET_JUMP_SIZE = (0.03, 0.10)
_MARKET_JUMP_UP = 0.45  # market-wide shocks lean to the downside
_LEADER_BETA = 0.93  # a coin with this beta takes market jumps at full size

VOLUME_MOVE = 1.5  # extra volume per standard deviation of the hour's move
_VOLUME_NOISE = 0.45  # lognormal sigma of hourly volume
# Mean of 1 + VOLUME_MOVE·|z| for a standard normal z: dividing by it keeps a coin's average
# volume near its nominal minute volume in a normal regime.
_VOLUME_NORM = 1.0 + VOLUME_MOVE * float(np.sqrt(2.0 / np.pi))


def _regime_variance() -> float:
    """Long-run mean of the squared regime multiplier, to calibrate diffusive volatility."""
    values, vectors = np.linalg.eig(_REGIME_NEXT.T)
    visits = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    time_share = visits / visits.sum() * _REGIME_STAY
    time_share /= time_share.sum()
    return float(time_share @ REGIME_VOL**2)


def _uniform_square_mean(low: float, high: float) -> float:
    return (low * low + low * high + high * high) / 3.0


def range_excess(a: np.ndarray, b: np.ndarray, sigma: np.ndarray, e: np.ndarray) -> np.ndarray:
    """How far a Brownian bridge from ``a`` to ``b`` rises above max(a, b), by inversion.

    ``e`` is Exp(1); P(max > m) = exp(-2 (m - a)(m - b) / sigma²) gives the exact law.
    """
    half_gap = 0.5 * (b - a)
    return np.sqrt(half_gap * half_gap + 0.5 * sigma * sigma * e) - np.abs(half_gap)


@dataclass(frozen=True, slots=True)
class HourSpan:
    """Consecutive hours of the first coins, in log-price; arrays are (coins, hours)."""

    open: np.ndarray
    close: np.ndarray
    high: np.ndarray
    low: np.ndarray
    volume: np.ndarray
    sigma: np.ndarray  # diffusive standard deviation of the hour's log move
    jump: np.ndarray  # log size of the hour's jump, 0 when none
    jump_at: np.ndarray  # seconds into the hour the jump happens, 3600 when none


@dataclass(frozen=True, slots=True)
class Jump:
    """One jump of the path, at ``hour`` (since the epoch) plus ``at`` seconds. A coin's own jump
    names its ``coin``; a market-wide shock has none and moves each coin by ``size`` times
    ``HourGrid.market_jump_scale``."""

    hour: int
    at: float
    size: float  # log size
    coin: int | None


@dataclass(frozen=True, slots=True)
class _State:
    x: np.ndarray  # log deviation from each coin's level
    regime: int
    regime_left: int  # hours before the regime is redrawn


@dataclass(frozen=True, slots=True)
class _Jumps:
    """A block's jumps as events (they are rare, so a dense array would mostly hold zeros)."""

    coin: np.ndarray
    hour: np.ndarray  # within the block
    size: np.ndarray  # log size
    at: np.ndarray  # seconds into the hour
    market: np.ndarray  # True for a coin's share of a market-wide shock

    def dense(self, coins: int, hours: slice) -> tuple[np.ndarray, np.ndarray]:
        """Jump sizes (0 when none) and times (3600 when none) of the first ``coins`` coins as
        (coins, hours) arrays."""
        size = np.zeros((coins, hours.stop - hours.start))
        at = np.full(size.shape, 3600.0)
        wanted = (self.coin < coins) & (self.hour >= hours.start) & (self.hour < hours.stop)
        inside = np.flatnonzero(wanted)
        coin, hour = self.coin[inside], self.hour[inside] - hours.start
        np.add.at(size, (coin, hour), self.size[inside])  # two jumps in one hour add up
        # When two land in one hour the later event (a coin's own jump) sets the time; numpy
        # does not promise an order for repeated indices, so keep only the last of each.
        key = coin * size.shape[1] + hour
        _, from_end = np.unique(key[::-1], return_index=True)
        last = inside[len(inside) - 1 - from_end]
        at[self.coin[last], self.hour[last] - hours.start] = self.at[last]
        return size, at


@dataclass(frozen=True, slots=True)
class _Block:
    log_mid: np.ndarray  # (coins, BLOCK_HOURS + 1): the last column is the next block's first
    regime: np.ndarray  # (BLOCK_HOURS,)
    jumps: _Jumps


@dataclass(frozen=True, slots=True)
class _Ranges:
    """A block's hourly highs, lows (as float32 excess over their anchor) and volumes.

    They are drawn only when bars ask, from their own stream; float32 halves their memory and
    stays a pure function of the block.
    """

    high_excess: np.ndarray
    low_excess: np.ndarray
    volume: np.ndarray


class HourGrid:
    """Hourly log mids, ranges and volumes of every coin, generated on demand."""

    def __init__(self, seed: int, coins: CoinTable, memory_mb: float = 32.0) -> None:
        # Up to fourteen blocks (420 days: a year of daily bars) stay in memory, fewer for a big
        # universe; ranges (three float32 arrays a block) get half that memory.
        self._seed = seed
        self._coins = coins
        count = len(coins.vol)
        block_mb = count * (BLOCK_HOURS + 1) * 8 / 1e6
        ranges_mb = count * BLOCK_HOURS * 3 * 4 / 1e6
        self._keep = int(min(14, max(2, memory_mb // block_mb)))
        self._keep_ranges = int(min(14, max(2, memory_mb / 2 // ranges_mb)))
        coin_jump_rate = coins.jumps_per_month * BLOCK_HOURS / 720.0
        self._coin_jump_p = np.minimum(coin_jump_rate / _COIN_JUMP_SLOTS, 1.0)
        self._market_jump_p = _MARKET_JUMPS_PER_MONTH * BLOCK_HOURS / 720.0 / _MARKET_JUMP_SLOTS
        self.market_jump_scale = coins.beta / _LEADER_BETA
        jump_variance = 12.0 * (
            coins.jumps_per_month * _uniform_square_mean(*_COIN_JUMP_SIZE)
            + _MARKET_JUMPS_PER_MONTH
            * self.market_jump_scale**2
            * _uniform_square_mean(*_MARKET_JUMP_SIZE)
        )
        diffusive = np.maximum(coins.vol**2 - jump_variance, (0.4 * coins.vol) ** 2)
        self.sigma_hour = np.sqrt(diffusive / _regime_variance() / HOURS_PER_YEAR)
        self.beta = coins.beta
        self.idio = np.sqrt(1.0 - coins.beta**2)
        self._states = [_State(np.zeros(count), regime=1, regime_left=0)]
        self._blocks: OrderedDict[int, _Block] = OrderedDict()
        self._range_cache: OrderedDict[int, _Ranges] = OrderedDict()
        # Backfills may run in a worker thread while ticks are served: the walk must append
        # each state exactly once, and the caches must not be evicted under a reader.
        self._lock = threading.RLock()

    def span(self, first: int, stop: int, width: int | None = None) -> HourSpan:
        """Hours [first, stop) of the first ``width`` coins (all by default), with ranges."""
        if first < 0:
            raise ValueError("the simulated market has no history before " + EPOCH.isoformat())
        count = len(self.beta) if width is None else width
        parts: list[tuple[_Block, _Ranges, slice]] = []
        for index in range(first // BLOCK_HOURS, (stop - 1) // BLOCK_HOURS + 1):
            block = self._block(index)
            low = max(first - index * BLOCK_HOURS, 0)
            high = min(stop - index * BLOCK_HOURS, BLOCK_HOURS)
            parts.append((block, self._ranges(index, block, count), slice(low, high)))

        def gather(pick: Callable[[_Block, _Ranges, slice], np.ndarray]) -> np.ndarray:
            arrays = [pick(block, ranges, hours) for block, ranges, hours in parts]
            return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=-1)

        regime = gather(lambda b, r, s: b.regime[s])
        opens = gather(lambda b, r, s: b.log_mid[:count, s])
        closes = gather(lambda b, r, s: b.log_mid[:count, s.start + 1 : s.stop + 1])
        dense = [block.jumps.dense(count, hours) for block, _, hours in parts]
        jump = np.concatenate([size for size, _ in dense], axis=1)
        jump_at = np.concatenate([at for _, at in dense], axis=1)
        before_jump = closes - jump
        high_excess = gather(lambda b, r, s: r.high_excess[:count, s])
        low_excess = gather(lambda b, r, s: r.low_excess[:count, s])
        return HourSpan(
            open=opens,
            close=closes,
            high=np.maximum(opens, before_jump) + np.maximum(jump, 0.0) + high_excess,
            low=np.minimum(opens, before_jump) + np.minimum(jump, 0.0) - low_excess,
            volume=gather(lambda b, r, s: r.volume[:count, s]).astype(np.float64),
            sigma=self.sigma_hour[:count, None] * REGIME_VOL[regime],
            jump=jump,
            jump_at=jump_at,
        )

    def jumps(self, first: int, stop: int) -> list[Jump]:
        """The jumps of hours [first, stop) in time order: each coin's own, and each market-wide
        shock once (as its leader-sized move, ``coin`` None)."""
        found: list[Jump] = []
        for index in range(max(first, 0) // BLOCK_HOURS, (stop - 1) // BLOCK_HOURS + 1):
            jumps = self._block(index).jumps
            hour = jumps.hour + index * BLOCK_HOURS
            own = ~jumps.market
            leads = jumps.market & (jumps.coin == 0)  # one row per shock: the first coin's
            scale = self.market_jump_scale[0]
            for k in np.flatnonzero((own | leads) & (hour >= first) & (hour < stop)):
                coin = int(jumps.coin[k]) if own[k] else None
                size = float(jumps.size[k]) / (1.0 if own[k] else scale)
                found.append(Jump(int(hour[k]), float(jumps.at[k]), size, coin))
        return sorted(found, key=lambda jump: (jump.hour, jump.at))

    def regime(self, hour: int) -> int:
        """The volatility regime (0 calm, 1 normal, 2 turbulent) during ``hour``."""
        return int(self._block(hour // BLOCK_HOURS).regime[hour % BLOCK_HOURS])

    def _block(self, index: int) -> _Block:
        with self._lock:
            return self._cached_block(index)

    def _cached_block(self, index: int) -> _Block:
        block = self._blocks.get(index)
        if block is not None:
            self._blocks.move_to_end(index)
            return block
        # A block past the known states is reached by walking forward from the last one; every
        # block generated leaves the state the next one starts from.
        for walked in range(min(index, len(self._states) - 1), index + 1):
            block, state = self._generate(walked, self._states[walked])
            if walked + 1 == len(self._states):
                self._states.append(state)
            self._remember(walked, block)
        assert block is not None
        return block

    def _remember(self, index: int, block: _Block) -> None:
        self._blocks[index] = block
        self._blocks.move_to_end(index)
        while len(self._blocks) > self._keep:
            self._blocks.popitem(last=False)

    def _generate(self, index: int, state: _State) -> tuple[_Block, _State]:
        regime, regime_now, regime_left = self._regimes(index, state)
        jumps = self._jumps(index)
        jump, _ = jumps.dense(len(self.beta), slice(0, BLOCK_HOURS))
        shocks = generator(self._seed, Stream.DIFFUSION, index)
        factor = shocks.standard_normal(BLOCK_HOURS)
        own = shocks.standard_normal((len(self.beta), BLOCK_HOURS))
        step = self.sigma_hour[:, None] * REGIME_VOL[regime]
        eps = step * (self.beta[:, None] * factor + self.idio[:, None] * own) + jump
        # x_k = φ^k (x_0 + Σ_{j<k} φ^-(j+1) ε_j): the OU recursion for a whole block at once;
        # φ^-720 is only about 1.19, so the discounting stays well conditioned.
        powers = REVERSION ** np.arange(1, BLOCK_HOURS + 1)
        x = np.empty((len(self.beta), BLOCK_HOURS + 1))
        x[:, 0] = state.x
        x[:, 1:] = powers * (state.x[:, None] + np.cumsum(eps / powers, axis=1))
        block = _Block(self._coins.log_price[:, None] + x, regime, jumps)
        return block, _State(x[:, -1].copy(), regime_now, regime_left)

    def _regimes(self, index: int, state: _State) -> tuple[np.ndarray, int, int]:
        draws = generator(self._seed, Stream.REGIMES, index)
        regime = np.empty(BLOCK_HOURS, dtype=np.int8)
        now, left, filled = state.regime, state.regime_left, 0
        while filled < BLOCK_HOURS:
            if left == 0:
                now = int(np.searchsorted(np.cumsum(_REGIME_NEXT[now]), draws.random()))
                left = int(draws.geometric(1.0 / _REGIME_STAY[now]))
            run = min(left, BLOCK_HOURS - filled)
            regime[filled : filled + run] = now
            filled += run
            left -= run
        return regime, now, left

    def _jumps(self, index: int) -> _Jumps:
        draws = generator(self._seed, Stream.JUMPS, index)
        market = draws.random((_MARKET_JUMP_SLOTS, 4))  # fixed count first: coins follow
        own = draws.random((len(self.beta), _COIN_JUMP_SLOTS, 4))
        count = len(self.beta)
        # Given that a slot fired, its firing draw / p is uniform: it places the jump in the hour.
        fired = market[market[:, 0] < self._market_jump_p]
        low, high = _MARKET_JUMP_SIZE
        shock = (low + (high - low) * fired[:, 2]) * np.where(fired[:, 3] < _MARKET_JUMP_UP, 1, -1)
        market_events = (
            np.tile(np.arange(count), len(fired)),
            np.repeat((fired[:, 1] * BLOCK_HOURS).astype(np.int64), count),
            (shock[:, None] * self.market_jump_scale).ravel(),
            np.repeat(fired[:, 0] / self._market_jump_p * 3600.0, count),
            np.ones(len(fired) * count, dtype=bool),
        )
        coin, slot = np.nonzero(own[:, :, 0] < self._coin_jump_p[:, None])
        picked = own[coin, slot]
        low, high = _COIN_JUMP_SIZE
        size = (low + (high - low) * picked[:, 2]) * np.where(picked[:, 3] < 0.5, 1.0, -1.0)
        coin_events = (
            coin,
            (picked[:, 1] * BLOCK_HOURS).astype(np.int64),
            size,
            picked[:, 0] / self._coin_jump_p[coin] * 3600.0,
            np.zeros(len(coin), dtype=bool),
        )
        return _Jumps(
            *(np.concatenate(pair) for pair in zip(market_events, coin_events, strict=True))
        )

    def _ranges(self, index: int, block: _Block, width: int) -> _Ranges:
        with self._lock:
            return self._cached_ranges(index, block, width)

    def _cached_ranges(self, index: int, block: _Block, width: int) -> _Ranges:
        ranges = self._range_cache.get(index)
        if ranges is not None and len(ranges.volume) >= width:
            self._range_cache.move_to_end(index)
            return ranges
        # Exp(1) draws for the high and low and a normal for volume noise, from two keyed
        # generators. Only the first ``width`` coins are drawn: later coins' draws follow theirs
        # in each stream, so drawing more coins later repeats these exactly.
        spread = generator(self._seed, Stream.HOUR_RANGES, index, 0).standard_exponential(
            (width, 2, BLOCK_HOURS)
        )
        noise = generator(self._seed, Stream.HOUR_RANGES, index, 1).standard_normal(
            (width, BLOCK_HOURS)
        )
        opens, closes = block.log_mid[:width, :-1], block.log_mid[:width, 1:]
        sigma_hour = self.sigma_hour[:width, None]
        jump, _ = block.jumps.dense(width, slice(0, BLOCK_HOURS))
        before_jump = closes - jump
        sigma = sigma_hour * REGIME_VOL[block.regime]
        high = range_excess(opens, before_jump, sigma, spread[:, 0])
        low = range_excess(-opens, -before_jump, sigma, spread[:, 1])
        move = np.abs(closes - opens)
        move *= VOLUME_MOVE / sigma_hour
        move += 1.0
        move *= np.exp(_VOLUME_NOISE * noise - 0.5 * _VOLUME_NOISE**2)
        move *= 60.0 / _VOLUME_NORM * self._coins.minute_volume[:width, None]
        ranges = _Ranges(
            high.astype(np.float32),
            low.astype(np.float32),
            move.astype(np.float32),
        )
        self._range_cache[index] = ranges
        while len(self._range_cache) > self._keep_ranges:
            self._range_cache.popitem(last=False)
        return ranges
