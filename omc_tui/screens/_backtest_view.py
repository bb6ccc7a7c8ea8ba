"""A backtest as text: its metrics and the governance gate's verdict, for the strategies screen."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from engine.api import BacktestView
from omc_tui import format as fmt
from omc_tui.widgets.strategy_params import params_text


def number(value: object, places: int = 2) -> Text:
    if not isinstance(value, int | float):
        return Text("—", style="dim", justify="right")
    return Text(f"{value:.{places}f}", justify="right")


def pct(value: object, *, signed: bool = False) -> Text:
    if not isinstance(value, int | float):
        return Text("—", style="dim", justify="right")
    style = ("green" if value >= 0 else "red") if signed else ""
    return Text(f"{value:+.2f}%" if signed else f"{value:.1f}%", style=style, justify="right")


def metrics_text(b: BacktestView) -> Text:
    """The header (strategy, its parameters, market and span), the metrics and the gate."""
    m = b.metrics
    text = Text.assemble((f"{b.strategy} ", "bold"))
    if b.params:
        text.append(f"{params_text(b.params)} ", style="cyan")
    text.append(f"on {b.symbol} · {b.timeframe} · ")
    text.append(f"{b.start:%Y-%m-%d} – {b.end:%Y-%m-%d} · {b.bars} bars\n", style="dim")
    text.append("return ")
    text.append_text(pct(m.get("total_return_pct"), signed=True))
    text.append(" (annual ")
    text.append_text(pct(m.get("annual_return_pct"), signed=True))
    text.append(")  Sharpe ")
    text.append_text(number(m.get("sharpe")))
    text.append("  Sortino ")
    text.append_text(number(m.get("sortino")))
    text.append("\nmax drawdown ")
    text.append_text(pct(m.get("max_drawdown_pct")))
    text.append(f" over {m.get('max_drawdown_bars', '—')} bars  win rate ")
    text.append_text(pct(m.get("win_rate_pct")))
    text.append("  profit factor ")
    text.append_text(number(m.get("profit_factor")))
    text.append("\nexposure ")
    text.append_text(pct(m.get("exposure_pct")))
    text.append(f"  trades {m.get('trades', '—')}  fees ")
    text.append(fmt.money(_decimal(m.get("fees_paid"))))
    text.append("  final equity ")
    text.append(fmt.money(_decimal(m.get("final_equity"))))
    text.append("\ngate ")
    if b.gate_passed:
        text.append("passed", style="bold green")
        text.append(
            f" · promoted {b.promoted_at:%Y-%m-%d %H:%M}" if b.promoted_at else " · p promotes",
            style="dim",
        )
    else:
        text.append("failed: ", style="bold red")
        text.append("; ".join(b.gate_reasons), style="red")
    return text


def _decimal(value: object) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None
