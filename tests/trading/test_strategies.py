"""Built-in strategies: their signal rules, warmup, no look-ahead, and the registry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.trading.bars import Bars
from engine.trading.strategies import (
    STRATEGIES,
    Breakout,
    MaCrossover,
    RsiReversion,
    Strategy,
    StrategyError,
    describe,
    make,
    rsi,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def bars_of(
    close: list[float] | np.ndarray,
    high: list[float] | np.ndarray | None = None,
    low: list[float] | np.ndarray | None = None,
) -> Bars:
    close = np.asarray(close, dtype=np.float64)
    n = len(close)
    return Bars(
        ts=T0 + 3600 * np.arange(n),
        open=close,
        high=close if high is None else np.asarray(high, dtype=np.float64),
        low=close if low is None else np.asarray(low, dtype=np.float64),
        close=close,
        volume=np.ones(n),
        symbol="BTC/AUD",
        timeframe="1h",
        bar_seconds=3600,
    )


def walk(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))


# --- moving-average crossover ---------------------------------------------------------


def test_ma_cross_is_long_exactly_while_the_fast_average_is_above_the_slow() -> None:
    # fast=2, slow=3: long iff (c[i] + c[i-1]) / 2 > (c[i] + c[i-1] + c[i-2]) / 3.
    close = [10, 10, 10, 12, 14, 10, 9, 12, 13, 11, 16, 17]
    targets = MaCrossover(fast=2, slow=3).targets(bars_of(close))
    assert targets.dtype == np.float64
    assert targets.tolist() == [0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1]


def test_ma_cross_matches_plain_moving_averages_on_a_random_walk() -> None:
    close = walk(2000, seed=3)
    for fast, slow in [(1, 2), (5, 20), (10, 30), (7, 200)]:
        targets = MaCrossover(fast, slow).targets(bars_of(close))
        expected = np.zeros(len(close))
        for i in range(slow - 1, len(close)):
            expected[i] = close[i - fast + 1 : i + 1].mean() > close[i - slow + 1 : i + 1].mean()
        # Summation order differs; only near-ties could disagree, and a random walk has none.
        assert np.array_equal(targets, expected), (fast, slow)


def test_ma_cross_stays_flat_on_a_flat_market() -> None:
    # Equal averages must not read as a crossover, however long the series.
    targets = MaCrossover(3, 7).targets(bars_of(np.full(10_000, 0.1)))
    assert not targets.any()


# --- RSI mean reversion ---------------------------------------------------------------


def wilder_rsi(close: np.ndarray, period: int) -> list[float]:
    """Textbook Wilder RSI, one bar at a time."""
    out = [float("nan")] * len(close)
    gains = [max(close[i] - close[i - 1], 0.0) for i in range(1, len(close))]
    losses = [max(close[i - 1] - close[i], 0.0) for i in range(1, len(close))]
    avg_gain = sum(gains[:period]) / period
    avg_loss = sum(losses[:period]) / period
    for i in range(period, len(close)):
        if i > period:
            avg_gain = (avg_gain * (period - 1) + gains[i - 1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[i - 1]) / period
        if avg_gain + avg_loss == 0:
            out[i] = 50.0
        elif avg_loss == 0:
            out[i] = 100.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


@pytest.mark.parametrize("period", [1, 2, 14, 50])
def test_rsi_matches_wilders_definition(period: int) -> None:
    # 20,000 bars run across many of the blocks the vectorised smoothing works in.
    close = walk(20_000, seed=period)
    assert np.allclose(
        rsi(close, period), wilder_rsi(close, period), rtol=0, atol=1e-8, equal_nan=True
    )
    assert np.isnan(rsi(close, period)[:period]).all()


def test_rsi_enters_on_a_cross_below_lower_and_holds_until_above_upper() -> None:
    # period=1: RSI is 100 after an up bar, 0 after a down bar, 50 after an unchanged one.
    close = [10, 11, 12, 11, 10, 10, 11, 12, 11]
    targets = RsiReversion(period=1).targets(bars_of(close))
    # bar 3 crosses below 30 (100 → 0); bar 5 (RSI 50) holds; bar 6 (RSI 100) exits;
    # bar 8 crosses below again.
    assert targets.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 1]


def test_rsi_already_oversold_at_its_first_value_waits_for_a_cross() -> None:
    close = [10, 9, 8, 7, 6, 7, 6]  # RSI(1): 0, 0, 0, 0, 100, 0
    assert RsiReversion(period=1).targets(bars_of(close)).tolist() == [0, 0, 0, 0, 0, 0, 1]


def test_rsi_signals_follow_the_reference_rsi_on_a_random_walk() -> None:
    close = walk(5000, seed=11)
    strategy = RsiReversion(period=14, lower=35, upper=65)
    targets = strategy.targets(bars_of(close))
    ref = wilder_rsi(close, 14)
    held = 0.0
    for i in range(len(close)):
        if i >= strategy.warmup and ref[i] < 35 <= ref[i - 1]:
            held = 1.0
        elif ref[i] > 65:
            held = 0.0
        assert targets[i] == held, i
    assert 0 < targets.sum() < len(close)  # the walk did trade


# --- breakout -------------------------------------------------------------------------


def test_breakout_enters_above_the_previous_highs_and_exits_below_the_previous_lows() -> None:
    close = [10, 11, 10, 11, 13, 14, 13, 12, 9, 10]
    high = [c + 1 for c in close]
    low = [c - 1 for c in close]
    targets = Breakout(lookback=3, exit_lookback=2).targets(bars_of(close, high, low))
    # bar 4: 13 > max(12, 11, 12); bar 7: 12 is not below min(13, 12), so it holds;
    # bar 8: 9 < min(12, 11) exits.
    assert targets.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]


def test_breakout_does_not_count_the_current_bar_in_its_channel() -> None:
    # A bar whose own high is the highest still breaks out when its close beats the others.
    close = [10, 10, 10, 12]
    high = [11, 11, 11, 13]
    assert Breakout(3, 1).targets(bars_of(close, high, close)).tolist() == [0, 0, 0, 1]


# --- every strategy -------------------------------------------------------------------

ALL = [MaCrossover(5, 20), RsiReversion(7, 40, 60), Breakout(15, 5), Breakout(5, 15)]


@pytest.mark.parametrize("strategy", ALL, ids=repr)
def test_targets_are_flat_during_warmup_and_long_or_flat_after(strategy: Strategy) -> None:
    close = walk(3000, seed=5)
    bars = bars_of(close, close * 1.01, close * 0.99)
    targets = strategy.targets(bars)
    assert targets.shape == (len(bars),)
    assert not targets[: strategy.warmup].any()
    assert set(np.unique(targets)) == {0.0, 1.0}


@pytest.mark.parametrize("strategy", ALL, ids=repr)
def test_too_few_bars_give_flat_targets(strategy: Strategy) -> None:
    for n in range(strategy.warmup + 1):
        assert strategy.targets(bars_of(walk(n, seed=1))).tolist() == [0.0] * n


prices = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    strategy=st.sampled_from(
        [MaCrossover(2, 5), RsiReversion(3, 40, 60), RsiReversion(1), Breakout(4, 2)]
    ),
    before=st.lists(prices, min_size=1, max_size=80),
    after=st.lists(prices, min_size=1, max_size=40),
    changed=st.lists(prices, min_size=1, max_size=40),
)
def test_targets_never_look_ahead(
    strategy: Strategy, before: list[float], after: list[float], changed: list[float]
) -> None:
    """What a strategy decides at bar i is the same whatever the later bars turn out to be,
    and the same as the live runner gets from the bars closed up to i."""
    k = len(before)
    one = bars_of(before + after, [p * 1.01 for p in before + after])
    other = bars_of(before + changed, [p * 1.01 for p in before + changed])
    first = strategy.targets(one)
    assert np.array_equal(first[:k], strategy.targets(other)[:k])
    assert np.array_equal(first[:k], strategy.targets(one[:k]))


# --- registry -------------------------------------------------------------------------


def test_make_parses_cli_strings_to_the_parameter_types() -> None:
    ma = make("ma_cross", {"fast": "5", "slow": " 20 "})
    assert isinstance(ma, MaCrossover)
    assert dict(ma.params) == {"fast": 5, "slow": 20}
    assert all(type(v) is int for v in ma.params.values())
    r = make("rsi", {"lower": "25.5", "upper": 80})
    assert dict(r.params) == {"period": 14, "lower": 25.5, "upper": 80.0}
    assert type(r.params["upper"]) is float
    assert dict(make("breakout", {"lookback": 30.0}).params) == {
        "lookback": 30,
        "exit_lookback": 10,
    }
    assert dict(make("ma_cross").params) == {"fast": 10, "slow": 30}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("macd", {}, "unknown strategy 'macd'; known: breakout, ma_cross, rsi"),
        ("ma_cross", {"fats": "5"}, "ma_cross has no parameter 'fats'; its parameters: fast, slow"),
        ("ma_cross", {"fast": "1.5"}, "fast must be a whole number, got '1.5'"),
        ("ma_cross", {"fast": "five"}, "fast must be a whole number, got 'five'"),
        ("ma_cross", {"fast": True}, "fast must be a whole number, got True"),
        ("rsi", {"lower": "low"}, "lower must be a number, got 'low'"),
        ("rsi", {"upper": "nan"}, "upper must be a finite number, got 'nan'"),
        ("ma_cross", {"fast": "30", "slow": "30"}, "fast (30) must be less than slow (30)"),
        ("ma_cross", {"fast": 40}, "fast (40) must be less than slow (30)"),
        ("ma_cross", {"fast": 0}, "fast must be at least 1, got 0"),
        ("rsi", {"period": "0"}, "period must be at least 1, got 0"),
        ("breakout", {"exit_lookback": -2}, "exit_lookback must be at least 1, got -2"),
        ("rsi", {"lower": 70, "upper": 30}, "0 < lower < upper < 100, got lower=70 upper=30"),
        ("rsi", {"upper": 100}, "0 < lower < upper < 100, got lower=30 upper=100"),
        ("rsi", {"lower": 0}, "0 < lower < upper < 100, got lower=0 upper=70"),
    ],
)
def test_make_refuses_bad_input_saying_what_is_expected(
    name: str, params: dict[str, str | float | int], message: str
) -> None:
    with pytest.raises(StrategyError) as caught:
        make(name, params)
    assert message in str(caught.value)


def test_describe_lists_every_strategy_with_defaults_that_make_accepts() -> None:
    described = describe()
    assert [d["name"] for d in described] == sorted(STRATEGIES) == ["breakout", "ma_cross", "rsi"]
    by_name = {d["name"]: d for d in described}
    assert by_name["ma_cross"]["params"] == {"fast": 10, "slow": 30}
    assert by_name["rsi"]["params"] == {"period": 14, "lower": 30.0, "upper": 70.0}
    assert by_name["breakout"]["params"] == {"lookback": 20, "exit_lookback": 10}
    for d in described:
        params, helps = d["params"], d["param_help"]
        assert isinstance(params, dict) and isinstance(helps, dict)
        assert isinstance(d["description"], str) and "\n" not in d["description"]
        assert set(helps) == set(params)
        strategy = make(str(d["name"]), params)
        assert strategy.name == d["name"]
        assert dict(strategy.params) == params
