"""Price indicators, and two studies of the ledgers against price: sentiment alignment and
catalyst event returns.

Prices are float64 closes, oldest first, one per bar. An indicator returns an array as long as
its prices, NaN where it is not yet defined, and reads nothing after the bar it describes. Bar
and item times are int64 seconds since the Unix epoch (UTC), bar times being each bar's open;
``epoch_seconds`` converts aware datetimes. Returns are log returns: exp(r) − 1 is the simple one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

Series = NDArray[np.float64]

MIN_PAIRS = 10  # below this many bars a correlation is noise that looks like a finding
IMPACT_BANDS = (("low", 1, 3), ("medium", 4, 6), ("high", 7, 10))


# Indicators


@dataclass(frozen=True, slots=True)
class Macd:
    """Moving average convergence/divergence, each array aligned with the prices."""

    macd: Series  # fast EMA − slow EMA, in price units; defined from index slow − 1
    signal: Series  # EMA of the MACD line; defined from index slow + signal − 2
    histogram: Series  # macd − signal: positive while momentum builds, negative while it fades


@dataclass(frozen=True, slots=True)
class Bands:
    """Bollinger bands: a moving average with k population standard deviations either side."""

    middle: Series  # simple moving average of the last ``period`` closes
    upper: Series  # middle + k·σ
    lower: Series  # middle − k·σ
    bandwidth: Series  # (upper − lower) / middle: 0.1 means the band spans 10 % of the price
    percent_b: Series  # where the close sits in the band: 0 on lower, 1 on upper; NaN if flat


def rsi(close: ArrayLike, period: int = 14) -> Series:
    """Wilder's relative strength index, 0..100, defined from index ``period`` on.

    The first average gain and loss are simple means of the first ``period`` price changes;
    after that, avg = (previous avg · (period − 1) + change) / period. 100 when prices only rose
    over that memory, 0 when they only fell, 50 when they did not move at all.
    """
    prices = _prices(close)
    _at_least("period", period, 1)
    out = np.full(prices.size, np.nan)
    if prices.size <= period:
        return out
    change = np.diff(prices)
    gain, loss = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    avg_gain, avg_loss = gain[:period].mean(), loss[:period].mean()
    out[period] = _strength(avg_gain, avg_loss)
    for i in range(period, change.size):
        avg_gain = (avg_gain * (period - 1) + gain[i]) / period
        avg_loss = (avg_loss * (period - 1) + loss[i]) / period
        out[i + 1] = _strength(avg_gain, avg_loss)
    return out


def macd(close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """MACD line, signal line and histogram.

    Each EMA of span n uses alpha = 2 / (n + 1) and is seeded, at index n − 1, with the simple
    mean of its first n values, so no value is made up before there are n of them.
    """
    prices = _prices(close)
    _at_least("fast", fast, 1)
    _at_least("signal", signal, 1)
    if slow <= fast:
        raise ValueError(f"slow ({slow}) must be longer than fast ({fast})")
    line = _ema(prices, fast) - _ema(prices, slow)
    signal_line = np.full(prices.size, np.nan)
    signal_line[slow - 1 :] = _ema(line[slow - 1 :], signal)
    return Macd(macd=line, signal=signal_line, histogram=line - signal_line)


def bollinger(close: ArrayLike, period: int = 20, k: float = 2.0) -> Bands:
    """Bollinger bands over the last ``period`` closes, with the population σ (ddof = 0)."""
    prices = _prices(close)
    _at_least("period", period, 1)
    if k <= 0:
        raise ValueError(f"k must be above zero, got {k}")
    middle = np.full(prices.size, np.nan)
    sigma = np.full(prices.size, np.nan)
    if prices.size >= period:
        windows = sliding_window_view(prices, period)
        middle[period - 1 :] = windows.mean(axis=1)
        spread = windows.std(axis=1)
        # Equal closes can average to a mean one ulp off, and so to a σ of 1e-17 instead of 0.
        spread[windows.max(axis=1) == windows.min(axis=1)] = 0.0
        sigma[period - 1 :] = spread
    upper, lower = middle + k * sigma, middle - k * sigma
    return Bands(
        middle=middle,
        upper=upper,
        lower=lower,
        bandwidth=_ratio(upper - lower, middle),
        percent_b=_ratio(prices - lower, upper - lower),
    )


def realised_volatility(
    close: ArrayLike, window: int = 24, periods_per_year: float = 8760
) -> Series:
    """Annualised realised volatility, defined from index ``window`` on.

    The sample σ (ddof = 1) of the last ``window`` log returns times √periods_per_year
    (8760 for hourly bars): 0.8 means 80 % a year.
    """
    prices = _prices(close)
    _at_least("window", window, 2)
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be above zero, got {periods_per_year}")
    if np.any(prices <= 0):
        raise ValueError("realised volatility needs prices above zero")
    out = np.full(prices.size, np.nan)
    returns = np.diff(np.log(prices))
    if returns.size >= window:
        sigma = sliding_window_view(returns, window).std(axis=1, ddof=1)
        out[window:] = sigma * math.sqrt(periods_per_year)
    return out


# Sentiment alignment


@dataclass(frozen=True, slots=True)
class Correlation:
    """Pearson r of bar sentiment with a return, beside the same r with sentiment shuffled.

    ``r`` and the control are None, and ``reason`` says why, when fewer than MIN_PAIRS bars
    have both numbers or either series is flat: any number then would mislead.
    """

    pairs: int  # bars with both a sentiment score and the return
    r: float | None = None  # −1..1
    control_mean: float | None = None  # mean r over the shuffles: near 0 when nothing is there
    control_std: float | None = None  # spread of r over the shuffles: chance for this many pairs
    p_value: float | None = None  # share of shuffles with |r| ≥ observed; 0 means < 1/shuffles
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SentimentAlignment:
    """How the mean item score of a bar lines up with price, before and after it."""

    bars: int  # bars holding at least one item: only these have a sentiment score
    items: int  # items that fell inside a bar; the rest were before the first or after the last
    forward: dict[int, Correlation]  # h → r(sentiment of bar t, log return close t → close t+h)
    lagged: dict[int, Correlation]  # k → r(sentiment of bar t, log return of bar t+k)


def epoch_seconds(times: Iterable[datetime]) -> NDArray[np.int64]:
    """Aware datetimes as int64 seconds since the Unix epoch, the form bar and item times take."""
    return np.array([_epoch(ts) for ts in times], dtype=np.int64)


def bar_sentiment(bar_times: ArrayLike, item_times: ArrayLike, item_scores: ArrayLike) -> Series:
    """Mean item score per bar, NaN for a bar with no item (no news is not neutral news).

    An item at t belongs to the bar with open ≤ t < next open; the last bar is taken to be as
    long as the one before it.
    """
    opens = _opens(bar_times)
    sentiment, _ = _bucket(opens, item_times, item_scores)
    return sentiment


def sentiment_alignment(
    bar_times: ArrayLike,
    close: ArrayLike,
    item_times: ArrayLike,
    item_scores: ArrayLike,
    *,
    horizons: Iterable[int] = (1, 4, 24),
    lags: Iterable[int] = (-4, -2, -1, 0, 1, 2, 4),
    shuffles: int = 200,
    seed: int = 0,
) -> SentimentAlignment:
    """Correlate bar sentiment with the returns after it and around it.

    Forward returns start at the close of the sentiment's bar, after every item in it. A lag k
    pairs bar t's sentiment with the one-bar return of bar t+k (close t+k−1 → close t+k): k > 0
    is sentiment leading price (k = 1 is horizon 1), k = 0 the same bar, k < 0 sentiment
    following price. Each r is set against ``shuffles`` permutations of the sentiment.
    """
    opens, prices = _bars(bar_times, close)
    chosen = _horizons(horizons)
    _at_least("shuffles", shuffles, 1)
    sentiment, items = _bucket(opens, item_times, item_scores)
    log_close = np.log(prices)
    step = np.full(prices.size, np.nan)
    step[1:] = np.diff(log_close)
    return SentimentAlignment(
        bars=int(np.isfinite(sentiment).sum()),
        items=items,
        forward={
            h: _correlate(sentiment, _shifted(log_close, h) - log_close, shuffles, seed)
            for h in chosen
        },
        lagged={k: _correlate(sentiment, _shifted(step, k), shuffles, seed) for k in lags},
    )


# Event study


@dataclass(frozen=True, slots=True)
class EventReturn:
    """One catalyst and the log returns that followed it."""

    time: datetime
    type: str
    impact: int
    bar: int  # index of the bar the event fell in; returns run from that bar's close
    returns: dict[int, float]  # h → log return close[bar] → close[bar + h]


@dataclass(frozen=True, slots=True)
class ReturnSummary:
    """Forward log returns after a group of events, at one horizon."""

    count: int
    mean: float
    median: float
    excess: float  # mean − the mean over every bar at this horizon: what the events added


@dataclass(frozen=True, slots=True)
class EventStudy:
    """What prices did after each kind of catalyst, against what they did after any bar."""

    events: tuple[EventReturn, ...]  # the events kept, in the order given
    dropped: int  # events outside the bars, or too late for the longest horizon to play out
    baseline: dict[int, float]  # h → mean forward log return over every bar with h bars after it
    by_type: dict[str, dict[int, ReturnSummary]]  # type → h → summary, types sorted
    by_impact: dict[str, dict[int, ReturnSummary]]  # low 1–3, medium 4–6, high 7–10 → h → …


def impact_band(impact: int) -> str:
    """The band of a catalyst's impact: low for 1–3, medium for 4–6, high for 7–10."""
    for band, lowest, highest in IMPACT_BANDS:
        if lowest <= impact <= highest:
            return band
    raise ValueError(f"impact must be 1..10, got {impact}")


def event_study(
    bar_times: ArrayLike,
    close: ArrayLike,
    events: Iterable[tuple[datetime, str, int]],
    *,
    horizons: Iterable[int] = (1, 4, 24),
) -> EventStudy:
    """Forward log returns from the close of each event's bar, summarised by type and impact.

    Events are (aware time, type, impact 1..10). An event whose bar lacks the longest horizon's
    bars after it is dropped from every horizon, so each summary counts the same events.
    """
    opens, prices = _bars(bar_times, close)
    chosen = _horizons(horizons)
    longest = max(chosen)
    if prices.size <= longest:
        raise ValueError(f"{prices.size} bars cannot span the longest horizon, {longest} bars")
    log_close = np.log(prices)
    forward = {h: _shifted(log_close, h) - log_close for h in chosen}
    baseline = {h: float(forward[h][: prices.size - h].mean()) for h in chosen}

    kept: list[EventReturn] = []
    dropped = 0
    for ts, kind, impact in events:
        impact_band(impact)  # an impact out of range is refused even when the event is dropped
        bar = int(_bar_of(opens, np.array([_epoch(ts)]))[0])
        if 0 <= bar < prices.size - longest:
            returns = {h: float(forward[h][bar]) for h in chosen}
            kept.append(EventReturn(ts, kind, impact, bar, returns))
        else:
            dropped += 1

    types = sorted({e.type for e in kept})
    return EventStudy(
        events=tuple(kept),
        dropped=dropped,
        baseline=baseline,
        by_type=_summaries({t: [e for e in kept if e.type == t] for t in types}, baseline),
        by_impact=_summaries(
            {b: [e for e in kept if impact_band(e.impact) == b] for b, _, _ in IMPACT_BANDS},
            baseline,
        ),
    )


# Private helpers


def _prices(close: ArrayLike) -> Series:
    prices = np.asarray(close, dtype=np.float64)
    if prices.ndim != 1:
        raise ValueError(f"prices must be a 1-D array, got {prices.ndim} dimensions")
    return prices


def _at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _horizons(horizons: Iterable[int]) -> tuple[int, ...]:
    chosen = tuple(horizons)
    if not chosen:
        raise ValueError("at least one horizon is needed")
    for h in chosen:
        _at_least("a horizon", h, 1)
    return chosen


def _strength(avg_gain: float, avg_loss: float) -> float:
    # 100 − 100 / (1 + gain / loss), written so that a flat stretch gives 50 rather than 0 / 0.
    total = avg_gain + avg_loss
    return 50.0 if total == 0 else 100.0 * avg_gain / total


def _ema(values: Series, span: int) -> Series:
    out = np.full(values.size, np.nan)
    if values.size < span:
        return out
    alpha = 2.0 / (span + 1)
    out[span - 1] = values[:span].mean()
    for i in range(span, values.size):
        out[i] = alpha * values[i] + (1 - alpha) * out[i - 1]
    return out


def _ratio(numerator: Series, denominator: Series) -> Series:
    """numerator / denominator, NaN where the denominator is zero."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _shifted(values: Series, lag: int) -> Series:
    """values[t + lag] at each t, NaN where t + lag falls outside."""
    n = values.size
    source = values[max(lag, 0) : max(n + min(lag, 0), 0)]
    out = np.full(n, np.nan)
    start = max(-lag, 0)
    out[start : start + source.size] = source
    return out


def _epoch(ts: datetime) -> int:
    if ts.utcoffset() is None:
        raise ValueError(f"{ts.isoformat()} is naive; times must be timezone-aware")
    return math.floor(ts.timestamp())


def _seconds(name: str, values: ArrayLike) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got {array.ndim} dimensions")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be integer seconds since the epoch (see epoch_seconds), got {array.dtype}"
        )
    return array.astype(np.int64)


def _opens(bar_times: ArrayLike) -> NDArray[np.int64]:
    opens = _seconds("bar_times", bar_times)
    if opens.size < 2:
        raise ValueError(f"at least two bars are needed, got {opens.size}")
    if np.any(np.diff(opens) <= 0):
        raise ValueError("bar_times must be strictly increasing")
    return opens


def _bars(bar_times: ArrayLike, close: ArrayLike) -> tuple[NDArray[np.int64], Series]:
    opens, prices = _opens(bar_times), _prices(close)
    if opens.size != prices.size:
        raise ValueError(f"{opens.size} bar times but {prices.size} closes")
    if not np.all(np.isfinite(prices) & (prices > 0)):
        raise ValueError("closes must be finite and above zero for log returns")
    return opens, prices


def _bar_of(opens: NDArray[np.int64], times: NDArray[np.int64]) -> NDArray[np.intp]:
    """Index of the bar holding each time, −1 for a time before the first or after the last."""
    # The last bar has no successor to end it, so it is taken to be as long as the one before.
    end = opens[-1] + (opens[-1] - opens[-2])
    bar = np.searchsorted(opens, times, side="right") - 1
    bar[times >= end] = -1
    return bar


def _bucket(
    opens: NDArray[np.int64], item_times: ArrayLike, item_scores: ArrayLike
) -> tuple[Series, int]:
    """Mean score per bar (NaN where none) and the number of items that fell in a bar."""
    times = _seconds("item_times", item_times)
    scores = np.asarray(item_scores, dtype=np.float64)
    if scores.shape != times.shape:
        raise ValueError(f"{times.size} item times but {scores.size} item scores")
    bar = _bar_of(opens, times)
    inside = bar >= 0
    counts = np.bincount(bar[inside], minlength=opens.size).astype(np.float64)
    totals = np.bincount(bar[inside], weights=scores[inside], minlength=opens.size)
    return _ratio(totals, counts), int(inside.sum())


def _correlate(sentiment: Series, returns: Series, shuffles: int, seed: int) -> Correlation:
    both = np.isfinite(sentiment) & np.isfinite(returns)
    x, y = sentiment[both], returns[both]
    pairs = int(x.size)
    if pairs < MIN_PAIRS:
        return Correlation(
            pairs, reason=f"{pairs} bars have both a score and the return; {MIN_PAIRS} needed"
        )
    # np.ptp is exact, where a variance of equal values can come out a rounding error above 0.
    if np.ptp(x) == 0:
        return Correlation(pairs, reason="sentiment is the same in every bar")
    if np.ptp(y) == 0:
        return Correlation(pairs, reason="the return is the same in every bar")
    dx, dy = x - x.mean(), y - y.mean()
    dx, dy = dx / np.linalg.norm(dx), dy / np.linalg.norm(dy)
    r = float(np.clip(dx @ dy, -1.0, 1.0))
    rng = np.random.default_rng(seed)
    control = np.clip(rng.permuted(np.tile(dx, (shuffles, 1)), axis=1) @ dy, -1.0, 1.0)
    # A shuffle that reproduces the order must count as reaching r, rounding aside.
    reached = np.abs(control) >= abs(r) - 1e-12
    return Correlation(
        pairs,
        r=r,
        control_mean=float(control.mean()),
        control_std=float(control.std()),
        p_value=float(reached.mean()),
    )


def _summaries(
    groups: dict[str, list[EventReturn]], baseline: dict[int, float]
) -> dict[str, dict[int, ReturnSummary]]:
    """Each non-empty group's summary at every horizon of the baseline."""
    return {
        name: {h: _summary([e.returns[h] for e in members], mean) for h, mean in baseline.items()}
        for name, members in groups.items()
        if members
    }


def _summary(returns: list[float], baseline: float) -> ReturnSummary:
    mean = float(np.mean(returns))
    return ReturnSummary(
        count=len(returns),
        mean=mean,
        median=float(np.median(returns)),
        excess=mean - baseline,
    )
