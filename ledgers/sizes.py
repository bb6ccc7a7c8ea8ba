"""How big the database is, table by table, and compacting it on demand.

Rows of a large table are the database's own estimate (PostgreSQL's planner statistics,
SQLite's ``sqlite_stat1`` from ``ANALYZE``), said to be one; a table without an estimate, or a
small one, is counted. Bytes include a table's indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from ledgers.database import Database

COUNT_UNDER_BYTES = 8 << 20  # a table smaller than this is counted exactly: it is quick


@dataclass(frozen=True, slots=True)
class TableSize:
    name: str
    rows: int
    estimated: bool  # rows is the database's estimate, not a count
    bytes: int


async def table_sizes(db: Database) -> list[TableSize]:
    """Every table of ours (not the migration bookkeeping), largest first."""
    if db.dialect == "sqlite":
        found = await _sqlite_sizes(db)
    else:
        found = await _pg_sizes(db)
    return sorted(found, key=lambda t: (-t.bytes, t.name))


async def _sqlite_sizes(db: Database) -> list[TableSize]:
    async with db.engine.connect() as conn:
        owners = {
            r.name: r.tbl_name
            for r in await conn.execute(
                text("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")
            )
        }
        sizes: dict[str, int] = {}
        for r in await conn.execute(text("SELECT name, pgsize FROM dbstat WHERE aggregate = 1")):
            table = owners.get(r.name, r.name)
            sizes[table] = sizes.get(table, 0) + int(r.pgsize)
        estimates = await _sqlite_estimates(conn)
        out = []
        for table in sorted(t for t in set(owners.values()) if _ours(t)):
            size = sizes.get(table, 0)
            if table in estimates and size >= COUNT_UNDER_BYTES:
                out.append(TableSize(table, estimates[table], True, size))
                continue
            rows = (await conn.execute(text(f'SELECT count(*) FROM "{table}"'))).scalar()
            out.append(TableSize(table, int(rows or 0), False, size))
    return out


async def _sqlite_estimates(conn: Any) -> dict[str, int]:
    """Row counts ``ANALYZE`` left in ``sqlite_stat1``: the first number of a table's entry."""
    exists = await conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    )
    if exists.first() is None:
        return {}
    found: dict[str, int] = {}
    for r in await conn.execute(text("SELECT tbl, stat FROM sqlite_stat1")):
        first = str(r.stat).split(" ", 1)[0]
        if first.isdigit():
            found[r.tbl] = max(found.get(r.tbl, 0), int(first))
    return found


async def _pg_sizes(db: Database) -> list[TableSize]:
    query = text(
        "SELECT c.relname AS name, c.reltuples::bigint AS estimate,"
        " pg_total_relation_size(c.oid) AS bytes"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()"
    )
    out = []
    async with db.engine.connect() as conn:
        for r in (await conn.execute(query)).all():
            if not _ours(r.name):
                continue
            if r.estimate >= 0 and r.bytes >= COUNT_UNDER_BYTES:
                out.append(TableSize(r.name, int(r.estimate), True, int(r.bytes)))
                continue
            rows = (await conn.execute(text(f'SELECT count(*) FROM "{r.name}"'))).scalar()
            out.append(TableSize(r.name, int(rows or 0), False, int(r.bytes)))
    return out


def _ours(table: str) -> bool:
    return not table.startswith(("sqlite_", "alembic_")) and table != "alembic_version"


async def vacuum(db: Database) -> tuple[int, int]:
    """Compact the database and refresh the planner's statistics; (bytes before, after).

    On SQLite a full ``VACUUM`` rewrites the file (it needs the file to itself and as much
    free disk again) and turns on incremental auto-vacuum for an older file; on PostgreSQL a
    plain ``VACUUM (ANALYZE)`` marks space for reuse without locking anyone out.
    """
    before = await database_bytes(db)
    if db.dialect == "sqlite":
        thread = db.sqlite_thread()
        assert thread is not None, "an in-memory database has nothing to compact"

        def run() -> None:
            with thread.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                raw.executescript(
                    "PRAGMA auto_vacuum = INCREMENTAL; VACUUM; ANALYZE;"
                    " PRAGMA wal_checkpoint(TRUNCATE);"
                )

        async with thread.turn():
            await thread.call(run)
    else:
        async with db.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM (ANALYZE)"))
    return before, await database_bytes(db)


async def database_bytes(db: Database) -> int:
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            pages = (await conn.execute(text("PRAGMA page_count"))).scalar() or 0
            size = (await conn.execute(text("PRAGMA page_size"))).scalar() or 0
            return int(pages) * int(size)
        return int(
            (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar() or 0
        )
