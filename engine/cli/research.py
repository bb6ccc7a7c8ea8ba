"""Research commands of ``omc``: backtests, promotion to paper, deployments."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine import numbers
from engine.cli import common

if TYPE_CHECKING:
    from engine import config
    from engine.cli.common import Engine as LocalEngine

METRICS = (
    "total_return_pct",
    "annual_return_pct",
    "sharpe",
    "sortino",
    "max_drawdown_pct",
    "max_drawdown_duration",
    "win_rate_pct",
    "profit_factor",
    "exposure_pct",
    "trades",
    "fees_paid",
    "final_equity",
)


def add_commands(sub: common.SubParsers) -> None:
    bt = common.command(
        sub, "backtest", backtest, "backtest a strategy on stored candles", json=True
    )
    bt.add_argument("strategy", help="ma_cross, rsi or breakout (see `omc strategies`)")
    bt.add_argument("--symbol", required=True)
    bt.add_argument("--timeframe", default="1h", help="1m 5m 15m 1h 4h 1d (default 1h)")
    bt.add_argument("--from", dest="since", help="ISO date or time, UTC unless it says otherwise")
    bt.add_argument("--to", dest="until", help="ISO date or time, exclusive")
    bt.add_argument("--param", action="append", default=[], metavar="K=V", help="repeatable")
    bt.add_argument("--fee", help="fee rate, e.g. 0.001 (default: the venue's taker fee)")
    bt.add_argument("--slippage-bps", help="slippage in basis points (default from config)")

    help = "built-in strategies, backtests, deployments"
    common.command(sub, "strategies", show_strategies, help, json=True)

    help = "promote a backtest to paper (gate must pass)"
    promote = common.command(sub, "promote", promote_backtest, help, json=True)
    promote.add_argument("backtest_id")

    help = "paper-trade a promoted backtest's strategy"
    deploy = common.command(sub, "deploy", deploy_strategy, help, json=True)
    deploy.add_argument("backtest_id")
    deploy.add_argument("--allocation", help="quote currency it trades with (default config)")

    help = "stop a deployed strategy"
    undeploy = common.command(sub, "undeploy", undeploy_strategy, help, json=True)
    undeploy.add_argument("name", help="strategy:SYMBOL:timeframe, as `omc strategies` lists it")


def backtest(args: argparse.Namespace, settings: config.Settings) -> int:
    params, symbol = _check_backtest(args, settings)
    since = common.parse_when(args.since, "--from")
    until = common.parse_when(args.until, "--to")
    fee = common.decimal(args.fee, "--fee", below=Decimal(1))
    slippage = common.decimal(args.slippage_bps, "--slippage-bps", below=Decimal(10_000))

    async def work(engine: LocalEngine) -> Any:
        return await engine.backtest(
            args.strategy,
            symbol,
            timeframe=args.timeframe,
            params=params,
            since=since,
            until=until,
            fee=fee,
            slippage_bps=slippage,
        )

    view = _with_hint(settings, lambda: common.with_engine(settings, work))
    if args.json:
        common.dump(view)
        return 0
    m = view.metrics
    print(f"{view.id}  {view.strategy} {_params(view.params)} on {view.symbol} {view.timeframe}")
    print(f"  {view.start:%Y-%m-%d %H:%M} → {view.end:%Y-%m-%d %H:%M} UTC, {view.bars} bars")
    for key in METRICS:
        if key not in m:
            continue
        value = m[key]
        if key in ("fees_paid", "final_equity"):
            shown = numbers.money(Decimal(str(value)))
        elif isinstance(value, float):
            shown = f"{value:.2f}"
        else:
            shown = str(value)
        print(f"  {key:>22}  {shown}")
    verdict = "passed" if view.gate_passed else "failed: " + "; ".join(view.gate_reasons)
    print(f"  governance gate {verdict}")
    return 0


def _with_hint(settings: config.Settings, run: Any) -> Any:
    """Where no candles are, say which flag reaches the market that has them."""
    from engine.trading.research import NoBars

    try:
        return run()
    except NoBars as exc:
        others = set(exc.elsewhere)
        if settings.sim.enabled and others - {"sim"}:
            hint = "without --sim the engine uses the venue's candles"
        elif not settings.sim.enabled and "sim" in others:
            hint = "add --sim"
        elif not settings.sim.enabled:
            hint = "--sim backtests on the simulated market's history"
        else:
            raise
        raise common.CommandFailed(f"{exc} — {hint}") from None


def _check_backtest(
    args: argparse.Namespace, settings: config.Settings
) -> tuple[dict[str, str], str]:
    """Refuse a malformed strategy, parameter, symbol or timeframe before an engine starts."""
    from engine.trading.strategies import StrategyError, make
    from ledgers.timeframes import TIMEFRAMES

    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise common.UsageError(f"--param takes KEY=VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    if args.timeframe not in TIMEFRAMES:
        raise common.UsageError(
            f"unknown timeframe {args.timeframe!r}; expected one of {', '.join(TIMEFRAMES)}"
        )
    try:
        make(args.strategy, params)
    except StrategyError as exc:
        raise common.UsageError(str(exc)) from None
    return params, common.symbol(args.symbol, settings)


def show_strategies(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: LocalEngine) -> Any:
        return (
            await engine.strategies(),
            await engine.backtests(20),
            await engine.deployments(),
        )

    infos, tests, deployed = common.with_engine(settings, work)
    if args.json:
        common.dump({"strategies": infos, "backtests": tests, "deployments": deployed})
        return 0
    common.table(
        ["strategy", "params", "what it does"],
        [[i.name, _params(i.params), i.description] for i in infos],
    )
    print()
    common.table(
        ["backtest", "strategy", "symbol", "tf", "params", "gate", "promoted"],
        [
            [
                b.id,
                b.strategy,
                b.symbol,
                b.timeframe,
                _params(b.params),
                "pass" if b.gate_passed else "fail",
                common.when(b.promoted_at),
            ]
            for b in tests
        ],
    )
    print()
    common.say_book(settings)  # deployments belong to one book
    common.table(
        ["deployment", "allocation", "active", "deployed", "last bar"],
        [
            [
                d.name,
                numbers.money(d.allocation),
                "yes" if d.active else "no",
                common.when(d.deployed_at),
                common.when(d.last_bar),
            ]
            for d in deployed
        ],
    )
    return 0


def promote_backtest(args: argparse.Namespace, settings: config.Settings) -> int:
    view = common.with_engine(settings, lambda e: e.promote(args.backtest_id))
    if args.json:
        common.dump(view)
    else:
        print(f"{view.id} promoted to paper at {common.when(view.promoted_at)}")
    return 0


def deploy_strategy(args: argparse.Namespace, settings: config.Settings) -> int:
    allocation = common.decimal(args.allocation, "--allocation", positive=True)
    view = common.with_engine(settings, lambda e: e.deploy(args.backtest_id, allocation))
    if args.json:
        common.dump(view)
    else:
        from engine.trading.books import book_label

        shown = numbers.money(view.allocation)
        book = book_label(view.book)
        print(f"{view.name} deployed in the {book} book with {shown} {settings.market.quote}")
    return 0


def undeploy_strategy(args: argparse.Namespace, settings: config.Settings) -> int:
    view = common.with_engine(settings, lambda e: e.undeploy(args.name))
    if args.json:
        common.dump(view)
    else:
        from engine.trading.books import book_label

        print(f"{view.name} stopped in the {book_label(view.book)} book")
    return 0


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())
