"""The Lab's studies: from the ledgers' rows to small, JSON-ready results a report can cite.

Each function takes what the port returned and gives plain numbers (floats rounded only
where the figure is a statistic, never where it is a price or an amount the report quotes).
Data frames never leave this module: the session keeps these results, not the rows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents import analysis
from agents.training import build_features, evaluate
from ledgers.intel import CatalystEvent, HumanItem
from ledgers.market import Candle

MIN_BARS = 60  # fewer bars than this and no study means anything


class NotEnoughData(ValueError):
    """Too little data for the study; the message says how much there is and what is needed."""


def _num(value: float | None, places: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), places)


def _last(series: np.ndarray) -> float | None:
    finite = series[np.isfinite(series)]
    return _num(float(finite[-1])) if finite.size else None


def _mean(series: np.ndarray) -> float | None:
    finite = series[np.isfinite(series)]
    return _num(float(finite.mean())) if finite.size else None


def market_summary(candles: Sequence[Candle]) -> dict[str, Any]:
    """What was read from the exchange ledger: how many bars, from when, and the move."""
    if not candles:
        return {"bars": 0}
    first, last = candles[0], candles[-1]
    return {
        "bars": len(candles),
        "first": first.ts.isoformat(),
        "last": last.ts.isoformat(),
        "first_close": first.close,
        "last_close": last.close,
        "change_pct": _num((last.close / first.close - 1) * 100, 2),
        "high": max(c.high for c in candles),
        "low": min(c.low for c in candles),
    }


def human_summary(items: Sequence[HumanItem]) -> dict[str, Any]:
    scores = [i.score for i in items]
    return {
        "items": len(items),
        "sources": len({i.source for i in items}),
        "mean_score": _num(sum(scores) / len(scores), 3) if scores else None,
        "positive": sum(1 for s in scores if s > 0),
        "negative": sum(1 for s in scores if s < 0),
    }


def catalyst_summary(events: Sequence[CatalystEvent]) -> dict[str, Any]:
    return {
        "events": len(events),
        "by_type": dict(sorted(Counter(e.type for e in events).items())),
        "high_impact": sum(1 for e in events if e.impact >= 7),
    }


def _closes(candles: Sequence[Candle]) -> np.ndarray:
    if len(candles) < MIN_BARS:
        raise NotEnoughData(f"{len(candles)} bars; at least {MIN_BARS} are needed")
    return np.array([c.close for c in candles], dtype=np.float64)


def indicators(candles: Sequence[Candle], periods_per_year: float) -> dict[str, Any]:
    """RSI(14), MACD(12, 26, 9), Bollinger(20, 2) and realised volatility, now and on average."""
    close = _closes(candles)
    rsi = analysis.rsi(close)
    macd = analysis.macd(close)
    bands = analysis.bollinger(close)
    vol = analysis.realised_volatility(close, periods_per_year=periods_per_year)
    return {
        "rsi_14": {
            "last": _last(rsi),
            "mean": _mean(rsi),
            "share_above_70": _num(float(np.mean(rsi[np.isfinite(rsi)] > 70)), 3),
            "share_below_30": _num(float(np.mean(rsi[np.isfinite(rsi)] < 30)), 3),
        },
        "macd": {"histogram_last": _last(macd.histogram), "signal_last": _last(macd.signal)},
        "bollinger_20": {
            "percent_b_last": _last(bands.percent_b),
            "bandwidth_mean": _mean(bands.bandwidth),
        },
        "volatility_annualised": {"last": _last(vol), "mean": _mean(vol)},
    }


def _correlation(c: analysis.Correlation) -> dict[str, Any]:
    return {
        "pairs": c.pairs,
        "r": _num(c.r, 3),
        "control_std": _num(c.control_std, 3),
        "p_value": _num(c.p_value, 3),
        "reason": c.reason or None,
    }


def sentiment(candles: Sequence[Candle], items: Sequence[HumanItem]) -> dict[str, Any]:
    """Does the news' mood lead the price? Correlation with forward returns, against shuffles."""
    close = _closes(candles)
    bars = analysis.epoch_seconds(c.ts for c in candles)
    times = analysis.epoch_seconds(i.published for i in items)
    scores = np.array([i.score for i in items], dtype=np.float64)
    found = analysis.sentiment_alignment(bars, close, times, scores)
    return {
        "bars_with_items": found.bars,
        "items": found.items,
        "forward": {str(h): _correlation(c) for h, c in found.forward.items()},
        "lagged": {str(k): _correlation(c) for k, c in found.lagged.items()},
    }


def catalysts(candles: Sequence[Candle], events: Sequence[CatalystEvent]) -> dict[str, Any]:
    """Mean forward returns after each kind of event, against those after any bar."""
    close = _closes(candles)
    bars = analysis.epoch_seconds(c.ts for c in candles)
    study = analysis.event_study(bars, close, [(e.occurred, e.type, e.impact) for e in events])

    def groups(by: dict[str, dict[int, analysis.ReturnSummary]]) -> dict[str, Any]:
        return {
            name: {
                str(h): {
                    "count": s.count,
                    "mean_pct": _num(s.mean * 100, 3),
                    "excess_pct": _num(s.excess * 100, 3),
                }
                for h, s in horizons.items()
            }
            for name, horizons in by.items()
        }

    return {
        "events": len(study.events),
        "dropped": study.dropped,
        "baseline_pct": {str(h): _num(v * 100, 3) for h, v in study.baseline.items()},
        "by_type": groups(study.by_type),
        "by_impact": groups(study.by_impact),
    }


def train(
    candles: Sequence[Candle], *, fee_bps: float, gap: int = 24
) -> tuple[dict[str, Any], dict[str, float]]:
    """Baselines against candidates, walk-forward; the summary, and the best candidate's
    out-of-sample signal (bar open time → 1 long / 0 flat) for a backtest."""
    close = _closes(candles)
    volume = np.array([c.volume for c in candles], dtype=np.float64)
    features = build_features(close, volume)
    min_train = max(MIN_BARS, len(features) // 4)
    report = evaluate(features, gap=gap, min_train=min_train, fee_bps=fee_bps)
    summary = report.summary()
    summary["scores"] = [
        {k: (_num(v) if isinstance(v, float) else v) for k, v in score.items()}
        for score in summary["scores"]
    ]
    for key in ("return_margin", "log_loss_margin"):
        summary[key] = _num(summary[key])
    signal = {
        candles[int(bar)].ts.isoformat(): 1.0 if p > 0.5 else 0.0
        for bar, p in zip(report.predictions.bars, report.predictions.probability, strict=True)
    }
    return summary, signal
