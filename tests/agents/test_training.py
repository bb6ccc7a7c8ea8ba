"""Training honestly: no look-ahead, walk-forward splits, baselines that noise cannot beat."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.training import (
    FEATURES,
    SENTIMENT_FEATURES,
    VOLUME_FEATURES,
    WARMUP,
    BuyAndHold,
    Features,
    Flat,
    Forecast,
    LastReturnSign,
    Logistic,
    Model,
    Score,
    TrainingReport,
    build_features,
    default_models,
    evaluate,
    walk_forward,
)

BARS = 3000


def random_walk(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, BARS)))


def reversal(seed: int, odds: float = 0.75) -> np.ndarray:
    """Each bar moves against the last four bars' move with probability ``odds``."""
    rng = np.random.default_rng(seed)
    returns = list(rng.normal(0, 0.01, 4))
    for _ in range(BARS - 4):
        trend = np.sign(sum(returns[-4:]))
        sign = -trend if rng.random() < odds else trend
        returns.append(sign * abs(rng.normal(0, 0.01)))
    return 100 * np.exp(np.cumsum(returns))


@pytest.fixture(scope="module")
def edge() -> Features:
    return build_features(reversal(seed=3))


def score(report: TrainingReport, model: str) -> Score:
    return next(s for s in report.scores if s.model == model)


# --- features ---------------------------------------------------------------------------------

moves = st.floats(-0.2, 0.2, allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), n=st.integers(WARMUP + 2, 70))
def test_no_feature_at_bar_t_reads_past_t(data: st.DataObject, n: int) -> None:
    t = data.draw(st.integers(WARMUP, n - 1), label="t")
    returns = np.array(data.draw(st.lists(moves, min_size=n, max_size=n), label="returns"))
    volume = np.array(data.draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)))
    sentiment = np.array(
        data.draw(st.lists(st.none() | st.floats(-1, 1), min_size=n, max_size=n)), dtype=float
    )
    later = n - t - 1
    changed_returns = returns.copy()
    changed_returns[t + 1 :] = data.draw(st.lists(moves, min_size=later, max_size=later))
    changed_volume = volume.copy()
    changed_volume[t + 1 :] = data.draw(st.lists(st.floats(0, 1e6), min_size=later, max_size=later))
    changed_sentiment = sentiment.copy()
    changed_sentiment[t + 1 :] = np.nan

    before = build_features(100 * np.exp(np.cumsum(returns)), volume, sentiment)
    after = build_features(
        100 * np.exp(np.cumsum(changed_returns)), changed_volume, changed_sentiment
    )

    assert np.array_equal(before.bars, after.bars)
    upto = before.bars <= t
    assert np.array_equal(before.matrix[upto], after.matrix[upto])


def test_rows_labels_and_columns() -> None:
    close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 40)))
    close[30] = close[29]  # an unchanged close is "not up"
    sentiment = np.full(40, np.nan)
    sentiment[[25, 27]] = [0.4, -0.6]

    features = build_features(close, volume=np.arange(40.0), sentiment=sentiment)

    assert features.names == FEATURES + VOLUME_FEATURES + SENTIMENT_FEATURES
    assert features.bars.tolist() == list(range(WARMUP, 39))  # warm-up and last bar left out
    assert features.matrix.shape == (len(features.bars), len(features.names))
    assert np.allclose(features.forward_returns, np.log(close[WARMUP + 1 :] / close[WARMUP:-1]))
    assert features.labels.tolist() == (close[WARMUP + 1 :] > close[WARMUP:-1]).astype(int).tolist()
    assert features.labels[features.bars == 29] == 0
    column = dict(zip(features.names, features.matrix.T, strict=True))
    row = features.bars.tolist().index(27)
    assert column["ret_1"][row] == pytest.approx(math.log(close[27] / close[26]))
    assert column["ret_24"][row] == pytest.approx(math.log(close[27] / close[3]))
    assert column["ma_gap_24"][row] == pytest.approx(math.log(close[27] / close[4:28].mean()))
    assert column["vol_24"][row] == pytest.approx(np.diff(np.log(close[3:28])).std())
    assert column["sentiment"][[1, 2, 3]].tolist() == [0.4, 0.0, -0.6]
    assert column["sentiment_missing"][[1, 2, 3]].tolist() == [0.0, 1.0, 0.0]


def test_rsi_is_one_when_every_bar_rose_and_zero_when_none_moved() -> None:
    rising = build_features(np.exp(np.arange(30) * 0.01))
    still = build_features(np.ones(30))
    rsi = FEATURES.index("rsi_14")
    assert np.allclose(rising.matrix[:, rsi], 1.0)
    assert np.all(still.matrix == 0.0)
    assert np.all(still.labels == 0)


@pytest.mark.parametrize(
    ("close", "kwargs", "message"),
    [
        (np.ones(WARMUP + 1), {}, f"need at least {WARMUP + 2} bars"),
        (np.r_[np.ones(30), 0.0], {}, "positive"),
        (np.r_[np.ones(30), np.nan], {}, "close must be finite"),
        (np.ones((30, 2)), {}, "one-dimensional"),
        (np.ones(30), {"volume": np.ones(29)}, "volume has 29 bars, close has 30"),
        (np.ones(30), {"volume": -np.ones(30)}, "volume must not be negative"),
        (np.ones(30), {"sentiment": np.full(30, np.inf)}, "sentiment must be finite or NaN"),
    ],
)
def test_bad_series_are_refused(close: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_features(close, **kwargs)


# --- walk-forward -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_rows", "splits", "gap", "min_train"),
    [(1000, 5, 24, 240), (269, 5, 24, 240), (38, 3, 5, 30), (57, 1, 7, 3), (500, 7, 13, 50)],
)
def test_walk_forward_splits(n_rows: int, splits: int, gap: int, min_train: int) -> None:
    folds = list(walk_forward(n_rows, splits=splits, gap=gap, min_train=min_train))

    assert len(folds) == splits
    assert len(folds[0][0]) >= min_train
    tested = np.concatenate([test for _, test in folds])
    assert tested.tolist() == list(range(tested[0], n_rows))  # contiguous, disjoint, to the end
    assert len({len(test) for _, test in folds}) == 1
    for train, test in folds:
        assert train.tolist() == list(range(len(train)))  # expanding from the first row
        assert test[0] - train[-1] - 1 == gap  # exactly `gap` rows skipped between them
    assert [len(train) for train, _ in folds] == sorted(len(train) for train, _ in folds)


@pytest.mark.parametrize(
    ("n_rows", "kwargs", "message"),
    [
        (268, {}, "needs at least 269 rows, got 268"),
        (37, {"splits": 3, "gap": 5, "min_train": 30}, "needs at least 38 rows, got 37"),
        (1000, {"splits": 0}, "splits must be at least 1"),
        (1000, {"gap": -1}, "gap must not be negative"),
        (1000, {"min_train": 0}, "min_train must be at least 1"),
    ],
)
def test_walk_forward_refuses_bad_arguments(n_rows: int, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list(walk_forward(n_rows, **kwargs))


# --- metrics by hand --------------------------------------------------------------------------


class Scripted(Model):
    """A candidate that says what it is told, one test block at a time."""

    name = "scripted"
    kind = "candidate"

    def __init__(self, *blocks: list[float]) -> None:
        self.blocks = iter(blocks)

    def forecast(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> Forecast:
        probability = np.array(next(self.blocks))
        return Forecast(probability, probability > 0.5)


def tiny() -> Features:
    forward = np.array([0.01, -0.02, 0.03, -0.01, 0.02, 0.04])
    return Features(
        matrix=np.array([[0.02], [0.01], [-0.02], [0.03], [-0.01], [0.02]]),
        labels=(forward > 0).astype(int),
        forward_returns=forward,
        bars=np.arange(30, 36),
        names=("ret_1",),
    )


def test_metrics_by_hand() -> None:
    # Rows 0-1 train for test rows 2-3, rows 0-3 for rows 4-5. Out of sample: labels
    # 1 0 1 1, forward returns .03 -.01 .02 .04. One trade costs -log(1 - 0.001).
    models = [Flat(), BuyAndHold(), LastReturnSign(), Scripted([0.8, 0.6], [0.3, 0.9])]
    report = evaluate(tiny(), models=models, splits=2, gap=0, min_train=2, fee_bps=10)
    fee = -math.log(1 - 0.001)

    scripted = score(report, "scripted")  # long, long, flat, long: four position changes
    assert scripted.hit_rate == 0.5
    assert scripted.log_loss == pytest.approx(
        -(math.log(0.8) + math.log(0.4) + math.log(0.3) + math.log(0.9)) / 4
    )
    assert scripted.trades == 4
    assert scripted.strategy_return == pytest.approx(0.03 - 0.01 + 0.04 - 4 * fee)
    assert scripted.exposure == 0.75

    # Base rate of up bars, Laplace-smoothed: (1 + 1) / (2 + 2), then (2 + 1) / (4 + 2).
    flat = score(report, "flat")
    assert (flat.hit_rate, flat.trades, flat.strategy_return, flat.exposure) == (0.25, 0, 0, 0)
    assert flat.log_loss == pytest.approx(math.log(2))
    hold = score(report, "buy_and_hold")
    assert (hold.hit_rate, hold.trades, hold.exposure) == (0.75, 2, 1.0)
    assert hold.strategy_return == pytest.approx(0.08 - 2 * fee)
    assert hold.log_loss == pytest.approx(math.log(2))

    # Long after up bars: flat, long, flat, long. Its probabilities are the up rates after
    # each kind of bar: 1/2 either way on rows 0-1; on rows 0-3, 2/5 after up, 2/3 after down.
    last = score(report, "last_return_sign")
    assert (last.hit_rate, last.trades, last.exposure) == (0.25, 4, 0.5)
    assert last.strategy_return == pytest.approx(-0.01 + 0.04 - 4 * fee)
    assert last.log_loss == pytest.approx((2 * math.log(2) - math.log(2 / 3) - math.log(0.4)) / 4)

    assert report.rows == 4
    assert (report.best_candidate, report.best_baseline) == ("scripted", "buy_and_hold")
    assert report.return_margin == pytest.approx(scripted.strategy_return - hold.strategy_return)
    assert report.log_loss_margin == pytest.approx(last.log_loss - scripted.log_loss)
    assert report.log_loss_margin > 0 > report.return_margin
    assert not report.beats_baseline
    assert report.predictions.model == "scripted"
    assert report.predictions.bars.tolist() == [32, 33, 34, 35]
    assert report.predictions.probability.tolist() == [0.8, 0.6, 0.3, 0.9]


def test_evaluate_refuses_models_it_cannot_compare() -> None:
    with pytest.raises(ValueError, match="at least one baseline and one candidate"):
        evaluate(tiny(), models=[Flat(), BuyAndHold()], splits=2, gap=0, min_train=2)
    with pytest.raises(ValueError, match="unique"):
        evaluate(tiny(), models=[Flat(), Flat(), Scripted()], splits=2, gap=0, min_train=2)


# --- honesty ----------------------------------------------------------------------------------


def test_a_random_walk_has_no_edge() -> None:
    report = evaluate(build_features(random_walk(seed=7)))

    for model in ("logistic", "gradient_boosting"):
        assert abs(score(report, model).hit_rate - 0.5) < 0.04
    assert report.log_loss_margin < 0  # no candidate forecasts better than the base rate
    assert not report.beats_baseline


def test_shuffled_labels_take_the_edge_away(edge: Features) -> None:
    order = np.random.default_rng(3).permutation(len(edge))
    shuffled = replace(edge, labels=edge.labels[order], forward_returns=edge.forward_returns[order])

    report = evaluate(shuffled)

    for model in ("logistic", "gradient_boosting"):
        assert abs(score(report, model).hit_rate - 0.5) < 0.04
    assert not report.beats_baseline


def test_a_real_edge_is_found_out_of_sample(edge: Features) -> None:
    report = evaluate(edge)

    for model in ("logistic", "gradient_boosting"):
        assert score(report, model).hit_rate > 0.65
    for model in ("flat", "buy_and_hold", "last_return_sign"):
        assert score(report, model).hit_rate < 0.55
    assert report.beats_baseline
    assert report.return_margin > 1.0  # log return over ~2,700 hourly bars, after fees
    assert report.log_loss_margin > 0.05
    assert report.predictions.model == report.best_candidate
    assert report.predictions.bars.tolist() == edge.bars[-report.rows :].tolist()
    held = report.predictions.probability > 0.5
    assert edge.forward_returns[-report.rows :][held].mean() > 0


def test_fees_are_charged_per_trade(edge: Features) -> None:
    models = [BuyAndHold(), LastReturnSign(), Logistic()]

    free = evaluate(edge, models=models, fee_bps=0)
    costly = evaluate(edge, models=models, fee_bps=25)

    for model in ("logistic", "last_return_sign", "buy_and_hold"):
        paid = score(free, model).strategy_return - score(costly, model).strategy_return
        assert paid == pytest.approx(-math.log(1 - 0.0025) * score(free, model).trades)


def test_the_same_inputs_give_the_same_report_and_a_json_summary() -> None:
    features = build_features(random_walk(seed=11), volume=np.ones(BARS))

    first = evaluate(features, models=default_models(seed=5))
    again = evaluate(features, models=default_models(seed=5))

    assert first.summary() == again.summary()
    assert np.array_equal(first.predictions.probability, again.predictions.probability)
    summary = json.loads(json.dumps(first.summary()))
    assert "predictions" not in summary
    assert [s["model"] for s in summary["scores"]] == [m.name for m in default_models()]
