"""Performance of an equity curve and its trades: return, risk-adjusted ratios, drawdown.

Ratios are annualised for the bar size with crypto's calendar (it trades every day):
periods per year = 365 × 86400 / bar_seconds. They come from per-bar simple returns of the
equity curve, and are 0.0 where they are undefined (no variation, no downside).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from decimal import Context, Decimal

import numpy as np

YEAR_SECONDS = 365 * 86400
_WIDE = Context(prec=80)


def plain(amount: Decimal) -> str:
    """An exact amount as people write it: no exponent, no trailing zeros."""
    return f"{amount.normalize(_WIDE):f}"


@dataclass(frozen=True, slots=True)
class Metrics:
    total_return_pct: float
    annual_return_pct: float  # CAGR; inf when it exceeds what a float holds
    sharpe: float
    sortino: float
    max_drawdown_pct: float
    max_drawdown_bars: int  # the longest run of bars closing below an earlier equity peak
    max_drawdown_duration: timedelta  # from that peak to the last bar below it
    win_rate_pct: float  # closed trades only
    profit_factor: float | None  # gross profit / gross loss; None without a losing trade
    exposure_pct: float  # share of bars holding a position at the close
    trades: int  # closed trades
    fees_paid: Decimal
    final_equity: Decimal

    def to_json(self) -> dict[str, object]:
        """Plain JSON types: Decimals as exact strings, the duration in seconds, non-finite as null."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                out[f.name] = plain(value)
            elif isinstance(value, timedelta):
                out[f.name + "_s"] = int(value.total_seconds())
            elif isinstance(value, float) and not math.isfinite(value):
                out[f.name] = None
            else:
                out[f.name] = value
        return out


def periods_per_year(bar_seconds: int) -> float:
    return YEAR_SECONDS / bar_seconds


def bar_returns(equity: np.ndarray) -> np.ndarray:
    """Simple return of each bar over the one before it; 0 once nothing is left."""
    before = equity[:-1]
    out = np.zeros(len(before))
    np.divide(equity[1:], before, out=out, where=before > 0)
    out -= 1.0
    out[before <= 0] = 0.0
    return out


def sharpe(returns: np.ndarray, bar_seconds: int) -> float:
    """Mean over sample standard deviation (ddof=1) of bar returns, annualised; risk-free 0."""
    if len(returns) < 2:
        return 0.0
    spread = float(returns.std(ddof=1))
    if not spread > 0.0:
        return 0.0
    return float(returns.mean()) / spread * math.sqrt(periods_per_year(bar_seconds))


def sortino(returns: np.ndarray, bar_seconds: int) -> float:
    """Mean bar return over downside deviation (target 0, over all bars), annualised."""
    if len(returns) < 1:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if not downside > 0.0:
        return 0.0
    return float(returns.mean()) / downside * math.sqrt(periods_per_year(bar_seconds))


def cagr_pct(start_value: Decimal, end_value: Decimal, seconds: float) -> float:
    """Compound annual growth in percent over ``seconds``; 0.0 over no time."""
    if seconds <= 0:
        return 0.0
    if end_value <= 0:
        return -100.0
    exponent = math.log(end_value / start_value) * YEAR_SECONDS / seconds
    if exponent > 700.0:  # beyond the largest float, once in percent
        return math.inf
    return math.expm1(exponent) * 100.0


@dataclass(frozen=True, slots=True)
class Drawdown:
    max_pct: float
    longest_bars: int
    longest_seconds: int


def drawdown(equity: np.ndarray, ts: np.ndarray) -> Drawdown:
    """Deepest fall from a running peak, and the longest time spent below a peak."""
    peak = np.maximum.accumulate(equity)
    deepest = float(np.max(1.0 - equity / peak)) * 100.0
    index = np.arange(len(equity))
    last_peak = np.maximum.accumulate(np.where(equity >= peak, index, 0))
    below = index - last_peak
    worst = int(np.argmax(below))
    return Drawdown(
        max_pct=deepest,
        longest_bars=int(below[worst]),
        longest_seconds=int(ts[worst] - ts[last_peak[worst]]),
    )


def measure(
    *,
    equity: np.ndarray,
    ts: np.ndarray,
    holding: np.ndarray,
    bar_seconds: int,
    cash: Decimal,
    final_equity: Decimal,
    closed_pnls: Sequence[Decimal],
    fees_paid: Decimal,
) -> Metrics:
    """All metrics of one backtest; ``holding`` says per bar whether a position was held."""
    returns = bar_returns(equity)
    falls = drawdown(equity, ts)
    wins = [p for p in closed_pnls if p > 0]
    losses = [p for p in closed_pnls if p < 0]
    gross_loss = -sum(losses, Decimal(0))
    span = float(ts[-1] - ts[0] + bar_seconds)
    return Metrics(
        total_return_pct=float((final_equity / cash - 1) * 100),
        annual_return_pct=cagr_pct(cash, final_equity, span),
        sharpe=sharpe(returns, bar_seconds),
        sortino=sortino(returns, bar_seconds),
        max_drawdown_pct=falls.max_pct,
        max_drawdown_bars=falls.longest_bars,
        max_drawdown_duration=timedelta(seconds=falls.longest_seconds),
        win_rate_pct=100.0 * len(wins) / len(closed_pnls) if closed_pnls else 0.0,
        profit_factor=float(sum(wins, Decimal(0)) / gross_loss) if losses else None,
        exposure_pct=float(np.count_nonzero(holding)) * 100.0 / len(holding),
        trades=len(closed_pnls),
        fees_paid=fees_paid,
        final_equity=final_equity,
    )
