"""``omc db``: the database schema."""

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
