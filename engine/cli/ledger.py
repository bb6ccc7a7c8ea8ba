"""``omc ledger``: facts about the four ledgers."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine import config
    from engine.cli.common import Engine


def add_commands(sub: common.SubParsers) -> None:
    ledger = common.group(sub, "ledger", "ledger facts", "ledger_command")
    common.command(ledger, "stats", ledger_stats, "rows and newest timestamp per table", json=True)


Stat = tuple[str, int, datetime | None, bool]  # table, rows, newest, rows estimated


async def _asked(engine: Engine) -> list[Stat]:
    return [(s.table, s.rows, s.newest, s.estimated) for s in await engine.ledger_stats()]


async def _read(db: Any) -> list[Stat]:
    from ledgers import queries

    return [(s.table, s.rows, s.newest, s.estimated) for s in await queries.ledger_stats(db)]


def ledger_stats(args: argparse.Namespace, settings: config.Settings) -> int:
    # The engine that owns the database answers when one listens; else the database itself.
    rows = common.with_engine(settings, _asked, any_book=True, alone=_read)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "table": t,
                        "rows": n,
                        "estimated": estimated,
                        "newest": ts.isoformat() if ts else None,
                    }
                    for t, n, ts, estimated in rows
                ]
            )
        )
        return 0
    width = max(len(t) for t, _, _, _ in rows)
    print(f"{'table':<{width}}  {'rows':>12}  newest (UTC)")
    for table, n, ts, estimated in rows:
        count = f"~{n:,}" if estimated else f"{n:,}"
        print(f"{table:<{width}}  {count:>12}  {common.when(ts) or '—'}")
    if any(estimated for _, _, _, estimated in rows):
        print("\n~ marks the database's own estimate of a large table")
    return 0
