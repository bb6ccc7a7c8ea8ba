"""Retention: raw ticks and order-book snapshots age out, equity marks thin, space comes back.

Candles and the intelligence ledgers are kept: candles are the downsampled record of the ticks
(built every few seconds, long before a tick ages out) and the ledgers are small. Every delete
goes in small batches along the table's primary key, one transaction each, so the write-behind
and the book's writes take their turns in between and nothing stalls; no batch scans a table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, literal_column, select

from ledgers import series
from ledgers.database import Database
from ledgers.schema import EquityMarkRow, OrderBookSnapshot, Ticker

BATCH = 2000  # rows a delete takes in one transaction
VACUUM_PAGES = 4096  # SQLite pages handed back to the file system per prune (16 MB at 4 KiB)


@dataclass(frozen=True, slots=True)
class Policy:
    """How long each kind of row is kept; None keeps it for ever."""

    tickers_days: float | None = 30.0
    books_days: float | None = 7.0
    equity_hourly_after_days: float | None = 30.0
    equity_daily_after_days: float | None = 365.0
    batch: int = BATCH


@dataclass(frozen=True, slots=True)
class Pruned:
    tickers: int = 0
    books: int = 0
    equity_marks: int = 0
    pages_freed: int = 0

    @property
    def rows(self) -> int:
        return self.tickers + self.books + self.equity_marks


async def prune(db: Database, policy: Policy, now: datetime) -> Pruned:
    """Apply ``policy`` at ``now``: what is past its time goes, in small batches."""
    tickers = books = marks = 0
    if policy.tickers_days is not None:
        cutoff = now - timedelta(days=policy.tickers_days)
        tickers = await prune_market_table(db, Ticker.__table__, cutoff, policy.batch)
    if policy.books_days is not None:
        cutoff = now - timedelta(days=policy.books_days)
        books = await prune_market_table(db, OrderBookSnapshot.__table__, cutoff, policy.batch)
    marks = await thin_equity_marks(db, policy, now)
    pages = await reclaim(db) if tickers + books + marks else 0
    await refresh_estimates(db)
    return Pruned(tickers, books, marks, pages)


async def refresh_estimates(db: Database) -> None:
    """Keep SQLite's row estimates (``sqlite_stat1``) fresh for ``omc db size``: ``ANALYZE``
    reading a bounded sample of each index, not whole tables. PostgreSQL's autovacuum keeps
    its own."""
    thread = db.sqlite_thread()
    if thread is None:
        return

    def run() -> None:
        with thread.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.executescript("PRAGMA analysis_limit = 1000; ANALYZE;")

    async with thread.turn():
        await thread.call(run)


async def prune_market_table(db: Database, table: Table, before: datetime, batch: int) -> int:
    """Delete a (venue, symbol, ts) table's rows older than ``before``, market by market, a
    batch at a time along its primary key."""
    removed = 0
    async for venue, symbol in _markets(db, table):
        while True:
            gone = await _delete_batch(db, table, venue, symbol, before, batch)
            removed += gone
            await asyncio.sleep(0)  # the write-behind and the book take their turn
            if gone < batch:
                break
    return removed


async def _markets(db: Database, table: Table) -> Any:
    """Each (venue, symbol) the table holds, found by seeking along its primary key from one
    to the next (``ledgers.series``): as many index seeks as markets, never a scan of the rows."""
    async with db.engine.connect() as conn:
        found = await series.series(conn, table.name)
    for market in found:
        yield market


async def _delete_batch(
    db: Database, table: Table, venue: str, symbol: str, before: datetime, batch: int
) -> int:
    c = table.c
    key = literal_column("rowid" if db.dialect == "sqlite" else "ctid")
    chosen = (
        select(key)
        .where(c.venue == venue, c.symbol == symbol, c.ts < before)
        .limit(batch)
        .scalar_subquery()
    )
    return await _write(db, delete(table).where(key.in_(chosen)))


async def thin_equity_marks(db: Database, policy: Policy, now: datetime) -> int:
    """Keep the last mark of each hour once marks are ``equity_hourly_after_days`` old, and
    the last of each day once they are ``equity_daily_after_days`` old."""
    if policy.equity_hourly_after_days is None and policy.equity_daily_after_days is None:
        return 0
    table = EquityMarkRow.__table__
    hourly = _cutoff(now, policy.equity_hourly_after_days)
    daily = _cutoff(now, policy.equity_daily_after_days)
    end = max(t for t in (hourly, daily) if t is not None)
    removed = 0
    async with db.engine.connect() as conn:
        books = [r.book for r in await conn.execute(select(table.c.book).distinct())]
    for book in books:
        day = await _first_mark(db, book)
        while day is not None and day < end:
            following = day + timedelta(days=1)
            bucket = _day if daily is not None and following <= daily else _hour
            removed += await _thin_window(db, book, day, min(following, end), bucket, policy.batch)
            await asyncio.sleep(0)
            day = following
    return removed


async def _first_mark(db: Database, book: str) -> datetime | None:
    c = EquityMarkRow.__table__.c
    async with db.engine.connect() as conn:
        first = (
            await conn.execute(select(c.ts).where(c.book == book).order_by(c.ts).limit(1))
        ).scalar()
    if first is None:
        return None
    return first.replace(hour=0, minute=0, second=0, microsecond=0)


async def _thin_window(
    db: Database,
    book: str,
    start: datetime,
    end: datetime,
    bucket: Callable[[datetime], datetime],
    batch: int,
) -> int:
    """Within [start, end), delete every mark that is not the last of its bucket."""
    table = EquityMarkRow.__table__
    c = table.c
    async with db.engine.connect() as conn:
        stamps = list(
            (
                await conn.execute(
                    select(c.ts).where(c.book == book, c.ts >= start, c.ts < end).order_by(c.ts)
                )
            ).scalars()
        )
    last: dict[datetime, datetime] = {}
    for ts in stamps:
        last[bucket(ts)] = ts
    keep = set(last.values())
    doomed = [ts for ts in stamps if ts not in keep]
    removed = 0
    for i in range(0, len(doomed), batch):
        chunk = doomed[i : i + batch]
        removed += await _write(db, delete(table).where(c.book == book, c.ts.in_(chunk)))
    return removed


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _day(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def _cutoff(now: datetime, days: float | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


async def reclaim(db: Database, pages: int = VACUUM_PAGES) -> int:
    """Hand free pages of a SQLite file back to the file system, a bounded number at a time
    (a database made with incremental auto-vacuum; ``vacuum`` converts an older one).
    PostgreSQL's autovacuum reuses the space by itself. Returns the pages freed."""
    thread = db.sqlite_thread()
    if thread is None:
        return 0

    def run() -> int:
        with thread.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            if raw.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # 2: incremental
                return 0
            before = raw.execute("PRAGMA freelist_count").fetchone()[0]
            # A script runs the pragma to its end (a plain execute frees one page a step).
            raw.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
            return int(before - raw.execute("PRAGMA freelist_count").fetchone()[0])

    async with thread.turn():  # the write lock, in turn with this loop's other writers
        return await thread.call(run)


async def _write(db: Database, statement: Any) -> int:
    """Run one delete in a transaction of its own; how many rows it took."""
    thread = db.sqlite_thread()
    if thread is not None:
        return await thread.write(lambda conn: int(conn.execute(statement).rowcount or 0))
    async with db.engine.begin() as conn:
        return int((await conn.execute(statement)).rowcount or 0)
