"""``omc ledger``: facts about the four ledgers."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from engine.cli import common

if TYPE_CHECKING:
    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    ledger = common.group(sub, "ledger", "ledger facts", "ledger_command")
    common.command(ledger, "stats", ledger_stats, "rows and newest timestamp per table", json=True)


def ledger_stats(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers import queries

    rows = common.with_db(settings, queries.table_stats)
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
        print(f"{table:<{width}}  {n:>12,}  {common.when(ts) or '—'}")
    return 0
