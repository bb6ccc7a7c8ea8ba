"""``omc db``: the database's schema, its size table by table, and compacting it."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    db = common.group(sub, "db", "database schema", "db_command")
    common.command(db, "upgrade", db_upgrade, "migrate the schema to the newest revision")
    common.command(db, "current", db_current, "show the schema revision", json=True)
    common.command(db, "size", db_size, "rows and bytes per table, largest first", json=True)
    common.command(
        db, "vacuum", db_vacuum, "compact the database (no engine may own it)", json=True
    )


async def _revision(db: Any) -> str | None:
    return await db.current_revision()  # type: ignore[no-any-return]


def db_upgrade(args: argparse.Namespace, settings: config.Settings) -> int:
    revision = common.with_db(settings, _revision)
    print(f"database at revision {revision}")
    return 0


def db_current(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers.migrate import head_revision
    from ledgers.urls import mask_url

    current = common.with_db(settings, _revision, upgrade=False)
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


def db_size(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers.sizes import database_bytes, table_sizes

    async def work(db: Any) -> tuple[list[Any], int]:
        return await table_sizes(db), await database_bytes(db)

    tables, total = common.with_db(settings, work)
    if args.json:
        common.dump({"bytes": total, "tables": tables})
        return 0
    common.table(
        ["TABLE", "ROWS", "BYTES"],
        [
            [t.name, f"~{t.rows:,}" if t.estimated else f"{t.rows:,}", _bytes(t.bytes)]
            for t in tables
        ],
    )
    print(f"\n{_bytes(total)} in all; ~ marks the database's own estimate of a large table")
    return 0


def db_vacuum(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers.sizes import vacuum

    before, after = common.with_db(settings, vacuum, exclusive=True)
    if args.json:
        common.dump({"bytes_before": before, "bytes_after": after})
    else:
        print(f"compacted: {_bytes(before)} → {_bytes(after)}")
    return 0


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"
