"""Run the alembic history programmatically on an async engine (both databases).

Nearly every start finds the schema already at the newest revision: that is found by reading
the version table and the history's files, without loading alembic (a tenth of a second a
command would otherwise pay before its first useful work). Only an upgrade loads it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import migrations

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPT_LOCATION = str(Path(migrations.__file__).resolve().parent)
VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


_MIGRATION_LOCK = 0x0AC0_0001  # a PostgreSQL advisory lock id held while migrating


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate in one transaction; processes starting at once take turns (the second finds the
    schema already at head) instead of racing each other's DDL. A schema already at head is
    only read: twenty commands starting together do not queue for the write lock."""
    if revision == "head" and await _stored(engine) == (head_revision(),):
        return
    from alembic import command
    from sqlalchemy import text

    from ledgers.database import begin_immediate

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        else:
            await begin_immediate(conn)
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for a database alembic never touched."""
    stored = await _stored(engine)
    if len(stored) <= 1:
        return stored[0] if stored else None
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:  # several heads: alembic says what that means
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def _stored(engine: AsyncEngine) -> tuple[str, ...]:
    """The revisions the version table holds (one for a linear history; none if no table)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_version_rows)


def _version_rows(conn: Connection) -> tuple[str, ...]:
    if conn.dialect.name == "postgresql":
        # The table as the search path finds it, as alembic's own statements would: the
        # dialect's has_table is a reflection query SQLAlchemy builds and compiles first.
        found = conn.exec_driver_sql(f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL")
        if not found.scalar():
            return ()
    elif not conn.dialect.has_table(conn, VERSION_TABLE):
        return ()
    rows = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")
    return tuple(str(r[0]) for r in rows)


def head_revision() -> str | None:
    """The newest revision of the history."""
    listed = listed_head()
    if listed is not None:
        return listed
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


_REVISION = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*["']([\w-]+)["']\s*$""", re.M)
_REVISES = re.compile(r"""^down_revision(?:\s*:[^=]+)?\s*=\s*(?:None|["']([\w-]+)["'])\s*$""", re.M)


def listed_head() -> str | None:
    """The head of a linear history read from its files: the one revision no other revises.

    None when the history is anything else (a branch, a merge, a file this reading does not
    understand): then alembic itself is asked.
    """
    revises: dict[str, str | None] = {}
    for path in (Path(SCRIPT_LOCATION) / "versions").glob("*.py"):
        if path.name.startswith((".#", "__init__")):  # what alembic itself passes over
            continue
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(text), _REVISES.findall(text)
        if len(revision) != 1 or len(down) != 1 or revision[0] in revises:
            return None
        revises[revision[0]] = down[0] or None
    roots = [r for r, down in revises.items() if down is None]
    if len(roots) != 1 or any(d is not None and d not in revises for d in revises.values()):
        return None
    heads = set(revises) - {d for d in revises.values() if d is not None}
    if len(heads) != 1 or len(set(revises.values())) != len(revises):
        return None  # a branch: two revisions revise the same one
    return heads.pop()
