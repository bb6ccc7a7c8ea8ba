"""Run the alembic history programmatically on an async engine (both databases)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from ledgers.database import begin_immediate

SCRIPT_LOCATION = str(Path(migrations.__file__).resolve().parent)


def alembic_config(connection: Connection | None = None) -> Config:
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
    if revision == "head" and await current_revision(engine) == head_revision():
        return
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        else:
            await begin_immediate(conn)
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
