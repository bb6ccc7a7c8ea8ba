"""The backtester: a strategy's targets filled with the paper broker's fill and fee model.

A target decided at the close of bar i fills at the open of bar i+1: a buy at
open × (1 + slippage), a sell at open × (1 − slippage), each paying fee_rate × gross in the
quote currency. Going long spends all cash; going flat sells everything. A target on the last
bar does not fill, and a position still open at the end is marked at the last close.

Money is exact: the few fills are computed in ``Decimal``. Quote amounts (gross, fees, cash,
PnL) are kept to 12 decimal places, truncated, and the quantity bought to 28 significant
digits, rounded down, so a buy never spends more than the cash there is. Sums of such amounts
need no rounding, so the final equity is the starting cash plus the trades' PnL to the last
digit, however they are added up. The per-bar equity curve is float64, built without a
per-bar loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Context, Decimal, localcontext

import numpy as np

from engine.trading.bars import Bars
from engine.trading.metrics import Metrics, measure, plain
from engine.trading.model import ZERO, to_decimal
from engine.trading.strategies import Strategy

# Wide enough that price × quantity is exact before it is cut to a quote amount.
_WIDE = Context(prec=80)
_QUANTITY = Context(prec=28, rounding=ROUND_DOWN)
_QUOTE_STEP = Decimal("1e-12")  # the smallest quote amount kept


class BacktestError(ValueError):
    """A backtest cannot run on these inputs; the message says what is missing or wrong."""


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip, or the entry of a position still open at the end of the test.

    Prices are fill prices (slippage included); fees and PnL are in the quote currency.
    """

    entry_time: datetime
    exit_time: datetime | None  # None: still open at the end of the test
    entry_price: Decimal
    exit_price: Decimal | None
    quantity: Decimal
    fees: Decimal  # entry fee plus, once closed, exit fee
    pnl: Decimal  # net of fees; an open trade's is marked at the last close

    @property
    def is_open(self) -> bool:
        return self.exit_time is None

    def to_json(self) -> dict[str, object]:
        return {
            "entry_time": self.entry_time.isoformat(),
            "exit_time": None if self.exit_time is None else self.exit_time.isoformat(),
            "entry_price": plain(self.entry_price),
            "exit_price": None if self.exit_price is None else plain(self.exit_price),
            "quantity": plain(self.quantity),
            "fees": plain(self.fees),
            "pnl": plain(self.pnl),
        }


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """One strategy run over one symbol's bars: the settings, the trades, equity and metrics."""

    strategy: str
    params: Mapping[str, float | int]
    symbol: str
    timeframe: str
    start: datetime  # open of the first bar
    end: datetime  # close of the last bar
    bars: int
    cash: Decimal  # starting cash, quote currency
    fee_rate: Decimal
    slippage_bps: Decimal
    trades: tuple[Trade, ...]
    equity: np.ndarray  # float64: cash + quantity × close at each bar's close
    equity_times: np.ndarray  # int64 epoch seconds: each bar's open time, as in Bars.ts
    metrics: Metrics

    def equity_points(self, n: int) -> list[tuple[datetime, float]]:
        """At most ``n`` points of the equity curve for a chart, keeping every bucket's low and
        high so drawdowns stay visible; the first and last points are always kept."""
        if n < 2:
            raise ValueError(f"an equity chart needs at least 2 points, got {n}")
        total = len(self.equity)
        if total <= n:
            keep = np.arange(total)
        else:
            inner = self.equity[1:-1]
            buckets = (n - 2) // 2  # a low and a high from each; none when n < 4
            edges = np.linspace(0, len(inner), buckets + 1).astype(np.int64)
            picked = [0, total - 1]
            for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
                if hi > lo:
                    part = inner[lo:hi]
                    picked += [1 + lo + int(part.argmin()), 1 + lo + int(part.argmax())]
            keep = np.unique(np.array(picked))
        return [
            (datetime.fromtimestamp(t, tz=UTC), v)
            for t, v in zip(
                self.equity_times[keep].tolist(), self.equity[keep].tolist(), strict=True
            )
        ]

    def to_json(self, *, points: int = 0) -> dict[str, object]:
        """Plain JSON types (Decimals as strings); ``points`` > 0 adds a downsampled curve."""
        out: dict[str, object] = {
            "strategy": self.strategy,
            "params": dict(self.params),
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "bars": self.bars,
            "cash": plain(self.cash),
            "fee_rate": plain(self.fee_rate),
            "slippage_bps": plain(self.slippage_bps),
            "metrics": self.metrics.to_json(),
            "trades": [t.to_json() for t in self.trades],
        }
        if points:
            out["equity"] = [[t.isoformat(), v] for t, v in self.equity_points(points)]
        return out


def run_backtest(
    strategy: Strategy,
    bars: Bars,
    *,
    cash: Decimal = Decimal("10000"),
    fee_rate: Decimal = Decimal("0.001"),
    slippage_bps: Decimal = Decimal("0"),
) -> BacktestResult:
    """Trade ``strategy`` over ``bars`` and measure it; deterministic for the same inputs."""
    cash = to_decimal(cash, "cash")
    fee_rate = to_decimal(fee_rate, "fee_rate")
    slippage_bps = to_decimal(slippage_bps, "slippage_bps")
    if cash <= 0:
        raise BacktestError(f"cash must be positive, got {cash}")
    if cash != _amount(cash):
        raise BacktestError(f"cash must have at most 12 decimal places, got {cash}")
    if not 0 <= fee_rate < 1:
        raise BacktestError(f"fee_rate must be at least 0 and below 1, got {fee_rate}")
    if not 0 <= slippage_bps < 10000:
        raise BacktestError(f"slippage_bps must be at least 0 and below 10000, got {slippage_bps}")
    n = len(bars)
    needed = strategy.warmup + 2  # the first signal, then a bar to fill it
    if n < needed:
        raise BacktestError(
            f"{strategy.name} needs at least {needed} bars of {bars.timeframe}, got {n}"
        )
    long = _long_or_flat(strategy, bars)
    # A position is held through bar i when the target at the close of bar i-1 was long.
    holding = np.zeros(n, dtype=bool)
    holding[1:] = long[:-1]
    fill_bars = np.flatnonzero(holding[1:] != holding[:-1]) + 1
    book = _fill(
        prices=bars.open[fill_bars].tolist(),
        times=bars.ts[fill_bars].tolist(),
        last_close=Decimal(repr(float(bars.close[-1]))),
        cash=cash,
        fee_rate=fee_rate,
        slippage_bps=slippage_bps,
    )
    # Cash and quantity are constant between fills: repeat each for the bars it lasts.
    lasts = np.diff(np.concatenate(([0], fill_bars, [n])))
    equity = np.repeat(book.cash_after, lasts) + np.repeat(book.quantity_after, lasts) * bars.close
    equity.setflags(write=False)
    closed = [t.pnl for t in book.trades if not t.is_open]
    metrics = measure(
        equity=equity,
        ts=bars.ts,
        holding=holding,
        bar_seconds=bars.bar_seconds,
        cash=cash,
        final_equity=book.final_equity,
        closed_pnls=closed,
        fees_paid=book.fees,
    )
    return BacktestResult(
        strategy=strategy.name,
        params=dict(strategy.params),
        symbol=bars.symbol,
        timeframe=bars.timeframe,
        start=bars.time(0),
        end=bars.time(-1) + timedelta(seconds=bars.bar_seconds),
        bars=n,
        cash=cash,
        fee_rate=fee_rate,
        slippage_bps=slippage_bps,
        trades=book.trades,
        equity=equity,
        equity_times=bars.ts,
        metrics=metrics,
    )


@dataclass(frozen=True, slots=True)
class _Book:
    trades: tuple[Trade, ...]
    cash_after: np.ndarray  # before the first fill, then after each fill
    quantity_after: np.ndarray
    fees: Decimal
    final_equity: Decimal


def _fill(
    *,
    prices: list[float],
    times: list[int],
    last_close: Decimal,
    cash: Decimal,
    fee_rate: Decimal,
    slippage_bps: Decimal,
) -> _Book:
    """Fill alternate buys and sells (the first is a buy) and keep the exact books."""
    cash_after, quantity_after = [float(cash)], [0.0]
    trades: list[Trade] = []
    fees = quantity = entry_price = entry_cost = entry_fee = ZERO
    entry_time = datetime.fromtimestamp(0, tz=UTC)  # fills alternate from a buy: always set
    with localcontext(_WIDE):
        buy_factor = 1 + slippage_bps / 10000
        sell_factor = 1 - slippage_bps / 10000
        fee_factor = 1 + fee_rate
        for k, (price, ts) in enumerate(zip(prices, times, strict=True)):
            when = datetime.fromtimestamp(ts, tz=UTC)
            if k % 2 == 0:
                entry_price = Decimal(repr(price)) * buy_factor
                quantity = _QUANTITY.divide(cash, entry_price * fee_factor)
                gross = _amount(entry_price * quantity)
                entry_fee = _amount(fee_rate * gross)
                entry_cost = gross + entry_fee
                cash -= entry_cost
                entry_time = when
                cash_after.append(float(cash))
                quantity_after.append(float(quantity))
                continue
            exit_price = Decimal(repr(price)) * sell_factor
            gross = _amount(exit_price * quantity)
            exit_fee = _amount(fee_rate * gross)
            proceeds = gross - exit_fee
            cash += proceeds
            trade_fees = entry_fee + exit_fee
            fees += trade_fees
            pnl = proceeds - entry_cost
            trades.append(
                Trade(entry_time, when, entry_price, exit_price, quantity, trade_fees, pnl)
            )
            quantity = ZERO
            cash_after.append(float(cash))
            quantity_after.append(0.0)
        final_equity = cash
        if len(prices) % 2:  # the last buy was never sold
            value = _amount(quantity * last_close)
            final_equity = cash + value
            fees += entry_fee
            trades.append(
                Trade(entry_time, None, entry_price, None, quantity, entry_fee, value - entry_cost)
            )
    return _Book(
        trades=tuple(trades),
        cash_after=np.array(cash_after),
        quantity_after=np.array(quantity_after),
        fees=fees,
        final_equity=final_equity,
    )


def _amount(value: Decimal) -> Decimal:
    """A quote amount: truncated to 12 decimal places."""
    return value.quantize(_QUOTE_STEP, rounding=ROUND_DOWN, context=_WIDE)


def _long_or_flat(strategy: Strategy, bars: Bars) -> np.ndarray:
    """The strategy's targets as a long/flat mask; anything but 0.0 and 1.0 is refused."""
    targets = np.asarray(strategy.targets(bars), dtype=np.float64)
    if targets.shape != (len(bars),):
        raise BacktestError(
            f"{strategy.name} gave {targets.shape} targets for {len(bars)} bars; expected one per bar"
        )
    long = targets == 1.0
    odd = ~(long | (targets == 0.0))
    if odd.any():
        i = int(np.argmax(odd))
        raise BacktestError(
            f"{strategy.name} gave target {float(targets[i])!r} at bar {i}; the backtester trades "
            "all-in or flat, so targets must be 0.0 or 1.0"
        )
    return long


@dataclass(frozen=True, slots=True)
class GateVerdict:
    passed: bool
    reasons: tuple[str, ...]  # one per failed criterion; empty when passed


@dataclass(frozen=True, slots=True)
class GovernanceGate:
    """What a backtest must show before its strategy may be promoted to paper trading."""

    min_trades: int = 20
    min_sharpe: float = 0.5
    max_drawdown_pct: float = 25.0

    def evaluate(self, result: BacktestResult) -> GateVerdict:
        m = result.metrics
        reasons: list[str] = []
        if m.trades < self.min_trades:
            reasons.append(f"{m.trades} trades, at least {self.min_trades} needed")
        if not m.sharpe >= self.min_sharpe:
            reasons.append(f"Sharpe {m.sharpe:.2f}, at least {self.min_sharpe:.2f} needed")
        if not m.max_drawdown_pct <= self.max_drawdown_pct:
            reasons.append(
                f"max drawdown {m.max_drawdown_pct:.1f}%, at most {self.max_drawdown_pct:.1f}% allowed"
            )
        return GateVerdict(passed=not reasons, reasons=tuple(reasons))
