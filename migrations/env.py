"""Alembic environment: runs on a connection handed over by ``ledgers.migrate``, or on a URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from ledgers.schema import Base, on_dialect

target_metadata = Base.metadata
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=on_dialect(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    from ledgers.database import Database

    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(_run)
    await db.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_on_url(config.get_main_option("sqlalchemy.url") or ""))
