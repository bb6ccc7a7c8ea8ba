"""The Lab's indicators and studies against numbers worked out by hand or by a plain loop."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.analysis import (
    MIN_PAIRS,
    bar_sentiment,
    bollinger,
    epoch_seconds,
    event_study,
    impact_band,
    macd,
    realised_volatility,
    rsi,
    sentiment_alignment,
)

HOUR = 3600
T0 = datetime(2026, 1, 5, tzinfo=UTC)
MIXED = [44.0, 44.3, 44.1, 43.6, 44.3, 44.8, 45.1, 44.9, 45.6, 45.3, 46.0, 45.8, 46.2, 45.9]


def hourly(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * HOUR


def pearson(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


# RSI


def test_rsi_of_rising_prices_is_100_from_the_period_on() -> None:
    values = rsi([1.0, 2, 3, 4, 5, 6, 7], period=3)
    assert np.isnan(values[:3]).all()
    assert values[3:].tolist() == [100.0] * 4


def test_rsi_of_flat_prices_is_50_and_of_falling_prices_0() -> None:
    assert rsi([5.0] * 6, period=2)[2:].tolist() == [50.0] * 4
    assert rsi([6.0, 5, 4, 3], period=2)[2:].tolist() == [0.0, 0.0]


def test_rsi_by_hand_with_wilder_smoothing() -> None:
    # Changes +1, −1, +2. First averages: gain (1 + 0) / 2 = 0.5, loss (0 + 1) / 2 = 0.5 → 50.
    # Then gain (0.5 · 1 + 2) / 2 = 1.25, loss (0.5 · 1 + 0) / 2 = 0.25: RS 5, 100 − 100/6.
    values = rsi([1.0, 2, 1, 3], period=2)
    assert np.isnan(values[:2]).all()
    assert values[2] == pytest.approx(50.0)
    assert values[3] == pytest.approx(100 - 100 / 6)


def test_rsi_matches_a_step_by_step_loop() -> None:
    period = 5
    changes = [b - a for a, b in zip(MIXED, MIXED[1:], strict=False)]
    avg_gain = sum(max(c, 0) for c in changes[:period]) / period
    avg_loss = sum(max(-c, 0) for c in changes[:period]) / period
    expected = [100 - 100 / (1 + avg_gain / avg_loss)]
    for c in changes[period:]:
        avg_gain = (avg_gain * (period - 1) + max(c, 0)) / period
        avg_loss = (avg_loss * (period - 1) + max(-c, 0)) / period
        expected.append(100 - 100 / (1 + avg_gain / avg_loss))
    values = rsi(MIXED, period=period)
    assert np.isnan(values[:period]).all()
    assert values[period:] == pytest.approx(expected)


def test_rsi_of_too_few_prices_is_all_nan() -> None:
    assert np.isnan(rsi([1.0, 2, 3], period=3)).all()


# MACD


def test_macd_by_hand_with_emas_seeded_by_their_first_mean() -> None:
    # fast 2 (alpha 2/3): seed at 1 = (1 + 3) / 2 = 2; then 2, 14/3, 38/9.
    # slow 3 (alpha 1/2): seed at 2 = (1 + 3 + 2) / 3 = 2; then 4, 4.
    # MACD from index 2: 0, 2/3, 2/9. Signal 2: seed at 3 = (0 + 2/3) / 2 = 1/3,
    # then 2/3 · 2/9 + 1/3 · 1/3 = 7/27.
    result = macd([1.0, 3, 2, 6, 4], fast=2, slow=3, signal=2)
    assert np.isnan(result.macd[:2]).all()
    assert result.macd[2:] == pytest.approx([0, 2 / 3, 2 / 9])
    assert np.isnan(result.signal[:3]).all()
    assert result.signal[3:] == pytest.approx([1 / 3, 7 / 27])
    assert result.histogram[3:] == pytest.approx([1 / 3, -1 / 27])


def test_macd_matches_a_loop() -> None:
    def ema(values: list[float], n: int) -> list[float]:
        """The EMA from index n − 1 on, seeded with the mean of the first n values."""
        out = [sum(values[:n]) / n]
        for v in values[n:]:
            out.append(out[-1] + 2 / (n + 1) * (v - out[-1]))
        return out

    fast, slow, signal = ema(MIXED, 3), ema(MIXED, 6), 4  # from index 2 and from index 5
    line = [f - s for f, s in zip(fast[3:], slow, strict=True)]
    result = macd(MIXED, fast=3, slow=6, signal=signal)
    assert np.isnan(result.macd[:5]).all()
    assert result.macd[5:] == pytest.approx(line)
    assert np.isnan(result.signal[: 5 + signal - 1]).all()
    assert result.signal[5 + signal - 1 :] == pytest.approx(ema(line, signal))


# Bollinger


def test_bollinger_by_hand_on_a_three_bar_window() -> None:
    bands = bollinger([1.0, 2, 3, 5, 5, 5], period=3, k=2.0)
    assert np.isnan(bands.middle[:2]).all()
    # Window 1, 2, 3: mean 2, population σ √((1 + 0 + 1) / 3) = √(2/3).
    s = math.sqrt(2 / 3)
    assert bands.middle[2] == pytest.approx(2.0)
    assert bands.upper[2] == pytest.approx(2 + 2 * s)
    assert bands.lower[2] == pytest.approx(2 - 2 * s)
    assert bands.bandwidth[2] == pytest.approx(4 * s / 2)
    assert bands.percent_b[2] == pytest.approx((3 - (2 - 2 * s)) / (4 * s))
    # Window 2, 3, 5: mean 10/3, deviations −4/3, −1/3, 5/3: σ² = (16 + 1 + 25) / 27 = 14/9.
    assert bands.upper[3] == pytest.approx(10 / 3 + 2 * math.sqrt(14) / 3)
    # Window 5, 5, 5: the band closes on the price and %B has no meaning.
    assert bands.upper[5] == bands.lower[5] == 5.0
    assert bands.bandwidth[5] == 0.0
    assert np.isnan(bands.percent_b[5])


def test_bollinger_flat_window_of_inexact_decimals_has_zero_width() -> None:
    bands = bollinger([0.1] * 20, period=20)
    assert bands.bandwidth[-1] == 0.0
    assert np.isnan(bands.percent_b[-1])


# Realised volatility


def test_realised_volatility_by_hand() -> None:
    # Log returns ln 1.1, ln 0.9, 0, ln 1.1. A sample σ of two values a, b is |a − b| / √2,
    # annualised over 4 periods a year by √4 = 2.
    values = realised_volatility([100.0, 110, 99, 99, 108.9], window=2, periods_per_year=4)
    assert np.isnan(values[:2]).all()
    a, b, c, d = math.log(1.1), math.log(0.9), 0.0, math.log(1.1)
    assert values[2:] == pytest.approx(
        [2 * abs(x - y) / math.sqrt(2) for x, y in [(a, b), (b, c), (c, d)]]
    )


def test_realised_volatility_scales_with_the_root_of_periods_per_year() -> None:
    per_bar = realised_volatility(MIXED, window=5, periods_per_year=1)
    returns = [math.log(b / a) for a, b in zip(MIXED, MIXED[1:], strict=False)]
    assert per_bar[5] == pytest.approx(statistics.stdev(returns[:5]))
    hourly_year = realised_volatility(MIXED, window=5)
    assert hourly_year[5:] == pytest.approx(per_bar[5:] * math.sqrt(8760))


# Validation


@pytest.mark.parametrize(
    "call",
    [
        lambda: rsi([1.0, 2, 3], period=0),
        lambda: rsi([[1.0, 2], [3, 4]]),
        lambda: macd([1.0, 2, 3], fast=0),
        lambda: macd([1.0, 2, 3], fast=5, slow=5),
        lambda: macd([1.0, 2, 3], signal=0),
        lambda: bollinger([1.0, 2, 3], period=0),
        lambda: bollinger([1.0, 2, 3], k=0),
        lambda: bollinger(np.ones((3, 3))),
        lambda: realised_volatility([1.0, 2, 3], window=1),
        lambda: realised_volatility([1.0, 0, 3], window=2),
        lambda: realised_volatility([1.0, -2, 3], window=2),
        lambda: realised_volatility([1.0, 2, 3], window=2, periods_per_year=0),
    ],
)
def test_indicators_refuse_bad_input(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


def test_validation_messages_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="period must be at least 1, got 0"):
        rsi([1.0, 2], period=0)
    with pytest.raises(ValueError, match="1-D"):
        rsi([[1.0, 2]])
    with pytest.raises(ValueError, match="above zero"):
        realised_volatility([1.0, 0.0, 2.0], window=2)


def test_times_must_be_aware_and_bars_increasing() -> None:
    with pytest.raises(ValueError, match="naive"):
        epoch_seconds([datetime(2026, 1, 1)])  # noqa: DTZ001 - the naive time under test
    with pytest.raises(ValueError, match="strictly increasing"):
        bar_sentiment(np.array([0, 0, 3600]), [], [])
    with pytest.raises(ValueError, match="integer seconds"):
        bar_sentiment(np.array([0.0, 3600.0]), [], [])
    with pytest.raises(ValueError, match="2 bar times but 3 closes"):
        sentiment_alignment(hourly(2), [1.0, 2, 3], [], [])
    with pytest.raises(ValueError, match="item times"):
        sentiment_alignment(hourly(2), [1.0, 2], [0], [0.1, 0.2])
    with pytest.raises(ValueError, match="shuffles must be at least 1"):
        sentiment_alignment(hourly(2), [1.0, 2], [0], [0.1], shuffles=0)


def test_epoch_seconds_reads_any_offset_as_utc() -> None:
    utc = datetime(2026, 1, 5, 10, 30, 59, 900_000, tzinfo=UTC)
    sydney = utc.astimezone(timezone(timedelta(hours=11)))
    # Sub-second parts round down, so an item stays in the bar it was published in.
    assert epoch_seconds([utc, sydney]).tolist() == [int(utc.timestamp())] * 2


# Sentiment alignment


def test_items_fall_in_the_bar_that_holds_them() -> None:
    bars = hourly(4)
    times = [-1, 0, HOUR - 1, HOUR, 3 * HOUR + HOUR - 1, 4 * HOUR]
    scores = [0.9, 0.5, -0.1, 0.2, -0.4, 0.9]
    # −1 is before the first bar and 4 h after the last bar ended: neither counts.
    sentiment = bar_sentiment(bars, times, scores)
    assert sentiment[0] == pytest.approx(0.2)  # (0.5 − 0.1) / 2
    assert sentiment[1] == pytest.approx(0.2)
    assert np.isnan(sentiment[2])  # no items is not a neutral score
    assert sentiment[3] == pytest.approx(-0.4)


def predictive_market(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    steps = rng.normal(0, 0.01, n - 1)
    close = 100 * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    # Bar t's two items average to 10 × the return from close t to close t + 1.
    times = np.repeat(hourly(n - 1), 2) + np.tile([60, 1800], n - 1)
    scores = np.repeat(10 * steps, 2) + np.tile([0.05, -0.05], n - 1)
    return hourly(n), close, times, scores


def test_sentiment_that_foretells_the_next_return_correlates_fully() -> None:
    bars, close, times, scores = predictive_market(60)
    result = sentiment_alignment(bars, close, times, scores, shuffles=300, seed=1)
    assert result.bars == 59
    assert result.items == 118
    one = result.forward[1]
    assert one.pairs == 59
    assert one.r == pytest.approx(1.0)
    assert one.p_value == 0.0
    assert one.control_mean is not None and abs(one.control_mean) < 0.05
    # With 59 pairs, shuffled r spreads about 1 / √58.
    assert one.control_std == pytest.approx(1 / math.sqrt(58), rel=0.25)
    assert result.lagged[1].r == pytest.approx(1.0)
    assert result.forward[4].pairs == 56


def test_forward_and_lagged_r_match_a_plain_pearson() -> None:
    bars, close, times, scores = predictive_market(40)
    rng = np.random.default_rng(3)
    scores = scores + rng.normal(0, 0.1, scores.size)
    result = sentiment_alignment(bars, close, times, scores, horizons=(4,), lags=(0, -2))
    per_bar = [(scores[2 * t] + scores[2 * t + 1]) / 2 for t in range(39)]
    log_close = [math.log(c) for c in close]
    # Horizon 4: bar t against close t → close t + 4, for t = 0..35.
    four = pearson(per_bar[:36], [log_close[t + 4] - log_close[t] for t in range(36)])
    assert result.forward[4].r == pytest.approx(four)
    # Lag 0: bar t against close t − 1 → close t; bar 0 has no such return.
    same = pearson(per_bar[1:], [log_close[t] - log_close[t - 1] for t in range(1, 39)])
    assert result.lagged[0].r == pytest.approx(same)
    # Lag −2: bar t against close t − 3 → close t − 2.
    before = pearson(per_bar[3:], [log_close[t - 2] - log_close[t - 3] for t in range(3, 39)])
    assert result.lagged[-2].r == pytest.approx(before)
    assert result.lagged[-2].pairs == 36


def test_noise_sentiment_is_not_significant() -> None:
    bars, close, times, _ = predictive_market(80)
    noise = np.random.default_rng(11).uniform(-1, 1, times.size)
    result = sentiment_alignment(bars, close, times, noise, horizons=(1,), lags=(), seed=2)
    one = result.forward[1]
    assert one.r is not None and abs(one.r) < 0.3
    assert one.p_value is not None and one.p_value > 0.1


def test_the_shuffled_control_repeats_with_its_seed() -> None:
    bars, close, times, scores = predictive_market(30)
    noisy = scores + np.random.default_rng(5).normal(0, 0.2, scores.size)
    a = sentiment_alignment(bars, close, times, noisy, horizons=(1,), lags=(), seed=4)
    b = sentiment_alignment(bars, close, times, noisy, horizons=(1,), lags=(), seed=4)
    c = sentiment_alignment(bars, close, times, noisy, horizons=(1,), lags=(), seed=5)
    assert a == b
    assert a.forward[1].control_mean != c.forward[1].control_mean


def test_too_few_bars_give_no_figure_but_a_reason() -> None:
    bars, close, times, scores = predictive_market(MIN_PAIRS)
    one = sentiment_alignment(bars, close, times, scores, horizons=(1,), lags=()).forward[1]
    assert one.pairs == MIN_PAIRS - 1
    assert one.r is None and one.p_value is None and one.control_mean is None
    assert "10 needed" in one.reason


def test_flat_sentiment_gives_no_figure_but_a_reason() -> None:
    bars, close, times, _ = predictive_market(30)
    flat = np.full(times.size, 0.3)
    one = sentiment_alignment(bars, close, times, flat, horizons=(1,), lags=()).forward[1]
    assert one.r is None
    assert one.reason == "sentiment is the same in every bar"


def test_bars_without_items_are_left_out_not_zeroed() -> None:
    bars, close, times, scores = predictive_market(60)
    keep = (times // HOUR) % 3 != 0  # every third bar has no news
    result = sentiment_alignment(bars, close, times[keep], scores[keep], lags=())
    assert result.bars == 39
    assert result.forward[1].pairs == 39
    assert result.forward[1].r == pytest.approx(1.0)


# Event study

CLOSES = [100.0, 110, 121, 110, 100, 100, 120, 120]


def test_event_study_by_hand_with_two_types() -> None:
    events = [
        (T0 + timedelta(hours=1, minutes=10), "listing", 7),  # bar 1
        (T0 + timedelta(hours=3), "listing", 8),  # bar 3
        (T0 + timedelta(hours=4, minutes=59), "maintenance", 2),  # bar 4
        (T0 + timedelta(hours=6), "maintenance", 5),  # bar 6: 2 h on runs past the data
        (T0 - timedelta(minutes=1), "delisting", 9),  # before the first bar
    ]
    bars = epoch_seconds(T0 + timedelta(hours=i) for i in range(len(CLOSES)))
    study = event_study(bars, CLOSES, events, horizons=(1, 2))

    assert study.dropped == 2
    assert [(e.type, e.bar) for e in study.events] == [
        ("listing", 1),
        ("listing", 3),
        ("maintenance", 4),
    ]
    assert study.events[0].returns == pytest.approx({1: math.log(1.1), 2: 0.0})

    # Baseline, telescoping: h = 1 over bars 0..6 is ln(120/100) / 7; h = 2 over bars 0..5 is
    # (ln 120 + ln 120 − ln 100 − ln 110) / 6.
    base1 = math.log(1.2) / 7
    base2 = math.log(120 * 120 / (100 * 110)) / 6
    assert study.baseline == pytest.approx({1: base1, 2: base2})

    # Listings: h = 1 returns ln 1.1 and ln(100/110), which sum to 0; h = 2: 0 and ln(100/110).
    listing = study.by_type["listing"]
    assert listing[1].count == 2
    assert listing[1].mean == pytest.approx(0.0)
    assert listing[1].median == pytest.approx(0.0)
    assert listing[1].excess == pytest.approx(-base1)
    assert listing[2].mean == pytest.approx(math.log(100 / 110) / 2)
    assert listing[2].excess == pytest.approx(math.log(100 / 110) / 2 - base2)

    # Maintenance: one event, bar 4: close 100 → 100 → 120.
    maintenance = study.by_type["maintenance"]
    assert maintenance[1].count == 1
    assert maintenance[1].mean == pytest.approx(0.0)
    assert maintenance[2].median == pytest.approx(math.log(1.2))

    assert list(study.by_type) == ["listing", "maintenance"]
    assert list(study.by_impact) == ["low", "high"]  # the medium event was dropped
    assert study.by_impact["high"] == listing
    assert study.by_impact["low"] == maintenance


def test_event_study_median_differs_from_mean_with_three_events() -> None:
    bars = epoch_seconds(T0 + timedelta(hours=i) for i in range(len(CLOSES)))
    events = [(T0 + timedelta(hours=h), "listing", 7) for h in (0, 1, 3)]
    study = event_study(bars, CLOSES, events, horizons=(1,))
    # h = 1 returns: ln 1.1, ln 1.1, ln(100/110).
    returns = [math.log(1.1), math.log(1.1), math.log(100 / 110)]
    summary = study.by_type["listing"][1]
    assert summary.mean == pytest.approx(sum(returns) / 3)
    assert summary.median == pytest.approx(math.log(1.1))


def test_impact_bands_and_their_limits() -> None:
    assert [impact_band(i) for i in range(1, 11)] == ["low"] * 3 + ["medium"] * 3 + ["high"] * 4
    for bad in (0, 11):
        with pytest.raises(ValueError, match="impact must be 1..10"):
            impact_band(bad)


def test_event_study_refuses_bad_input() -> None:
    bars = hourly(len(CLOSES))
    with pytest.raises(ValueError, match="naive"):
        naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the naive time under test
        event_study(bars, CLOSES, [(naive, "listing", 7)], horizons=(1,))
    with pytest.raises(ValueError, match="longest horizon"):
        event_study(bars, CLOSES, [], horizons=(1, 8))
    with pytest.raises(ValueError, match="horizon must be at least 1"):
        event_study(bars, CLOSES, [], horizons=(0,))
    with pytest.raises(ValueError, match="impact"):
        event_study(bars, CLOSES, [(T0, "listing", 12)], horizons=(1,))


# No look-ahead


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(st.floats(1.0, 1000.0), min_size=2, max_size=50),
    data=st.data(),
)
def test_indicators_never_read_prices_after_their_bar(
    prices: list[float], data: st.DataObject
) -> None:
    t = data.draw(st.integers(0, len(prices) - 1), label="t")
    tail = data.draw(
        st.lists(
            st.floats(1.0, 1000.0), min_size=len(prices) - t - 1, max_size=len(prices) - t - 1
        ),
        label="tail",
    )
    changed = np.array(prices[: t + 1] + tail)
    original = np.array(prices)
    for indicator in (
        lambda p: rsi(p, 3),
        lambda p: macd(p, 3, 5, 2).macd,
        lambda p: macd(p, 3, 5, 2).signal,
        lambda p: bollinger(p, 4).upper,
        lambda p: bollinger(p, 4).percent_b,
        lambda p: realised_volatility(p, 3),
    ):
        np.testing.assert_array_equal(indicator(original)[: t + 1], indicator(changed)[: t + 1])
