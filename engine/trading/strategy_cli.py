"""Research commands of ``omc``: backtests, promotion to paper, deployments."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.trading.cli import dump, table, text, with_engine

if TYPE_CHECKING:
    from engine import config
    from engine.local import LocalEngine


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bt = sub.add_parser("backtest", help="backtest a strategy on stored candles")
    bt.add_argument("strategy", help="ma_cross, rsi or breakout (see `omc strategies`)")
    bt.add_argument("--symbol", required=True)
    bt.add_argument("--timeframe", default="1h", help="1m 5m 15m 1h 4h 1d (default 1h)")
    bt.add_argument("--from", dest="since", help="ISO date or time, UTC unless it says otherwise")
    bt.add_argument("--to", dest="until", help="ISO date or time, exclusive")
    bt.add_argument("--param", action="append", default=[], metavar="K=V", help="repeatable")
    bt.add_argument("--fee", help="fee rate, e.g. 0.001 (default: the venue's taker fee)")
    bt.add_argument("--slippage-bps", help="slippage in basis points (default from config)")
    bt.add_argument("--json", action="store_true")
    bt.set_defaults(handler=backtest)

    strategies = sub.add_parser("strategies", help="built-in strategies, backtests, deployments")
    strategies.add_argument("--json", action="store_true")
    strategies.set_defaults(handler=show_strategies)

    promote = sub.add_parser("promote", help="promote a backtest to paper (gate must pass)")
    promote.add_argument("backtest_id")
    promote.add_argument("--json", action="store_true")
    promote.set_defaults(handler=promote_backtest)

    deploy = sub.add_parser("deploy", help="paper-trade a promoted backtest's strategy")
    deploy.add_argument("backtest_id")
    deploy.add_argument("--allocation", help="quote currency it trades with (default config)")
    deploy.add_argument("--json", action="store_true")
    deploy.set_defaults(handler=deploy_strategy)

    undeploy = sub.add_parser("undeploy", help="stop a deployed strategy")
    undeploy.add_argument("name", help="strategy:SYMBOL:timeframe, as `omc strategies` lists it")
    undeploy.add_argument("--json", action="store_true")
    undeploy.set_defaults(handler=undeploy_strategy)


def backtest(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.cli import UsageError, parse_when

    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param takes KEY=VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    since = parse_when(args.since, "--from")
    until = parse_when(args.until, "--to")
    fee = _decimal(args.fee, "--fee")
    slippage = _decimal(args.slippage_bps, "--slippage-bps")

    async def work(engine: LocalEngine) -> Any:
        return await engine.backtest(
            args.strategy,
            args.symbol,
            timeframe=args.timeframe,
            params=params,
            since=since,
            until=until,
            fee=fee,
            slippage_bps=slippage,
        )

    view = with_engine(settings, work)
    if args.json:
        dump(view)
        return 0
    m = view.metrics
    print(f"{view.id}  {view.strategy} {view.params} on {view.symbol} {view.timeframe}")
    print(f"  {view.start:%Y-%m-%d %H:%M} → {view.end:%Y-%m-%d %H:%M} UTC, {view.bars} bars")
    for key in (
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
    ):
        if key in m:
            value = m[key]
            shown = f"{value:,.2f}" if isinstance(value, float) else text(value)
            if key in ("fees_paid", "final_equity"):
                shown = f"{Decimal(str(value)):,.2f}"
            print(f"  {key:>22}  {shown}")
    verdict = "passed" if view.gate_passed else "failed: " + "; ".join(view.gate_reasons)
    print(f"  governance gate {verdict}")
    return 0


def show_strategies(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: LocalEngine) -> Any:
        return (
            await engine.strategies(),
            await engine.backtests(20),
            await engine.deployments(),
        )

    infos, tests, deployed = with_engine(settings, work)
    if args.json:
        dump({"strategies": infos, "backtests": tests, "deployments": deployed})
        return 0
    table(
        ["strategy", "params", "what it does"],
        [[i.name, _params(i.params), i.description] for i in infos],
    )
    print()
    table(
        ["backtest", "strategy", "symbol", "tf", "params", "gate", "promoted"],
        [
            [
                b.id,
                b.strategy,
                b.symbol,
                b.timeframe,
                _params(b.params),
                "pass" if b.gate_passed else "fail",
                b.promoted_at,
            ]
            for b in tests
        ],
    )
    print()
    table(
        ["deployment", "allocation", "active", "deployed", "last bar"],
        [[d.name, d.allocation, d.active, d.deployed_at, d.last_bar] for d in deployed],
    )
    return 0


def promote_backtest(args: argparse.Namespace, settings: config.Settings) -> int:
    view = with_engine(settings, lambda e: e.promote(args.backtest_id))
    if args.json:
        dump(view)
    else:
        print(f"{view.id} promoted to paper at {text(view.promoted_at)}")
    return 0


def deploy_strategy(args: argparse.Namespace, settings: config.Settings) -> int:
    allocation = _decimal(args.allocation, "--allocation")
    view = with_engine(settings, lambda e: e.deploy(args.backtest_id, allocation))
    if args.json:
        dump(view)
    else:
        print(f"{view.name} deployed on paper with {text(view.allocation)}")
    return 0


def undeploy_strategy(args: argparse.Namespace, settings: config.Settings) -> int:
    view = with_engine(settings, lambda e: e.undeploy(args.name))
    if args.json:
        dump(view)
    else:
        print(f"{view.name} stopped")
    return 0


def _decimal(text: str | None, flag: str) -> Decimal | None:
    from decimal import InvalidOperation

    from engine.cli import UsageError

    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UsageError(f"{flag} takes a number, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{flag} takes a non-negative number, got {text!r}")
    return value


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())
