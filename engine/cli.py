"""The scripting commands of ``omc``: exit 0 ok, 1 failure, 2 usage error; ``--json`` for scripts."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the desk's start-up path parses arguments before pydantic loads
    from engine import config

Handler = Callable[[argparse.Namespace, "config.Settings"], int]


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


class UsageError(Exception):
    """Bad arguments discovered after parsing; exits 2."""


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="migrate the schema to the newest revision").set_defaults(
        handler=db_upgrade
    )
    cur = db.add_parser("current", help="show the schema revision")
    cur.add_argument("--json", action="store_true")
    cur.set_defaults(handler=db_current)

    ledger = sub.add_parser("ledger", help="ledger facts").add_subparsers(
        dest="ledger_command", required=True
    )
    stats = ledger.add_parser("stats", help="rows and newest timestamp per table")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(handler=ledger_stats)

    quality = sub.add_parser("quality", help="data-quality scores per ledger and source")
    quality.add_argument("--json", action="store_true")
    quality.set_defaults(handler=quality_report)

    export = sub.add_parser("export", help="export a ledger or table as CSV or JSON lines")
    export.add_argument("table", choices=EXPORTABLE, help="a ledger or one of its tables")
    export.add_argument("--symbol", help="only rows about this symbol (required for candles)")
    export.add_argument("--search", help="only rows whose text contains this")
    export.add_argument("--timeframe", default="1m", help="1m 5m 15m 1h 4h 1d (default 1m)")
    export.add_argument("--venue", help="only this venue (default: all, e.g. coinspot and sim)")
    export.add_argument("--since", help="ISO date or time, UTC unless it says otherwise")
    export.add_argument("--until", help="ISO date or time, exclusive")
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(handler=export_table)

    cfg = sub.add_parser("config", help="configuration").add_subparsers(
        dest="config_command", required=True
    )
    show = cfg.add_parser("show", help="the effective config, secrets masked")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=config_show)

    from engine.trading import cli as trading_cli

    trading_cli.add_commands(sub)


def run(args: argparse.Namespace, settings: config.Settings) -> int:
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except UsageError as exc:
        print(f"omc: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a command fails with one clear line, not a traceback
        print(f"omc: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _with_db(settings: config.Settings, work: Callable[[Any], Any], *, upgrade: bool = True) -> Any:
    from ledgers.database import Database

    async def main() -> Any:
        db = Database(settings.database_url())
        try:
            if upgrade:
                await db.upgrade()
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def db_upgrade(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(db: Any) -> str | None:
        return await db.current_revision()

    revision = _with_db(settings, work)
    print(f"database at revision {revision}")
    return 0


def db_current(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers.migrate import head_revision
    from ledgers.urls import mask_url

    async def work(db: Any) -> str | None:
        return await db.current_revision()

    current = _with_db(settings, work, upgrade=False)
    head = head_revision()
    info = {
        "database": mask_url(settings.database_url()),
        "current": current,
        "head": head,
        "up_to_date": current == head,
    }
    if args.json:
        print(json.dumps(info))
    else:
        state = "up to date" if current == head else f"behind head {head} (run: omc db upgrade)"
        print(f"{info['database']}: revision {current or 'none'} — {state}")
    return 0


def ledger_stats(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers import queries

    rows = _with_db(settings, queries.table_stats)
    if args.json:
        print(
            json.dumps(
                [
                    {"table": t, "rows": n, "newest": ts.isoformat() if ts else None}
                    for t, n, ts in rows
                ]
            )
        )
        return 0
    width = max(len(t) for t, _, _ in rows)
    print(f"{'table':<{width}}  {'rows':>12}  newest (UTC)")
    for table, n, ts in rows:
        print(f"{table:<{width}}  {n:>12,}  {ts.strftime('%Y-%m-%d %H:%M:%S') if ts else '—'}")
    return 0


def quality_report(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers.quality import measure

    thresholds = settings.quality.thresholds()
    now = datetime.now(UTC)
    expected = _expected_sources(settings)

    async def work(db: Any) -> Any:
        return await measure(db, now, thresholds, expected)

    report = _with_db(settings, work)
    if args.json:
        print(
            json.dumps(
                {
                    "at": report.at.isoformat(),
                    "overall": report.overall,
                    "alert": report.alert,
                    "alert_below": report.alert_below,
                    "ledgers": report.ledgers,
                    "sources": [
                        {
                            "ledger": s.ledger,
                            "source": s.source,
                            "rows": s.rows,
                            "newest": s.newest.isoformat() if s.newest else None,
                            "completeness": round(s.completeness, 4),
                            "timeliness": round(s.timeliness, 4),
                            "accuracy": round(s.accuracy, 4),
                            "score": s.score,
                        }
                        for s in report.sources
                    ],
                }
            )
        )
    else:
        state = "ALERT" if report.alert else "ok"
        print(f"overall {report.overall:.2f} ({state}, alert below {report.alert_below:.2f})")
        for ledger, score in report.ledgers.items():
            print(f"  {ledger:<9} {score:.2f}")
        print(
            f"{'ledger':<9} {'source':<24} {'rows':>8} {'compl':>6} {'timely':>6} {'acc':>6} {'score':>6}"
        )
        for s in report.sources:
            print(
                f"{s.ledger:<9} {s.source:<24} {s.rows:>8} {s.completeness:>6.2f} "
                f"{s.timeliness:>6.2f} {s.accuracy:>6.2f} {s.score:>6.2f}"
            )
    return 1 if report.alert else 0


def _expected_sources(settings: config.Settings) -> dict[str, list[str]]:
    """The sources the configured engine would run, so a silent one counts against quality."""
    if settings.sim.enabled:
        return {"exchange": ["sim"], "glass": ["sim"], "human": ["sim"], "catalyst": ["sim"]}
    from engine.intel import live_collectors

    async def none() -> list[Any]:
        return []

    expected: dict[str, list[str]] = {"exchange": [settings.market.venue]}
    for c in live_collectors(settings, none):
        expected.setdefault(c.ledger, []).append(c.name)
    return expected


def parse_when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not an ISO date or time such as 2026-11-01 or 2026-11-01T09:30"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def export_table(args: argparse.Namespace, settings: config.Settings) -> int:
    """Any ledger table, newest first; candles keep their own chronological export."""
    if args.table == "candles":
        if not args.symbol:
            raise UsageError("export candles needs --symbol, e.g. --symbol BTC/AUD")
        return export_candles(args, settings)
    from engine.exports import write_table
    from ledgers import queries

    table = LEDGER_TABLE.get(args.table, args.table)
    symbol = _symbol(args.symbol, settings) if args.symbol else None
    since, until = parse_when(args.since, "--since"), parse_when(args.until, "--until")
    queries.table_columns(table)  # an unknown table fails before a file is created
    out: TextIO = open(args.output, "w", newline="") if args.output else sys.stdout

    async def work(db: Any) -> int:
        filters = {"since": since, "until": until, "search": args.search, "symbol": symbol}
        return await write_table(db, table, out, args.format, **filters)

    try:
        count = _with_db(settings, work)
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"wrote {count} rows of {table} to {args.output}", file=sys.stderr)
    elif count == 0:
        print(f"omc: no {table} rows match", file=sys.stderr)
    return 0


def export_candles(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers import queries
    from ledgers.timeframes import TIMEFRAMES

    if args.timeframe not in TIMEFRAMES:
        raise UsageError(
            f"unknown timeframe {args.timeframe!r}; expected one of {', '.join(TIMEFRAMES)}"
        )
    symbol = _symbol(args.symbol, settings)
    since, until = parse_when(args.since, "--since"), parse_when(args.until, "--until")

    out: TextIO = open(args.output, "w", newline="") if args.output else sys.stdout
    columns = ("venue", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume")
    writer = csv.writer(out) if args.format == "csv" else None
    if writer:
        writer.writerow(columns)

    async def work(db: Any) -> int:
        count = 0
        async for c in queries.iter_candles(
            db, symbol, args.timeframe, venue=args.venue, since=since, until=until
        ):
            row = [
                c.venue,
                c.symbol,
                c.timeframe,
                c.ts.isoformat(),
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
            ]
            if writer:
                writer.writerow(row)
            else:
                out.write(json.dumps(dict(zip(columns, row, strict=True))) + "\n")
            count += 1
        return count

    try:
        count = _with_db(settings, work)
    finally:
        if args.output:
            out.close()
    if count == 0:
        print(f"omc: no {args.timeframe} candles stored for {symbol}", file=sys.stderr)
    elif args.output:
        print(f"wrote {count} candles to {args.output}", file=sys.stderr)
    return 0


def _symbol(raw: str, settings: config.Settings) -> str:
    from engine import config

    try:
        return config.normalize_symbol(raw, settings.market.quote)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def config_show(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine import config

    data = config.effective(settings, config.config_path(args.config))
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(
        f"# config file: {data.pop('config_file')} ({'found' if data.pop('config_file_exists') else 'not found; defaults apply'})"
    )
    for section, values in data.items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value)}")
        print()
    return 0
