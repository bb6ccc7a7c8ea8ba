"""Trading commands of ``omc``: orders, the book, the kill switch and the tax report.

Each runs an engine in this process without its scheduler, so an order from the command line
takes exactly the desk's path: the same risk guard, broker and book in the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from engine import config
    from engine.local import LocalEngine


class CommandFailed(Exception):
    """The command ran and failed in a way the user must see (exit 1)."""


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    order = sub.add_parser("order", help="place an order (paper unless live is armed)")
    order.add_argument("side", choices=["buy", "sell"])
    order.add_argument("symbol", help="e.g. BTC/AUD or btc")
    order.add_argument("quantity", help="in base units, e.g. 0.01")
    order.add_argument("--limit", metavar="PRICE", help="limit price (default: market order)")
    order.add_argument("--client-id", help="idempotency key: the same id never trades twice")
    order.add_argument(
        "--expires", metavar="WHEN", help="a limit order expires: 30m, 2h, 1d or an ISO time"
    )
    order.add_argument("--json", action="store_true")
    order.set_defaults(handler=place_order)

    cancel = sub.add_parser("cancel", help="cancel a working order, or all of them")
    cancel.add_argument("client_id", nargs="?", help="the order's client id")
    cancel.add_argument("--all", action="store_true", help="cancel every working order")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=cancel_orders)

    for name, help_text, handler in (
        ("positions", "open positions marked to market", show_positions),
        ("orders", "orders, working first", show_orders),
        ("fills", "fills, newest first", show_fills),
        ("pnl", "equity, cash, realized and unrealized PnL", show_pnl),
        ("lots", "open tax lots (FIFO unless average cost is configured)", show_lots),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--json", action="store_true")
        if name in ("orders", "fills"):
            cmd.add_argument("--limit", type=int, default=50)
        if name == "orders":
            cmd.add_argument("--open", action="store_true", help="only working orders")
        cmd.set_defaults(handler=handler)

    kill = sub.add_parser("kill", help="the kill switch: halt all new orders")
    kill.add_argument("action", choices=["on", "off", "status"])
    kill.add_argument("--cancel-all", action="store_true", help="with on: cancel working orders")
    kill.add_argument("--json", action="store_true")
    kill.set_defaults(handler=kill_switch)

    tax = sub.add_parser("tax-report", help="Australian CGT report of one financial year")
    tax.add_argument("--fy", type=int, required=True, help="2025 = 1 July 2024 to 30 June 2025")
    tax.add_argument("--format", choices=["csv", "json"], default="csv")
    tax.add_argument("--json", action="store_true", help="same as --format json")
    tax.add_argument("--output", "-o", help="file to write (default: stdout)")
    tax.set_defaults(handler=tax_report)

    live = sub.add_parser("live", help="arm or disarm live trading (off by default)")
    live.add_argument("action", choices=["arm", "disarm", "status"])
    live.add_argument("--confirm", metavar="PHRASE", help='type "ARM LIVE" (asked for if absent)')
    live.add_argument("--json", action="store_true")
    live.set_defaults(handler=live_switch)

    from engine.trading import strategy_cli

    strategy_cli.add_commands(sub)


def with_engine(
    settings: config.Settings,
    work: Callable[[LocalEngine], Awaitable[Any]],
    *,
    market: bool = False,
) -> Any:
    """Run ``work`` on an engine without its scheduler; ``market`` loads instruments and quotes."""
    from engine.local import LocalEngine
    from engine.trading.commands import TradingUnavailable

    async def main() -> Any:
        engine = LocalEngine(settings, schedule=False)
        await engine.start()
        try:
            await engine.wait_ready()
            await asyncio.wait_for(engine._trading_ready.wait(), 60)
            if engine.trading_host is None:
                raise TradingUnavailable(f"trading is not available: {engine.trading_error}")
            if market:
                for job in ("market.instruments", "market.tickers"):
                    status = await engine.run_job(job)
                    if status.status == "error":
                        raise CommandFailed(f"{job}: {status.last_error}")
            return await work(engine)
        finally:
            await engine.stop()

    return asyncio.run(main())


def place_order(args: argparse.Namespace, settings: config.Settings) -> int:
    expires = _when(args.expires)

    async def work(engine: LocalEngine) -> Any:
        expires_at = expires if not isinstance(expires, timedelta) else engine.now() + expires
        return await engine.place_order(
            args.symbol,
            args.side,
            args.quantity,
            args.limit,
            client_id=args.client_id,
            expires_at=expires_at,
        )

    result = with_engine(settings, work, market=True)
    if args.json:
        dump(result)
    else:
        o = result.order
        print(f"{o.client_id}  {o.state}  {result.message}")
    return 0 if result.accepted or result.rule == "duplicate" else 1


def cancel_orders(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.cli import UsageError

    if bool(args.client_id) == bool(args.all):
        raise UsageError("cancel takes a client id or --all")

    async def work(engine: LocalEngine) -> Any:
        if args.all:
            return await engine.cancel_all_orders()
        return await engine.cancel_order(args.client_id)

    result = with_engine(settings, work)
    if args.json:
        dump({"cancelled": result} if isinstance(result, int) else result)
    elif isinstance(result, int):
        print(f"cancelled {result} working order(s)")
    else:
        print(f"{result.client_id}  {result.state}  {result.reason or ''}".rstrip())
    return 0


def show_positions(args: argparse.Namespace, settings: config.Settings) -> int:
    view = with_engine(settings, lambda e: e.trading(), market=_marks_from_market(settings))
    rows = [
        [p.symbol, p.quantity, p.average_cost, p.mark, p.market_value, p.unrealized, p.realized]
        for p in view.positions
    ]
    if args.json:
        dump(view.positions)
        return 0
    table(["symbol", "qty", "avg cost", "mark", "value", "unrealized", "realized"], rows)
    return 0


def show_orders(args: argparse.Namespace, settings: config.Settings) -> int:
    orders = with_engine(settings, lambda e: e.orders(open_only=args.open, limit=args.limit))
    if args.json:
        dump(orders)
        return 0
    rows = [
        [
            o.client_id,
            o.created_at,
            o.symbol,
            o.side,
            o.type,
            o.quantity,
            o.limit_price,
            o.filled,
            o.average_price,
            o.state,
            o.reason,
        ]
        for o in orders
    ]
    heads = ["id", "created", "symbol", "side", "type", "qty", "limit", "filled", "avg", "state"]
    table([*heads, "reason"], rows)
    return 0


def show_fills(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: LocalEngine) -> Any:
        return (await engine.trading()).fills[: args.limit]

    fills = with_engine(settings, work)
    if args.json:
        dump(fills)
        return 0
    rows = [
        [
            f.ts,
            f.symbol,
            f.side,
            f.quantity,
            f.price,
            f.fee,
            f.liquidity,
            f.slippage_bps,
            f.client_id,
        ]
        for f in fills
    ]
    table(["time", "symbol", "side", "qty", "price", "fee", "liq", "slip bps", "order"], rows)
    return 0


def show_pnl(args: argparse.Namespace, settings: config.Settings) -> int:
    view = with_engine(settings, lambda e: e.trading(), market=_marks_from_market(settings))
    p = view.portfolio
    if args.json:
        dump(p)
        return 0
    if p is None:
        print("no book yet")
        return 0
    for label, value in (
        ("equity", p.equity),
        ("cash", p.cash),
        ("market value", p.market_value),
        ("unrealized", p.unrealized),
        ("realized", p.realized),
        ("today", p.day_pnl),
    ):
        print(f"{label:>13}  {text(value)} {p.quote}")
    return 0


def show_lots(args: argparse.Namespace, settings: config.Settings) -> int:
    lots = with_engine(settings, lambda e: e.lots())
    if args.json:
        dump(lots)
        return 0
    rows = [
        [lot.asset, lot.acquired_at, lot.quantity, lot.unit_cost, lot.cost, lot.long_term_from]
        for lot in lots
    ]
    table(["asset", "acquired", "qty", "unit cost", "cost base", "discount from"], rows)
    return 0


def kill_switch(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: LocalEngine) -> Any:
        if args.action != "status":
            await engine.set_kill_switch(args.action == "on", cancel_all=args.cancel_all)
        return (await engine.trading()).trading

    state = with_engine(settings, work)
    if args.json:
        dump(state)
    else:
        print(f"kill switch {'ON: new orders are halted' if state.kill_switch else 'off'}")
    return 0


def tax_report(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.trading.tax import write_csv

    async def work(engine: LocalEngine) -> Any:
        await engine._host()
        assert engine.trading_host is not None
        return engine.trading_host.tax_report(args.fy)

    report = with_engine(settings, work)
    fmt = "json" if args.json else args.format
    out: TextIO
    with _output(args.output) as out:
        if fmt == "json":
            from engine.trading.tax import report_json

            json.dump(report_json(report), out, indent=2)
            out.write("\n")
        else:
            write_csv(report, out)
    return 0


def _when(text_: str | None) -> datetime | timedelta | None:
    """ "30m", "2h", "1d", "90s" → a duration from the engine's now; else an ISO time (UTC if bare)."""
    from engine.cli import UsageError, parse_when
    from engine.durations import parse_duration

    if text_ is None:
        return None
    try:
        duration = parse_duration(text_)
    except ValueError as exc:
        raise UsageError(f"--expires: {exc}") from None
    if duration is None:
        return parse_when(text_, "--expires")
    if duration <= timedelta(0):
        raise UsageError(f"--expires must be in the future, got {text_!r}")
    return duration


def _marks_from_market(settings: config.Settings) -> bool:
    # The simulator prices every symbol at once for free; a real venue is asked only when the
    # command needs marks, and a failure there still shows the book (valued at cost).
    return settings.sim.enabled


class _output:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.fh: TextIO | None = None

    def __enter__(self) -> TextIO:
        if self.path:
            self.fh = open(self.path, "w", newline="")
            return self.fh
        return sys.stdout

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


def plain(value: Any) -> Any:
    """Plain JSON data: Decimals as exact strings, times in ISO 8601."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def dump(value: Any) -> None:
    json.dump(plain(value), sys.stdout, indent=2)
    sys.stdout.write("\n")


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text or "0"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def table(heads: list[str], rows: list[list[Any]]) -> None:
    cells = [[text(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(heads)]
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")


def live_switch(args: argparse.Namespace, settings: config.Settings) -> int:
    """Arming is a state in the database: it needs no connection to the venue."""
    from engine.cli import UsageError, _with_db
    from engine.trading.live_trader import ARM_PHRASE
    from engine.trading.store import TradingStore
    from engine.trading.trader import LIVE_ARMED

    if args.action == "arm":
        if settings.trading.mode != "live":
            raise CommandFailed('this engine trades on paper: set [trading] mode = "live" first')
        phrase = args.confirm
        if phrase is None:
            if not sys.stdin.isatty():
                raise UsageError(f'arming needs --confirm "{ARM_PHRASE}"')
            phrase = input(f"Live orders will spend real money. Type {ARM_PHRASE} to arm: ")
        if phrase.strip() != ARM_PHRASE:
            raise CommandFailed(f"not armed: type {ARM_PHRASE!r} exactly")

    async def work(db: Any) -> Any:
        store = TradingStore(db)
        if args.action != "status":
            now = datetime.now().astimezone()
            await store.set_state(
                LIVE_ARMED, {"on": args.action == "arm", "at": now.isoformat()}, now
            )
        return await store.get_state(LIVE_ARMED) or {"on": False}

    state = _with_db(settings, work)
    armed = bool(state.get("on"))
    if args.json:
        dump({"mode": settings.trading.mode, "armed": armed, "since": state.get("at")})
    else:
        print(f"live trading {'ARMED' if armed else 'disarmed'} (book: {settings.trading.mode})")
    return 0
