"""Database access for SQLite (aiosqlite) and PostgreSQL (asyncpg), and schema migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ledgers.urls import DatabaseURLError, check_sqlite_directory, mask_url, normalize_url

__all__ = ["Database", "DatabaseURLError", "mask_url", "normalize_url"]


class Database:
    """An async engine on one database, with the pragmas and pool settings each backend needs."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            path = parsed.database or ":memory:"
            if path == ":memory:":
                # One shared connection, or every connection would see its own empty database.
                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"] = {"check_same_thread": False}
            else:
                check_sqlite_directory(self.url)  # never create a directory a typo named
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        from ledgers.migrate import upgrade

        await upgrade(self.engine)

    async def current_revision(self) -> str | None:
        """The migration the database is at, or None for an empty database."""
        from ledgers.migrate import current_revision

        return await current_revision(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=15000",  # writers queue for the lock (many commands at once) rather than fail
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


async def begin_immediate(conn: Any) -> None:
    """On SQLite, take the database's write lock now, as this transaction's first statement:
    what it reads next cannot change before it writes (other writers wait their turn, up to
    the busy timeout). The driver begins nothing itself before it, so this is the BEGIN."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
