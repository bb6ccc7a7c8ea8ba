"""Small, honest models on bars: is there a tradable edge in the next bar's direction?

Features at bar t use only data at or before t; models are scored out of sample over
expanding walk-forward splits, and every candidate must beat simple baselines to count.
scikit-learn is imported inside the candidates that use it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Kind = Literal["baseline", "candidate"]

WINDOW = 24
"""The longest lookback in bars (a day of hourly bars): volatility, moving average, volume."""
RSI_WINDOW = 14
WARMUP = WINDOW
"""The first bar with every feature defined: ``ret_24`` and ``vol_24`` reach back 24 bars."""

FEATURES = ("ret_1", "ret_4", "ret_24", "vol_24", "ma_gap_24", "rsi_14")
"""Always present, in this order (``LastReturnSign`` reads ``ret_1``, the first column):

- ``ret_1``, ``ret_4``, ``ret_24``: log return from close t-k to close t.
- ``vol_24``: standard deviation of the 24 one-bar log returns ending at close t.
- ``ma_gap_24``: log of close t over the mean of closes t-23..t.
- ``rsi_14``: (U - D) / (U + D), where U and D are the sums of the up and down one-bar log
  returns over the 14 bars ending at t; this is (RSI - 50) / 50 for a simple-average RSI, and
  0 when nothing moved.
"""
VOLUME_FEATURES = ("volume_24",)
"""With volume: ``volume_24`` is log(1 + volume t) minus its mean over bars t-23..t."""
SENTIMENT_FEATURES = ("sentiment", "sentiment_missing")
"""With sentiment: the bar's score, 0 where it is missing, and 1.0 in ``sentiment_missing``
there. The caller aligns scores so that the one at bar t was published by close t."""

_RET_1 = FEATURES.index("ret_1")
_CLIP = 1e-6
"""Probabilities are clipped to [_CLIP, 1 - _CLIP] before the log loss."""


@dataclass(frozen=True)
class Features:
    """One row per bar with every feature defined and a known next bar."""

    matrix: np.ndarray  # (rows, len(names)) float
    labels: np.ndarray  # (rows,) 1 if close t+1 > close t, else 0
    forward_returns: np.ndarray  # (rows,) log return from close t to close t+1
    bars: np.ndarray  # (rows,) the bar index t of each row
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def build_features(
    close: Sequence[float] | np.ndarray,
    volume: Sequence[float] | np.ndarray | None = None,
    sentiment: Sequence[float] | np.ndarray | None = None,
) -> Features:
    """Features and next-bar labels for bars WARMUP..n-2 (see FEATURES for each column)."""
    close = _series("close", close)
    n = len(close)
    if not np.all(close > 0):
        raise ValueError("close must be positive")
    if n < WARMUP + 2:
        raise ValueError(f"need at least {WARMUP + 2} bars of close, got {n}")

    log_close = np.log(close)
    returns = np.diff(log_close, prepend=np.nan)  # returns[t] is the return into bar t
    bars = np.arange(WARMUP, n - 1)
    rsi_returns = _trailing(returns, RSI_WINDOW)
    up = np.clip(rsi_returns, 0, None).sum(axis=1)
    down = -np.clip(rsi_returns, None, 0).sum(axis=1)
    moved = up + down
    columns = [
        log_close[bars] - log_close[bars - 1],
        log_close[bars] - log_close[bars - 4],
        log_close[bars] - log_close[bars - WINDOW],
        _trailing(returns, WINDOW).std(axis=1),
        log_close[bars] - np.log(_trailing(close, WINDOW).mean(axis=1)),
        np.divide(up - down, moved, out=np.zeros(len(bars)), where=moved > 0),
    ]
    names = FEATURES

    if volume is not None:
        volume = _series("volume", volume, length=n)
        if not np.all(volume >= 0):
            raise ValueError("volume must not be negative")
        log_volume = np.log1p(volume)
        columns.append(log_volume[bars] - _trailing(log_volume, WINDOW).mean(axis=1))
        names += VOLUME_FEATURES

    if sentiment is not None:
        sentiment = _series("sentiment", sentiment, length=n, missing=True)
        missing = np.isnan(sentiment[bars])
        columns += [np.where(missing, 0.0, sentiment[bars]), missing.astype(float)]
        names += SENTIMENT_FEATURES

    forward = log_close[bars + 1] - log_close[bars]
    return Features(
        matrix=np.column_stack(columns),
        labels=(forward > 0).astype(int),
        forward_returns=forward,
        bars=bars,
        names=names,
    )


def _trailing(series: np.ndarray, window: int) -> np.ndarray:
    """The ``window`` values up to and including each bar WARMUP..n-2, one row per bar."""
    return sliding_window_view(series[:-1], window)[WARMUP - window + 1 :]


def _series(
    name: str,
    values: Sequence[float] | np.ndarray,
    *,
    length: int | None = None,
    missing: bool = False,
) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} has {len(array)} bars, close has {length}")
    present = array[~np.isnan(array)] if missing else array
    if not np.all(np.isfinite(present)):
        raise ValueError(f"{name} must be finite" + (" or NaN" if missing else ""))
    return array


def walk_forward(
    n_rows: int, *, splits: int = 5, gap: int = 24, min_train: int = 240
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window (train, test) row indices; ``gap`` rows between them are skipped.

    The test blocks are equal, contiguous and end at the last row; the first train block holds
    at least ``min_train`` rows and the blocks are as long as that allows.
    """
    if splits < 1:
        raise ValueError(f"splits must be at least 1, got {splits}")
    if gap < 0:
        raise ValueError(f"gap must not be negative, got {gap}")
    if min_train < 1:
        raise ValueError(f"min_train must be at least 1, got {min_train}")
    needed = min_train + gap + splits
    if n_rows < needed:
        raise ValueError(
            f"walk-forward with {splits} splits, gap {gap} and min_train {min_train} "
            f"needs at least {needed} rows, got {n_rows}"
        )
    test_size = (n_rows - min_train - gap) // splits
    first_test = n_rows - splits * test_size
    for start in range(first_test, n_rows, test_size):
        yield np.arange(start - gap), np.arange(start, start + test_size)


@dataclass(frozen=True)
class Forecast:
    """A model's view of each test row: P(next bar up), and whether it would be long."""

    probability: np.ndarray
    long: np.ndarray


class Model(ABC):
    """Fits on a training block and forecasts the rows of the test block that follows it."""

    name: ClassVar[str]
    kind: ClassVar[Kind]

    @abstractmethod
    def forecast(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> Forecast:
        """Forecast ``x_test`` having seen only ``x_train`` and its labels."""


def _base_rate(labels: np.ndarray) -> float:
    # Laplace-smoothed, so a constant forecast is never 0 or 1.
    return (labels.sum() + 1) / (len(labels) + 2)


class Flat(Model):
    """Never long. Forecasts the training block's base rate of up bars."""

    name = "flat"
    kind = "baseline"

    def forecast(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> Forecast:
        rows = len(x_test)
        return Forecast(np.full(rows, _base_rate(y_train)), np.zeros(rows, dtype=bool))


class BuyAndHold(Model):
    """Always long. Forecasts the training block's base rate of up bars."""

    name = "buy_and_hold"
    kind = "baseline"

    def forecast(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> Forecast:
        rows = len(x_test)
        return Forecast(np.full(rows, _base_rate(y_train)), np.ones(rows, dtype=bool))


class LastReturnSign(Model):
    """Long after an up bar. Forecasts the training block's base rate of up bars after bars
    like the last one (up, or not up): the best forecast from that one bit of information."""

    name = "last_return_sign"
    kind = "baseline"

    def forecast(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> Forecast:
        after_up = x_train[:, _RET_1] > 0
        long = x_test[:, _RET_1] > 0
        probability = np.where(long, _base_rate(y_train[after_up]), _base_rate(y_train[~after_up]))
        return Forecast(probability, long)


class _Classifier(Model):
    """A scikit-learn classifier, long when it puts P(up) above one half."""

    kind = "candidate"

    @abstractmethod
    def _estimator(self) -> Any:
        """A fresh, unfitted estimator."""

    def forecast(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> Forecast:
        if len(np.unique(y_train)) < 2:
            # One class has nothing to learn from; scikit-learn would refuse to fit.
            probability = np.full(len(x_test), _base_rate(y_train))
        else:
            estimator = self._estimator().fit(x_train, y_train)
            probability = estimator.predict_proba(x_test)[:, 1]
        return Forecast(probability, probability > 0.5)


class Logistic(_Classifier):
    """Logistic regression on standardised features (L2, C=1)."""

    name = "logistic"

    def _estimator(self) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


class GradientBoosting(_Classifier):
    """Shallow histogram gradient boosting: small trees, slow learning, no early stopping
    (its validation split would be random and would reach past the training block's end)."""

    name = "gradient_boosting"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _estimator(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=100,
            max_depth=3,
            min_samples_leaf=50,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.seed,
        )


def default_models(seed: int = 0) -> tuple[Model, ...]:
    """The three baselines and the two candidates."""
    return (Flat(), BuyAndHold(), LastReturnSign(), Logistic(), GradientBoosting(seed))


@dataclass(frozen=True)
class Score:
    """One model out of sample, over every test block.

    ``strategy_return`` is the sum of the forward log returns of the bars held long, plus
    log(1 - fee) for each trade; a trade is any change of position, counting from flat before
    the first test bar and back to flat after the last, so every round trip pays both ways.
    """

    model: str
    kind: Kind
    hit_rate: float
    log_loss: float
    strategy_return: float
    trades: int
    exposure: float


@dataclass(frozen=True)
class Predictions:
    """The best candidate's out-of-sample P(next bar up), per bar: the makings of a signal."""

    model: str
    bars: np.ndarray
    probability: np.ndarray


@dataclass(frozen=True)
class TrainingReport:
    """Every model's out-of-sample score, and whether the best candidate has an edge.

    The best candidate and best baseline are those with the highest strategy return;
    ``log_loss_margin`` is measured against the baseline with the lowest log loss and is
    positive when the candidate's is lower. ``beats_baseline`` needs both margins positive.
    """

    rows: int
    splits: int
    gap: int
    fee_bps: float
    scores: tuple[Score, ...]
    best_candidate: str
    best_baseline: str
    return_margin: float
    log_loss_margin: float
    beats_baseline: bool
    predictions: Predictions

    def summary(self) -> dict[str, Any]:
        """Everything but the per-bar predictions, as plain JSON-ready values."""
        summary = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "predictions"}
        summary["scores"] = [asdict(score) for score in self.scores]
        return summary


def evaluate(
    features: Features,
    *,
    models: Sequence[Model] | None = None,
    splits: int = 5,
    gap: int = 24,
    min_train: int = 240,
    fee_bps: float = 10.0,
) -> TrainingReport:
    """Score every model out of sample over walk-forward splits (``default_models()`` if none)."""
    models = default_models() if models is None else tuple(models)
    names = [model.name for model in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    if not {"baseline", "candidate"} <= {model.kind for model in models}:
        raise ValueError("evaluate needs at least one baseline and one candidate")
    if fee_bps < 0 or fee_bps >= 10_000:
        raise ValueError(f"fee_bps must be in [0, 10000), got {fee_bps}")

    folds = list(walk_forward(len(features), splits=splits, gap=gap, min_train=min_train))
    tested = np.concatenate([test for _, test in folds])
    x, y = features.matrix, features.labels
    forecasts = _forecasts(models, folds, x, y)
    scores = tuple(
        _score(
            model,
            np.concatenate([f.probability for f in forecasts[model.name]]),
            np.concatenate([f.long for f in forecasts[model.name]]),
            y[tested],
            features.forward_returns[tested],
            fee_bps,
        )
        for model in models
    )
    candidates = [s for s in scores if s.kind == "candidate"]
    baselines = [s for s in scores if s.kind == "baseline"]
    best = max(candidates, key=lambda s: s.strategy_return)
    best_baseline = max(baselines, key=lambda s: s.strategy_return)
    return_margin = best.strategy_return - best_baseline.strategy_return
    log_loss_margin = min(s.log_loss for s in baselines) - best.log_loss
    return TrainingReport(
        rows=len(tested),
        splits=splits,
        gap=gap,
        fee_bps=fee_bps,
        scores=scores,
        best_candidate=best.model,
        best_baseline=best_baseline.model,
        return_margin=return_margin,
        log_loss_margin=log_loss_margin,
        beats_baseline=return_margin > 0 and log_loss_margin > 0,
        predictions=Predictions(
            model=best.model,
            bars=features.bars[tested],
            probability=np.concatenate([f.probability for f in forecasts[best.model]]),
        ),
    )


def _forecasts(
    models: Sequence[Model],
    folds: list[tuple[np.ndarray, np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
) -> dict[str, list[Forecast]]:
    """Each model's forecast of every test block, gradient boosting's OpenMP loops on one
    core: on a few thousand rows a pool of threads costs more than it saves (a third more on
    an idle two-core machine, several times more on a busy one) and takes every core from the
    engine running the study. OpenMP's limit is the calling thread's own, so studies running
    side by side do not undo each other's."""
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    with threadpool_limits(limits=1, user_api="openmp"):
        return {
            model.name: [model.forecast(x[train], y[train], x[test]) for train, test in folds]
            for model in models
        }


def _score(
    model: Model,
    probability: np.ndarray,
    long: np.ndarray,
    labels: np.ndarray,
    forward_returns: np.ndarray,
    fee_bps: float,
) -> Score:
    p = np.clip(probability, _CLIP, 1 - _CLIP)
    log_loss = -np.mean(np.where(labels == 1, np.log(p), np.log1p(-p)))
    position = long.astype(int)
    trades = int(np.abs(np.diff(position, prepend=0, append=0)).sum())
    fee = -np.log1p(-fee_bps / 10_000)
    return Score(
        model=model.name,
        kind=model.kind,
        hit_rate=float(np.mean(long == (labels == 1))),
        log_loss=float(log_loss),
        strategy_return=float(forward_returns[long].sum() - trades * fee),
        trades=trades,
        exposure=float(position.mean()),
    )
