"""Strategies: one interface for the live runner and the backtester, and the built-ins.

A strategy turns closed bars into a target exposure per bar, decided at that bar's close
(1.0 fully long, 0.0 flat; spot is long-only). The live runner acts on ``targets(bars)[-1]``
for the latest closed bars; the backtester reads the whole array, so both run the same code.
Targets at bar ``i`` depend only on bars ``0..i``: nothing looks ahead.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.trading.bars import Bars


class Strategy(Protocol):
    name: str  # registry name, e.g. "ma_cross"
    params: Mapping[str, float | int]

    @property
    def warmup(self) -> int:
        """Bars that come before the first meaningful target (targets are 0 until then)."""
        ...

    def targets(self, bars: Bars) -> np.ndarray:
        """Target exposure per bar as float64, decided at each bar's close."""
        ...


class StrategyError(ValueError):
    """A strategy or its parameters cannot be used; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: type[int] | type[float]
    default: int | float
    help: str


class BuiltinStrategy(ABC):
    """What the registry knows of a built-in: its parameters and a one-line description."""

    name: str
    description: ClassVar[str]
    PARAMS: ClassVar[tuple[Param, ...]]
    params: Mapping[str, float | int]

    @property
    @abstractmethod
    def warmup(self) -> int: ...

    @abstractmethod
    def targets(self, bars: Bars) -> np.ndarray: ...

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class MaCrossover(BuiltinStrategy):
    """Long while the fast simple moving average of closes is above the slow one."""

    name = "ma_cross"
    description = "Long while SMA(fast) of closes is above SMA(slow); flat otherwise."
    PARAMS = (
        Param("fast", int, 10, "bars in the fast moving average"),
        Param("slow", int, 30, "bars in the slow moving average"),
    )

    def __init__(self, fast: int = 10, slow: int = 30) -> None:
        _at_least(1, fast=fast, slow=slow)
        if fast >= slow:
            raise StrategyError(f"fast ({fast}) must be less than slow ({slow})")
        self.fast, self.slow = fast, slow
        self.params = MappingProxyType({"fast": fast, "slow": slow})

    @property
    def warmup(self) -> int:
        return self.slow - 1

    def targets(self, bars: Bars) -> np.ndarray:
        close = bars.close
        n = len(close)
        out = np.zeros(n)
        if n < self.slow:
            return out
        # Sums of window w ending at bar i are c[i+1] - c[i+1-w]. Centring on the first close
        # keeps the running sum small, so a flat series compares exactly equal.
        c = np.empty(n + 1)
        c[0] = 0.0
        np.cumsum(close - close[0], out=c[1:])
        fast, slow = self.fast, self.slow
        fast_sum = c[slow:] - c[slow - fast : n + 1 - fast]
        slow_sum = c[slow:] - c[: n + 1 - slow]
        # SMA(fast) > SMA(slow) without dividing: sum_f / fast > sum_s / slow.
        out[slow - 1 :] = fast_sum * slow > slow_sum * fast
        return out


class RsiReversion(BuiltinStrategy):
    """Buy the dip: enter when Wilder's RSI crosses below ``lower``, exit above ``upper``."""

    name = "rsi"
    description = "Wilder's RSI: enter when it crosses below lower, exit when it rises above upper."
    PARAMS = (
        Param("period", int, 14, "bars in Wilder's RSI"),
        Param("lower", float, 30.0, "RSI level whose downward cross enters"),
        Param("upper", float, 70.0, "RSI level above which the position exits"),
    )

    def __init__(self, period: int = 14, lower: float = 30.0, upper: float = 70.0) -> None:
        _at_least(1, period=period)
        if not 0 < lower < upper < 100:
            raise StrategyError(
                f"lower and upper must satisfy 0 < lower < upper < 100, "
                f"got lower={lower:g} upper={upper:g}"
            )
        self.period, self.lower, self.upper = period, float(lower), float(upper)
        self.params = MappingProxyType({"period": period, "lower": self.lower, "upper": self.upper})

    @property
    def warmup(self) -> int:
        # The first RSI is at bar `period`; a cross needs the one before it too.
        return self.period + 1

    def targets(self, bars: Bars) -> np.ndarray:
        n = len(bars)
        if n <= self.warmup:
            return np.zeros(n)
        value = rsi(bars.close, self.period)
        with np.errstate(invalid="ignore"):  # NaN during warmup compares False
            entries = np.zeros(n, dtype=bool)
            entries[1:] = (value[1:] < self.lower) & (value[:-1] >= self.lower)
            exits = value > self.upper
        return _hold(entries, exits)


class Breakout(BuiltinStrategy):
    """Donchian breakout: enter above the previous highs, exit below the previous lows."""

    name = "breakout"
    description = (
        "Enter when close beats the highest high of the previous lookback bars; "
        "exit when it falls below the lowest low of the previous exit_lookback bars."
    )
    PARAMS = (
        Param("lookback", int, 20, "bars whose highest high a close must beat to enter"),
        Param("exit_lookback", int, 10, "bars whose lowest low a close must break to exit"),
    )

    def __init__(self, lookback: int = 20, exit_lookback: int = 10) -> None:
        _at_least(1, lookback=lookback, exit_lookback=exit_lookback)
        self.lookback, self.exit_lookback = lookback, exit_lookback
        self.params = MappingProxyType({"lookback": lookback, "exit_lookback": exit_lookback})

    @property
    def warmup(self) -> int:
        return max(self.lookback, self.exit_lookback)

    def targets(self, bars: Bars) -> np.ndarray:
        n = len(bars)
        if n <= self.warmup:
            return np.zeros(n)
        close = bars.close
        entries = np.zeros(n, dtype=bool)
        exits = np.zeros(n, dtype=bool)
        k = self.lookback
        # Window j of the view is bars j..j+k-1: the k bars before bar j+k.
        highest = sliding_window_view(bars.high, k)[: n - k].max(axis=1)
        entries[k:] = close[k:] > highest
        k = self.exit_lookback
        lowest = sliding_window_view(bars.low, k)[: n - k].min(axis=1)
        exits[k:] = close[k:] < lowest
        entries[: self.warmup] = False
        return _hold(entries, exits)


class SignalStrategy:
    """Targets given per bar (open time in epoch seconds → exposure 0..1), as the Lab's model
    decided them out of sample; flat on every bar not given. Backtested like any strategy, never
    deployed: it is not in the registry, and it knows nothing of bars it was not given."""

    name = "lab_signal"
    warmup = 0

    def __init__(self, targets: Mapping[int, float]) -> None:
        for ts, target in targets.items():
            if not 0.0 <= target <= 1.0:
                raise StrategyError(f"a signal's target is 0..1, got {target} at {ts}")
        self._targets = dict(targets)
        self.params: Mapping[str, float | int] = {"bars": len(self._targets)}

    def targets(self, bars: Bars) -> np.ndarray:
        return np.array([self._targets.get(int(ts), 0.0) for ts in bars.ts], dtype=np.float64)


STRATEGIES: dict[str, type[BuiltinStrategy]] = {
    s.name: s for s in (MaCrossover, RsiReversion, Breakout)
}


def make(name: str, params: Mapping[str, str | float | int] | None = None) -> Strategy:
    """Build a registered strategy from loose parameters (``--param fast=5`` gives "5")."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    spec = {p.name: p for p in cls.PARAMS}
    values: dict[str, int | float] = {}
    for key, raw in (params or {}).items():
        if key not in spec:
            raise StrategyError(
                f"{name} has no parameter {key!r}; its parameters: {', '.join(spec)}"
            )
        values[key] = _parse(spec[key], raw)
    strategy: Strategy = cls(**values)
    return strategy


def describe() -> list[dict[str, object]]:
    """Every registered strategy with its parameters' defaults, for the desk and the CLI."""
    return [
        {
            "name": name,
            "description": cls.description,
            "params": {p.name: p.default for p in cls.PARAMS},
            "param_help": {p.name: p.help for p in cls.PARAMS},
        }
        for name, cls in sorted(STRATEGIES.items())
    ]


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI per bar; NaN for the first ``period`` bars, 50 where prices did not move."""
    n = len(close)
    out = np.full(n, np.nan)
    if n <= period:
        return out
    change = np.diff(close)
    gain = np.maximum(change, 0.0)
    loss = np.maximum(-change, 0.0)
    avg_gain = _wilder(gain[period:], gain[:period].mean(), period)
    avg_loss = _wilder(loss[period:], loss[:period].mean(), period)
    # 100 - 100 / (1 + gain/loss), written so that a zero loss needs no special case.
    total = avg_gain + avg_loss
    out[period:] = np.divide(
        100.0 * avg_gain, total, out=np.full(len(total), 50.0), where=total > 0
    )
    return out


def _wilder(x: np.ndarray, seed: float, period: int) -> np.ndarray:
    """``[seed, y1, y2, …]`` with ``y_k = y_(k-1)·(p-1)/p + x_k/p``, solved in numpy blocks.

    Within a block of B inputs, y_j = d^(j+1)·y_in + a·d^j·Σ_(k≤j) x_k·d^(-k); only the value
    carried between blocks needs a Python step, so the loop runs len/B times, not per bar.
    """
    out = np.empty(len(x) + 1)
    out[0] = seed
    if period == 1:
        out[1:] = x
        return out
    if len(x) == 0:
        return out
    d, a = (period - 1) / period, 1.0 / period
    # d^-B stays below 1e100, so the scaled running sums cannot overflow.
    block = max(1, min(4096, int(100 / -math.log10(d))))
    blocks = -(-len(x) // block)
    grid = np.zeros(blocks * block)
    grid[: len(x)] = x
    grid = grid.reshape(blocks, block)
    j = np.arange(block, dtype=np.float64)
    decay = d**j
    local = (a * decay) * np.cumsum(grid * d**-j, axis=1)
    carried = np.empty(blocks)
    y = seed
    step = d**block
    for c, tail in enumerate(local[:, -1].tolist()):
        carried[c] = y
        y = y * step + tail
    out[1:] = (local + np.outer(carried, decay * d)).ravel()[: len(x)]
    return out


def _hold(entries: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """1.0 from each entry until the next exit (an exit wins a tie), 0.0 before any entry."""
    n = len(entries)
    last = np.where(entries | exits, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    long = entries & ~exits
    return np.where(last >= 0, long[last], False).astype(np.float64)


def _parse(param: Param, raw: str | float | int) -> int | float:
    expected = "a whole number" if param.kind is int else "a number"
    value: float
    if isinstance(raw, bool):
        raise StrategyError(f"{param.name} must be {expected}, got {raw!r}")
    if isinstance(raw, str):
        text = raw.strip().replace("_", "")
        try:
            value = int(text) if param.kind is int else float(text)
        except ValueError:
            raise StrategyError(f"{param.name} must be {expected}, got {raw!r}") from None
    elif isinstance(raw, int | float):
        value = raw
    else:
        raise StrategyError(f"{param.name} must be {expected}, got {raw!r}")
    if not math.isfinite(value):
        raise StrategyError(f"{param.name} must be a finite number, got {raw!r}")
    if param.kind is int:
        if value != int(value):
            raise StrategyError(f"{param.name} must be {expected}, got {raw!r}")
        return int(value)
    return float(value)


def _at_least(minimum: int, **values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise StrategyError(f"{key} must be a whole number, got {value!r}")
        if value < minimum:
            raise StrategyError(f"{key} must be at least {minimum}, got {value}")
