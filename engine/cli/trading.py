"""Trading commands of ``omc``: orders, the book, the kill switch and the tax report.

Each goes through the engine that owns the database, or runs one in this process without
its scheduler (``common.with_engine``), so an order from the command line takes the desk's
path through the same risk guard and book. With no owner, a paper book's positions, orders,
fills and lots are read from the database alone: no engine is started to show them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine import numbers
from engine.cli import common

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from engine import config
    from engine.cli.common import Engine

    Alone = Callable[[Any], Awaitable[Any]]


def add_commands(sub: common.SubParsers) -> None:
    order = common.command(
        sub, "order", place_order, "place an order (paper unless live is armed)", json=True
    )
    order.add_argument("side", choices=["buy", "sell"])
    order.add_argument("symbol", help="e.g. BTC/AUD or btc")
    order.add_argument("quantity", help="in base units, e.g. 0.01")
    order.add_argument("--limit", metavar="PRICE", help="limit price (default: market order)")
    order.add_argument("--client-id", help="idempotency key: the same id never trades twice")
    order.add_argument(
        "--expires", metavar="WHEN", help="a limit order expires: 30m, 2h, 1d or an ISO time"
    )

    cancel = common.command(
        sub, "cancel", cancel_orders, "cancel a working order, or all of them", json=True
    )
    cancel.add_argument("client_id", nargs="?", help="the order's client id")
    cancel.add_argument("--all", action="store_true", help="cancel every working order")

    for name, help, handler in (
        ("positions", "open positions marked to market", show_positions),
        ("orders", "orders, working first", show_orders),
        ("fills", "fills, newest first", show_fills),
        ("pnl", "equity, cash, realized and unrealized PnL", show_pnl),
        ("lots", "open tax lots (FIFO unless average cost is configured)", show_lots),
    ):
        cmd = common.command(sub, name, handler, help, json=True)
        if name in ("orders", "fills"):
            cmd.add_argument("--limit", type=common.positive_int, default=50, metavar="N")
        if name == "orders":
            cmd.add_argument("--open", action="store_true", help="only working orders")

    kill = common.command(
        sub, "kill", kill_switch, "the kill switch: halt all new orders", json=True
    )
    kill.add_argument("action", choices=["on", "off", "status"])
    kill.add_argument("--cancel-all", action="store_true", help="with on: cancel working orders")

    tax = common.command(
        sub, "tax-report", tax_report, "Australian CGT report of one financial year", json=True
    )
    tax.add_argument("--fy", type=int, required=True, help="2025 = 1 July 2024 to 30 June 2025")
    tax.add_argument("--format", choices=["csv", "json"], default="csv")
    tax.add_argument("--output", "-o", help="file to write (default: stdout)")


# -- human output ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Steps:
    """The venue's amount and price steps per symbol, where its market data gave them."""

    amounts: dict[str, Decimal] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)

    def qty(self, symbol: str, value: Decimal | None) -> str:
        return "" if value is None else numbers.quantity(value, self.amounts.get(symbol))

    def price(self, symbol: str, value: Decimal | None) -> str:
        return "" if value is None else numbers.price(value, self.prices.get(symbol))


async def steps(engine: Engine, symbols: Iterable[str]) -> Steps:
    """What the engine's market knows of these symbols (nothing, offline on a real venue)."""
    return _steps(await engine.instrument_steps(sorted(set(symbols))))


def _paper(settings: config.Settings, alone: Alone) -> Alone | None:
    """``alone`` for a paper book, which reads the same from the database as from an engine;
    a live book is the venue's, which only an engine reconciles with."""
    return alone if settings.trading.mode == "paper" else None


async def _read_steps(
    args: argparse.Namespace, settings: config.Settings, db: Any, symbols: Iterable[str]
) -> Steps:
    """The steps a table rounds to; JSON prints exact values and needs none (nor the
    simulated market's start-up that gives them)."""
    if args.json:
        return Steps()
    from engine.trading.positions import read_steps

    return _steps(await read_steps(settings, db, symbols))


def _steps(known: Iterable[Any]) -> Steps:
    found = Steps()
    for s in known:
        if s.amount_step:
            found.amounts[s.symbol] = s.amount_step
        if s.price_step:
            found.prices[s.symbol] = s.price_step
    return found


def money(value: Decimal | None) -> str:
    return "" if value is None else numbers.money(value)


# -- commands --------------------------------------------------------------------------------


def place_order(args: argparse.Namespace, settings: config.Settings) -> int:
    symbol = _check_order(args, settings)
    expires = _when(args.expires)

    async def work(engine: Engine) -> Any:
        expires_at = expires if not isinstance(expires, timedelta) else engine.now() + expires
        return await engine.place_order(
            symbol,
            args.side,
            args.quantity,
            args.limit,
            client_id=args.client_id,
            expires_at=expires_at,
        )

    result = common.with_engine(settings, work, market=True)
    if args.json:
        common.dump(result)
    else:
        o = result.order
        common.say_book(settings)
        print(f"{o.client_id}  {o.state}  {result.message}")
    return 0 if result.accepted else 1


def _check_order(args: argparse.Namespace, settings: config.Settings) -> str:
    """Refuse malformed input before an engine starts (a usage error, exit 2)."""
    from engine.trading.model import OrderInputError, OrderRequest

    symbol = common.symbol(args.symbol, settings)
    try:
        request = OrderRequest.parse(symbol, args.side, args.quantity, args.limit)
    except OrderInputError as exc:
        raise common.UsageError(str(exc)) from None
    if request.quantity <= 0:
        raise common.UsageError(f"quantity must be positive, got {args.quantity!r}")
    if request.limit_price is not None and request.limit_price <= 0:
        raise common.UsageError(f"--limit must be a positive price, got {args.limit!r}")
    if args.expires is not None and request.limit_price is None:
        raise common.UsageError("--expires needs --limit: a market order fills now")
    return symbol


def _when(text: str | None) -> datetime | timedelta | None:
    """ "30m", "2h", "1d", "90s" → a duration from the engine's now; else an ISO time (UTC if bare)."""
    from engine.durations import parse_duration

    if text is None:
        return None
    try:
        duration = parse_duration(text)
    except ValueError as exc:
        raise common.UsageError(f"--expires: {exc}") from None
    if duration is None:
        return common.parse_when(text, "--expires")
    if duration <= timedelta(0):
        raise common.UsageError(f"--expires must be in the future, got {text!r}")
    return duration


def cancel_orders(args: argparse.Namespace, settings: config.Settings) -> int:
    if bool(args.client_id) == bool(args.all):
        raise common.UsageError("cancel takes a client id or --all")

    async def work(engine: Engine) -> Any:
        if args.all:
            return await engine.cancel_all_orders()
        return await engine.cancel_order(args.client_id)

    result = common.with_engine(settings, work)
    if args.json:
        common.dump({"cancelled": result} if isinstance(result, int) else result)
        return 0
    common.say_book(settings)
    if isinstance(result, int):
        print(f"cancelled {numbers.count(result, 'working order')}")
    else:
        print(f"{result.client_id}  {result.state}  {result.reason or ''}".rstrip())
    return 0


def show_positions(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: Engine) -> Any:
        view = await engine.trading()
        return view.positions, await steps(engine, (p.symbol for p in view.positions))

    async def alone(db: Any) -> Any:
        from engine.trading.positions import read_positions

        positions, known = await read_positions(settings, db)
        return positions, _steps(known)

    positions, step = common.with_engine(
        settings, work, market=_marks_from_market(settings), alone=_paper(settings, alone)
    )
    if args.json:
        common.dump(positions)
        return 0
    rows = [
        [
            p.symbol,
            step.qty(p.symbol, p.quantity),
            step.price(p.symbol, p.average_cost),
            step.price(p.symbol, p.mark),
            money(p.market_value),
            money(p.unrealized),
            money(p.realized),
        ]
        for p in positions
    ]
    common.say_book(settings)
    common.table(["symbol", "qty", "avg cost", "mark", "value", "unrealized", "realized"], rows)
    return 0


def show_orders(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: Engine) -> Any:
        orders = await engine.orders(open_only=args.open, limit=args.limit)
        return orders, await steps(engine, (o.symbol for o in orders))

    async def alone(db: Any) -> Any:
        from engine.trading.positions import read_orders

        orders = await read_orders(settings, db, open_only=args.open, limit=args.limit)
        return orders, await _read_steps(args, settings, db, (o.symbol for o in orders))

    orders, step = common.with_engine(settings, work, alone=_paper(settings, alone))
    if args.json:
        common.dump(orders)
        return 0
    rows = [
        [
            o.client_id,
            common.when(o.created_at),
            o.symbol,
            o.side,
            o.type,
            step.qty(o.symbol, o.quantity),
            step.price(o.symbol, o.limit_price),
            step.qty(o.symbol, o.filled),
            step.price(o.symbol, o.average_price),
            o.state,
            o.reason or "",
        ]
        for o in orders
    ]
    heads = ["id", "created", "symbol", "side", "type", "qty", "limit", "filled", "avg", "state"]
    common.say_book(settings)
    common.table([*heads, "reason"], rows)
    return 0


def show_fills(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: Engine) -> Any:
        fills = await engine.fills(args.limit)
        return fills, await steps(engine, (f.symbol for f in fills))

    async def alone(db: Any) -> Any:
        from engine.trading.positions import read_fills

        fills = await read_fills(settings, db, args.limit)
        return fills, await _read_steps(args, settings, db, (f.symbol for f in fills))

    fills, step = common.with_engine(settings, work, alone=_paper(settings, alone))
    if args.json:
        common.dump(fills)
        return 0
    rows = [
        [
            common.when(f.ts),
            f.symbol,
            f.side,
            step.qty(f.symbol, f.quantity),
            step.price(f.symbol, f.price),
            money(f.fee),
            f.liquidity,
            f"{f.slippage_bps:.2f}",
            f.client_id,
        ]
        for f in fills
    ]
    heads = ["time", "symbol", "side", "qty", "price", "fee", "liq", "slip bps", "order"]
    common.say_book(settings)
    common.table(heads, rows)
    return 0


def show_pnl(args: argparse.Namespace, settings: config.Settings) -> int:
    view = common.with_engine(settings, lambda e: e.trading(), market=_marks_from_market(settings))
    p = view.portfolio
    if args.json:
        common.dump(p)
        return 0
    common.say_book(settings)
    if p is None:
        print("no marks yet")
        return 0
    lines = [
        ("equity", p.equity),
        ("cash", p.cash),
        ("market value", p.market_value),
        ("unrealized", p.unrealized),
        ("realized", p.realized),
        ("today", p.day_pnl),
    ]
    width = max(len(money(value)) for _, value in lines)
    for label, value in lines:
        amount = f"{money(value):>{width}} {p.quote}" if value is not None else "—"
        print(f"{label:>13}  {amount}")
    return 0


def show_lots(args: argparse.Namespace, settings: config.Settings) -> int:
    quote = settings.market.quote

    async def work(engine: Engine) -> Any:
        lots = await engine.lots()
        return lots, await steps(engine, (f"{lot.asset}/{lot.quote}" for lot in lots))

    async def alone(db: Any) -> Any:
        from engine.trading.positions import read_lots

        lots = await read_lots(settings, db)
        symbols = (f"{lot.asset}/{lot.quote}" for lot in lots)
        return lots, await _read_steps(args, settings, db, symbols)

    lots, step = common.with_engine(settings, work, alone=_paper(settings, alone))
    if args.json:
        common.dump(lots)
        return 0
    rows = []
    for lot in lots:
        symbol = f"{lot.asset}/{lot.quote or quote}"
        rows.append(
            [
                lot.asset,
                common.when(lot.acquired_at),
                step.qty(symbol, lot.quantity),
                step.price(symbol, lot.unit_cost),
                money(lot.cost),
                common.when(lot.long_term_from),
            ]
        )
    common.say_book(settings)
    common.table(["asset", "acquired", "qty", "unit cost", "cost base", "discount from"], rows)
    return 0


def kill_switch(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: Engine) -> Any:
        if args.action != "status":
            await engine.set_kill_switch(args.action == "on", cancel_all=args.cancel_all)
        return (await engine.trading()).trading

    state = common.with_engine(settings, work)
    if args.json:
        common.dump(state)
    else:
        # One kill switch halts every book of this database.
        print(f"kill switch {'ON: new orders are halted' if state.kill_switch else 'off'}")
    return 0


def tax_report(args: argparse.Namespace, settings: config.Settings) -> int:
    import json

    from engine.trading.tax import write_csv_rows

    if not 1900 < args.fy < 10000:
        raise common.UsageError(f"--fy takes a year such as 2025, got {args.fy}")

    async def work(engine: Engine) -> Any:
        return await engine.tax_report(args.fy)

    report = common.with_engine(settings, work)
    common.say_book(settings, stream=sys.stderr)  # stdout is the report itself
    with common.output(args.output) as out:
        if args.json or args.format == "json":
            json.dump(report, out, indent=2)
            out.write("\n")
        else:
            write_csv_rows(report, out)
    return 0


def _marks_from_market(settings: config.Settings) -> bool:
    # The simulator prices every symbol at once for free; a real venue is asked only when the
    # command needs marks, and a failure there still shows the book (valued at cost).
    return settings.sim.enabled
