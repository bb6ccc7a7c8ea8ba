"""The backtester: fills, fees and exact books on a hand-computed path; metrics; the gate."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Context, Decimal, localcontext

import numpy as np
import pytest

from engine.trading.backtest import (
    BacktestError,
    BacktestResult,
    GovernanceGate,
    run_backtest,
)
from engine.trading.bars import Bars
from engine.trading.metrics import bar_returns
from engine.trading.strategies import MaCrossover, make

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# fast=2, slow=3 is long after bar i iff c[i] + c[i-1] > 2·c[i-2]; targets by bar:
#         0   1   2   3   4     5   6   7   8   9   10  11
CLOSE = [10, 10, 10, 12, 14, 10, 9, 12, 13, 11, 16, 17]
OPEN = [10, 10, 10, 10, 12.5, 14, 10, 9, 10, 13, 15, 16]
# targets  0   0   0   1   1     0   0   1   1   0   1   1
# fills: buy at the open of bar 4, sell 6, buy 8, sell 10, buy 11 (still open at the end).


@dataclass(frozen=True)
class Candle:
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


def cut(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("1e-12"), rounding=ROUND_DOWN)


def path() -> Bars:
    candles = [
        Candle(T0 + timedelta(hours=i), o, max(o, c) + 1, min(o, c) - 1, c, 5.0)
        for i, (o, c) in enumerate(zip(OPEN, CLOSE, strict=True))
    ]
    return Bars.from_candles(candles, "BTC/AUD", "1h")


def walk_bars(n: int, seed: int, timeframe: str = "1h", bar_seconds: int = 3600) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0.0, 0.002, n))
    return Bars(
        ts=int(T0.timestamp()) + bar_seconds * np.arange(n),
        open=open_,
        high=np.maximum(open_, close) * 1.003,
        low=np.minimum(open_, close) * 0.997,
        close=close,
        volume=np.ones(n),
        symbol="ETH/AUD",
        timeframe=timeframe,
        bar_seconds=bar_seconds,
    )


def test_bars_from_candles_keep_times_in_utc_and_refuse_naive_ones() -> None:
    bars = path()
    assert len(bars) == 12 and bars.bar_seconds == 3600
    assert bars.time(0) == T0 and bars.time(-1) == T0 + timedelta(hours=11)
    assert bars.time(0).tzinfo is UTC
    assert bars.close.tolist() == CLOSE
    naive = Candle(datetime(2026, 1, 1), 1.0, 1.0, 1.0, 1.0, 1.0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="no timezone"):
        Bars.from_candles([naive], "BTC/AUD", "1h")
    with pytest.raises(ValueError, match="increasing time order"):
        Bars.from_candles([Candle(T0, 1, 1, 1, 1, 1)] * 2, "BTC/AUD", "1h")


# --- the hand-computed path -----------------------------------------------------------


def test_without_costs_trades_fill_at_the_next_open_and_equity_marks_at_the_close() -> None:
    result = run_backtest(MaCrossover(2, 3), path(), fee_rate=Decimal(0))
    hour = timedelta(hours=1)
    closed = [(t.entry_time, t.exit_time, t.entry_price, t.exit_price) for t in result.trades]
    assert closed == [
        (T0 + 4 * hour, T0 + 6 * hour, Decimal("12.5"), Decimal("10")),
        (T0 + 8 * hour, T0 + 10 * hour, Decimal("10"), Decimal("15")),
        (T0 + 11 * hour, None, Decimal("16"), None),  # signal at bar 10, filled at bar 11
    ]
    assert [t.quantity for t in result.trades] == [800, 800, 750]
    assert [t.pnl for t in result.trades] == [-2000, 4000, 750]  # the open one at close 17
    assert result.equity.tolist() == [
        10000, 10000, 10000, 10000, 11200, 8000, 8000, 8000, 10400, 8800, 12000, 12750,
    ]  # fmt: skip
    assert result.metrics.final_equity == Decimal(12750)
    assert result.metrics.fees_paid == 0


def test_fees_and_slippage_follow_the_paper_broker_and_reconcile_exactly() -> None:
    result = run_backtest(MaCrossover(2, 3), path(), cash=Decimal(10000), slippage_bps=Decimal(10))
    first, second, last = result.trades
    # Buys pay 10 bps over the open, sells get 10 bps under it.
    assert (first.entry_price, first.exit_price) == (Decimal("12.5125"), Decimal("9.99"))
    assert (second.entry_price, second.exit_price) == (Decimal("10.01"), Decimal("14.985"))
    assert last.entry_price == Decimal("16.016") and last.exit_price is None
    # All cash in: quantity = cash / (price × (1 + fee)) to 28 digits, rounded down; quote
    # amounts are cut to 12 decimal places.
    quantity = Context(prec=28, rounding=ROUND_DOWN).divide(Decimal(10000), Decimal("12.5250125"))
    assert first.quantity == quantity
    with localcontext(Context(prec=80)):
        buy_gross = cut(Decimal("12.5125") * quantity)
        buy_fee = cut(Decimal("0.001") * buy_gross)
        sell_gross = cut(Decimal("9.99") * quantity)
        sell_fee = cut(Decimal("0.001") * sell_gross)
    assert first.fees == buy_fee + sell_fee
    spent = buy_gross + buy_fee
    assert Decimal(0) <= Decimal(10000) - spent < Decimal("1e-11")  # never more than the cash
    assert first.pnl == sell_gross - sell_fee - spent
    assert float(first.pnl) == pytest.approx(-2031.93, abs=0.01)
    # Money is exact: the starting cash plus every trade's PnL is the final equity.
    assert Decimal(10000) + sum(t.pnl for t in result.trades) == result.metrics.final_equity
    assert sum(t.fees for t in result.trades) == result.metrics.fees_paid
    with localcontext(Context(prec=80)):
        last_cost = cut(last.entry_price * last.quantity) + last.fees
        marked = cut(last.quantity * 17)
    cash_left = Decimal(10000) + first.pnl + second.pnl - last_cost
    assert Decimal(0) <= cash_left < Decimal("1e-11")
    assert result.metrics.final_equity == cash_left + marked
    assert last.pnl == marked - last_cost  # open: marked at the last close, no exit fee
    # Equity at the close of bar 4 is what the first buy holds, marked at 14.
    assert result.equity[4] == pytest.approx(float(quantity) * 14, rel=1e-12)
    assert result.equity[-1] == pytest.approx(float(result.metrics.final_equity), rel=1e-12)


def test_metrics_of_the_hand_computed_curve() -> None:
    m = run_backtest(MaCrossover(2, 3), path(), fee_rate=Decimal(0)).metrics
    assert m.total_return_pct == pytest.approx(27.5)
    # Peak 11,200 at bar 4, trough 8,000; bars 5-9 close below it until 12,000 at bar 10.
    assert m.max_drawdown_pct == pytest.approx(100 * (1 - 8000 / 11200))
    assert m.max_drawdown_bars == 5
    assert m.max_drawdown_duration == timedelta(hours=5)
    # Closed trades -2000 and +4000; the open one is left out.
    assert m.trades == 2
    assert m.win_rate_pct == 50.0
    assert m.profit_factor == pytest.approx(2.0)
    assert m.exposure_pct == pytest.approx(100 * 5 / 12)  # bars 4, 5, 8, 9, 11
    # 27.5 % over the 12 hours from the first open to the last close, compounded per year.
    assert m.annual_return_pct == pytest.approx((1.275 ** (8760 / 12) - 1) * 100, rel=1e-9)


def test_sharpe_and_sortino_are_annualised_for_the_bar_size() -> None:
    result = run_backtest(MaCrossover(2, 3), path(), fee_rate=Decimal(0))
    curve = result.equity.tolist()
    returns = [b / a - 1 for a, b in zip(curve, curve[1:], strict=False)]
    per_year = 365 * 24  # hourly bars, every day of the year
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(per_year)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    sortino = statistics.mean(returns) / downside * math.sqrt(per_year)
    assert result.metrics.sharpe == pytest.approx(sharpe, rel=1e-12)
    assert result.metrics.sortino == pytest.approx(sortino, rel=1e-12)


def test_the_same_prices_as_daily_bars_annualise_with_365_periods() -> None:
    hourly = path()
    start = int(T0.timestamp())
    daily = Bars(
        start + 86400 * np.arange(12),
        hourly.open,
        hourly.high,
        hourly.low,
        hourly.close,
        hourly.volume,
        "BTC/AUD",
        "1d",
        86400,
    )
    per_hour = run_backtest(MaCrossover(2, 3), hourly, fee_rate=Decimal(0)).metrics
    per_day = run_backtest(MaCrossover(2, 3), daily, fee_rate=Decimal(0)).metrics
    assert per_day.sharpe == pytest.approx(per_hour.sharpe * math.sqrt(365 / 8760))
    assert per_day.sortino == pytest.approx(per_hour.sortino * math.sqrt(365 / 8760))
    assert per_day.max_drawdown_duration == timedelta(days=5)


def test_ratios_are_zero_not_nan_when_nothing_moves() -> None:
    flat = replace(
        path(),
        close=np.full(12, 10.0),
        open=np.full(12, 10.0),
        high=np.full(12, 11.0),
        low=np.full(12, 9.0),
    )
    m = run_backtest(MaCrossover(2, 3), flat).metrics
    assert (m.sharpe, m.sortino, m.trades, m.exposure_pct) == (0.0, 0.0, 0, 0.0)
    assert m.profit_factor is None and m.win_rate_pct == 0.0
    assert m.max_drawdown_pct == 0.0 and m.max_drawdown_bars == 0
    assert m.final_equity == Decimal(10000)


def test_an_account_wiped_out_still_has_finite_metrics() -> None:
    # 2e-12 buys 1.6e-13 at 12.5; selling that at 5 is worth less than the smallest amount kept.
    opens = np.array(OPEN)
    opens[6] = 5.0
    wiped = replace(path(), open=opens, low=np.minimum(path().low, 4.0))
    result = run_backtest(MaCrossover(2, 3), wiped, cash=Decimal("2e-12"), fee_rate=Decimal(0))
    assert result.equity[6:].tolist() == [0.0] * 6
    m = result.metrics
    assert (m.total_return_pct, m.max_drawdown_pct, m.annual_return_pct) == (-100, 100, -100)
    assert all(math.isfinite(x) for x in (m.sharpe, m.sortino))
    # Losing everything is one -100 % bar; after it nothing is left to lose.
    assert bar_returns(np.array([10.0, 0.0, 0.0])).tolist() == [-1.0, 0.0]


def test_a_drawdown_never_recovered_lasts_to_the_last_bar() -> None:
    close = [10.0, 10, 10, 12, 14, 10, 9, 12, 13, 11, 10, 9]
    opens = [10.0, *close[:-1]]  # peak 11,667 at bar 4; trades at 12→10 and 12→11 both lose
    bars = replace(
        path(),
        close=np.array(close),
        open=np.array(opens),
        low=np.full(12, 1.0),
        high=np.full(12, 20.0),
    )
    m = run_backtest(MaCrossover(2, 3), bars, fee_rate=Decimal(0)).metrics
    assert m.max_drawdown_bars == 7  # bars 5 to 11 all close below the peak at bar 4
    assert m.max_drawdown_duration == timedelta(hours=7)


def test_a_signal_on_the_last_bar_does_not_fill() -> None:
    close = [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 12]  # long only after the last close
    bars = replace(
        path(), close=np.array(close, dtype=float), low=np.full(12, 1.0), high=np.full(12, 20.0)
    )
    assert MaCrossover(2, 3).targets(bars)[-1] == 1.0
    result = run_backtest(MaCrossover(2, 3), bars)
    assert result.trades == () and result.metrics.final_equity == Decimal(10000)


# --- input, determinism, output -------------------------------------------------------


def test_refuses_too_few_bars_and_negative_costs() -> None:
    bars = walk_bars(30, seed=1)
    with pytest.raises(BacktestError, match="ma_cross needs at least 31 bars of 1h, got 30"):
        run_backtest(make("ma_cross"), bars)
    with pytest.raises(BacktestError, match="fee_rate must be at least 0"):
        run_backtest(MaCrossover(2, 3), path(), fee_rate=Decimal("-0.001"))
    with pytest.raises(BacktestError, match="slippage_bps must be at least 0"):
        run_backtest(MaCrossover(2, 3), path(), slippage_bps=Decimal(-1))
    with pytest.raises(BacktestError, match="cash must be positive"):
        run_backtest(MaCrossover(2, 3), path(), cash=Decimal(0))
    with pytest.raises(BacktestError, match="at most 12 decimal places"):
        run_backtest(MaCrossover(2, 3), path(), cash=Decimal("100.0000000000001"))


def test_refuses_targets_it_cannot_trade() -> None:
    class Half(MaCrossover):
        def targets(self, bars: Bars) -> np.ndarray:
            return super().targets(bars) * 0.5

    with pytest.raises(BacktestError, match=r"target 0\.5 at bar 3; .* must be 0\.0 or 1\.0"):
        run_backtest(Half(2, 3), path())


@pytest.mark.parametrize("name", ["ma_cross", "rsi", "breakout"])
def test_every_strategy_backtests_deterministically_with_exact_books(name: str) -> None:
    bars = walk_bars(3000, seed=9)
    runs = [
        run_backtest(make(name), bars, fee_rate=Decimal("0.0026"), slippage_bps=Decimal("2.5"))
        for _ in range(2)
    ]
    a, b = runs
    assert a.trades == b.trades and a.metrics == b.metrics
    assert np.array_equal(a.equity, b.equity)
    assert len(a.trades) >= 5
    assert Decimal(10000) + sum(t.pnl for t in a.trades) == a.metrics.final_equity
    assert sum(t.fees for t in a.trades) == a.metrics.fees_paid
    assert a.metrics.trades == sum(1 for t in a.trades if not t.is_open)
    assert a.equity[-1] == pytest.approx(float(a.metrics.final_equity), rel=1e-9)


def test_to_json_is_plain_json_with_exact_money_as_strings() -> None:
    result = run_backtest(MaCrossover(2, 3), path(), slippage_bps=Decimal(10))
    data = json.loads(json.dumps(result.to_json(points=6)))
    assert data["strategy"] == "ma_cross" and data["params"] == {"fast": 2, "slow": 3}
    assert data["start"] == "2026-01-01T00:00:00+00:00"
    assert data["end"] == "2026-01-01T12:00:00+00:00"  # the close of the last bar
    assert Decimal(data["metrics"]["final_equity"]) == result.metrics.final_equity
    assert data["metrics"]["max_drawdown_duration_s"] == result.metrics.max_drawdown_bars * 3600
    assert data["trades"][0]["entry_price"] == "12.5125"
    assert data["trades"][-1]["exit_time"] is None
    assert len(data["equity"]) <= 6
    free = run_backtest(MaCrossover(2, 3), path(), fee_rate=Decimal(0)).to_json()["metrics"]
    assert isinstance(free, dict)
    assert (free["fees_paid"], free["final_equity"]) == ("0", "12750")  # no "0E-12"


def test_equity_points_keep_the_ends_and_the_trough() -> None:
    result = run_backtest(make("ma_cross"), walk_bars(5000, seed=2))
    points = result.equity_points(100)
    assert len(points) <= 100
    assert points[0] == (T0, result.equity[0])
    assert points[-1] == (T0 + timedelta(hours=4999), result.equity[-1])
    assert min(v for _, v in points) == result.equity.min()
    assert max(v for _, v in points) == result.equity.max()
    assert [t for t, _ in points] == sorted({t for t, _ in points})
    small = run_backtest(MaCrossover(2, 3), path())
    assert len(small.equity_points(50)) == 12
    assert [v for _, v in small.equity_points(2)] == [small.equity[0], small.equity[-1]]


# --- governance gate ------------------------------------------------------------------


def with_metrics(result: BacktestResult, **changes: object) -> BacktestResult:
    return replace(result, metrics=replace(result.metrics, **changes))


def test_gate_names_every_failed_criterion_with_its_number_and_threshold() -> None:
    base = run_backtest(MaCrossover(2, 3), path())
    gate = GovernanceGate()
    weak = with_metrics(base, trades=12, sharpe=0.31, max_drawdown_pct=31.2)
    verdict = gate.evaluate(weak)
    assert not verdict.passed
    assert verdict.reasons == (
        "12 trades, at least 20 needed",
        "Sharpe 0.31, at least 0.50 needed",
        "max drawdown 31.2%, at most 25.0% allowed",
    )
    only_sharpe = gate.evaluate(with_metrics(base, trades=40, sharpe=0.2, max_drawdown_pct=10.0))
    assert only_sharpe.reasons == ("Sharpe 0.20, at least 0.50 needed",)


def test_gate_passes_at_its_thresholds_and_can_be_configured() -> None:
    base = run_backtest(MaCrossover(2, 3), path())
    edge = with_metrics(base, trades=20, sharpe=0.5, max_drawdown_pct=25.0)
    assert GovernanceGate().evaluate(edge).passed
    assert GovernanceGate().evaluate(edge).reasons == ()
    strict = GovernanceGate(min_trades=50, min_sharpe=1.0, max_drawdown_pct=10.0)
    assert len(strict.evaluate(edge).reasons) == 3
