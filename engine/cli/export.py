"""``omc export``: any ledger or table as CSV or JSON lines, to stdout or a file."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TYPE_CHECKING, Any

from engine import numbers
from engine.cli import common

if TYPE_CHECKING:
    from engine import config

# Ledger names stand for their main table.
LEDGER_TABLE = {
    "glass": "glass_metrics",
    "human": "human_items",
    "catalyst": "catalyst_events",
    "mood": "mood_readings",
}
EXPORTABLE = [
    *LEDGER_TABLE,
    "instruments",
    "tickers",
    "order_book_snapshots",
    "candles",
    "glass_metrics",
    "human_items",
    "mood_readings",
    "catalyst_events",
    "job_runs",
    "orders",
    "fills",
    "risk_decisions",
    "equity_marks",
    "backtests",
    "deployments",
]


def add_commands(sub: common.SubParsers) -> None:
    help = "export a ledger or table as CSV or JSON lines"
    export = common.command(sub, "export", export_table, help)
    export.add_argument("table", choices=EXPORTABLE, help="a ledger or one of its tables")
    export.add_argument("--symbol", help="only rows about this symbol (required for candles)")
    export.add_argument("--search", help="only rows whose text contains this")
    export.add_argument("--timeframe", default="1m", help="1m 5m 15m 1h 4h 1d (default 1m)")
    export.add_argument("--venue", help="only this venue (default: all, e.g. coinspot and sim)")
    export.add_argument("--since", help="ISO date or time, UTC unless it says otherwise")
    export.add_argument("--until", help="ISO date or time, exclusive")
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--output", "-o", help="file to write (default: stdout)")


def export_table(args: argparse.Namespace, settings: config.Settings) -> int:
    """Any ledger table, newest first; candles keep their own chronological export."""
    if args.table == "candles":
        return export_candles(args, settings)
    from engine.exports import write_table

    table = LEDGER_TABLE.get(args.table, args.table)
    symbol = common.symbol(args.symbol, settings) if args.symbol else None
    since = common.parse_when(args.since, "--since")
    until = common.parse_when(args.until, "--until")

    async def work(db: Any) -> int:
        filters = {"since": since, "until": until, "search": args.search, "symbol": symbol}
        with common.output(args.output) as out:
            return await write_table(db, table, out, args.format, **filters)

    count = common.with_db(settings, work)
    if args.output:
        print(f"wrote {numbers.count(count, 'row')} of {table} to {args.output}", file=sys.stderr)
    elif count == 0:
        print(f"omc: no {table} rows match", file=sys.stderr)
    return 0


def export_candles(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers import queries
    from ledgers.timeframes import TIMEFRAMES

    if not args.symbol:
        raise common.UsageError("export candles needs --symbol, e.g. --symbol BTC/AUD")
    if args.timeframe not in TIMEFRAMES:
        raise common.UsageError(
            f"unknown timeframe {args.timeframe!r}; expected one of {', '.join(TIMEFRAMES)}"
        )
    symbol = common.symbol(args.symbol, settings)
    since = common.parse_when(args.since, "--since")
    until = common.parse_when(args.until, "--until")
    columns = ("venue", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")

    async def work(db: Any) -> int:
        count = 0
        with common.output(args.output) as out:
            writer = csv.writer(out) if args.format == "csv" else None
            if writer:
                writer.writerow(columns)
            async for c in queries.iter_candles(
                db, symbol, args.timeframe, venue=args.venue, since=since, until=until
            ):
                row = [c.venue, c.symbol, c.timeframe, c.ts.isoformat()]
                row += [c.open, c.high, c.low, c.close, c.volume]
                if writer:
                    writer.writerow(row)
                else:
                    out.write(json.dumps(dict(zip(columns, row, strict=True))) + "\n")
                count += 1
        return count

    count = common.with_db(settings, work)
    if count == 0:
        print(f"omc: no {args.timeframe} candles stored for {symbol}", file=sys.stderr)
    elif args.output:
        print(f"wrote {numbers.count(count, 'candle')} to {args.output}", file=sys.stderr)
    return 0
