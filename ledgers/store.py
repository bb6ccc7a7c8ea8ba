"""Bulk, idempotent writes to the ledgers.

Every write is an upsert on the table's natural key. The hot paths bypass the ORM: SQLite gets
one ``executemany`` of ``INSERT … ON CONFLICT DO UPDATE``; PostgreSQL gets a binary ``COPY``
into a session-local staging table and one merging ``INSERT … SELECT … ON CONFLICT``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ledgers.database import Database
from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem, MoodReading
from ledgers.market import BookSnapshot, Candle, Instrument, JobRunRecord, Tick
from ledgers.types import SQLITE_TS_FORMAT

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    timestamps: tuple[int, ...]  # positions of timestamp columns in ``columns``
    json_columns: tuple[int, ...] = ()

    def sqlite_upsert(self) -> str:
        cols = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {self.name} ({cols}) VALUES ({marks}) {self._on_conflict()}"

    def pg_merge(self, stage: str) -> str:
        cols = ", ".join(self.columns)
        return f"INSERT INTO {self.name} ({cols}) SELECT {cols} FROM {stage} {self._on_conflict()}"

    def _on_conflict(self) -> str:
        updates = [c for c in self.columns if c not in self.key]
        keys = ", ".join(self.key)
        if not updates:
            return f"ON CONFLICT ({keys}) DO NOTHING"
        sets = ", ".join(f"{c} = excluded.{c}" for c in updates)
        return f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"


TICKERS = _Table(
    "tickers",
    ("venue", "symbol", "ts", "last", "bid", "ask", "base_volume", "quote_volume", "change_pct"),
    ("venue", "symbol", "ts"),
    (2,),
)
CANDLES = _Table(
    "candles",
    ("venue", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume"),
    ("venue", "symbol", "timeframe", "ts"),
    (3,),
)
BOOKS = _Table(
    "order_book_snapshots",
    ("venue", "symbol", "ts", "bids", "asks"),
    ("venue", "symbol", "ts"),
    (2,),
    (3, 4),
)
INSTRUMENTS = _Table(
    "instruments",
    (
        "venue",
        "symbol",
        "base",
        "quote",
        "active",
        "price_precision",
        "amount_precision",
        "min_amount",
        "updated_at",
    ),
    ("venue", "symbol"),
    (8,),
)
JOB_RUNS = _Table(
    "job_runs",
    ("job", "started_at", "finished_at", "status", "rows", "error"),
    ("job", "started_at"),
    (1, 2),
)


GLASS = _Table(
    "glass_metrics",
    ("source", "entity", "metric", "ts", "value"),
    ("source", "entity", "metric", "ts"),
    (3,),
)
HUMAN = _Table(
    "human_items",
    ("source", "external_id", "title", "url", "published", "score", "body", "currencies", "votes"),
    ("source", "external_id"),
    (4,),
    (7, 8),
)
MOOD = _Table("mood_readings", ("source", "ts", "value", "label"), ("source", "ts"), (1,))
CATALYSTS = _Table(
    "catalyst_events",
    ("source", "external_id", "type", "title", "url", "occurred", "impact", "currencies"),
    ("source", "external_id"),
    (5,),
    (7,),
)

BIG_BATCH = 500  # rows: a batch this big is made ready on a thread, not on the event loop


def tick_row(t: Tick) -> tuple[Any, ...]:
    return (
        t.venue,
        t.symbol,
        t.ts,
        t.last,
        t.bid,
        t.ask,
        t.base_volume,
        t.quote_volume,
        t.change_pct,
    )


def candle_row(c: Candle) -> tuple[Any, ...]:
    return (c.venue, c.symbol, c.timeframe, c.ts, c.open, c.high, c.low, c.close, c.volume)


def book_row(b: BookSnapshot) -> tuple[Any, ...]:
    return (b.venue, b.symbol, b.ts, [list(x) for x in b.bids], [list(x) for x in b.asks])


def glass_row(m: GlassMetric) -> tuple[Any, ...]:
    return (m.source, m.entity, m.metric, m.ts, m.value)


def human_row(h: HumanItem) -> tuple[Any, ...]:
    return (
        h.source,
        h.external_id,
        h.title,
        h.url,
        h.published,
        h.score,
        h.body,
        list(h.currencies),
        h.votes,
    )


def mood_row(m: MoodReading) -> tuple[Any, ...]:
    return (m.source, m.ts, m.value, m.label)


def catalyst_row(c: CatalystEvent) -> tuple[Any, ...]:
    return (
        c.source,
        c.external_id,
        c.type,
        c.title,
        c.url,
        c.occurred,
        c.impact,
        list(c.currencies),
    )


def job_run_row(r: JobRunRecord) -> tuple[Any, ...]:
    return (r.job, r.started_at, r.finished_at, r.status, r.rows, r.error)


class LedgerStore:
    """Idempotent bulk writes; each call is one transaction and returns the rows written."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sqlite = db.dialect == "sqlite"

    async def upsert_ticks(self, ticks: Sequence[Tick]) -> int:
        return await self._write(TICKERS, ticks, tick_row)

    async def upsert_candles(self, candles: Sequence[Candle]) -> int:
        return await self._write(CANDLES, candles, candle_row)

    async def upsert_books(self, books: Sequence[BookSnapshot]) -> int:
        return await self._write(BOOKS, books, book_row)

    async def record_job_runs(self, runs: Sequence[JobRunRecord]) -> int:
        return await self._write(JOB_RUNS, runs, job_run_row)

    async def prune_job_runs(self, before: datetime) -> int:
        """Delete job runs that started before ``before``; returns how many went."""
        from sqlalchemy import delete

        from ledgers.schema import JobRun

        async with self.db.engine.begin() as conn:
            result = await conn.execute(delete(JobRun).where(JobRun.started_at < before))
        return int(result.rowcount or 0)

    async def upsert_instruments(self, instruments: Sequence[Instrument], now: datetime) -> int:
        def row(i: Instrument) -> tuple[Any, ...]:
            return (
                i.venue,
                i.symbol,
                i.base,
                i.quote,
                i.active,
                i.price_precision,
                i.amount_precision,
                i.min_amount,
                now,
            )

        return await self._write(INSTRUMENTS, instruments, row)

    async def write_collected(self, batch: Collected) -> int:
        """A collector run's records, all in one transaction: written whole or not at all."""
        parts = [
            (GLASS, batch.glass, glass_row),
            (HUMAN, batch.human, human_row),
            (MOOD, batch.mood, mood_row),
            (CATALYSTS, batch.catalysts, catalyst_row),
        ]
        return await self._write_many([(t, items, row) for t, items, row in parts if items])

    async def _write(
        self, table: _Table, items: Sequence[Any], to_row: Callable[[Any], tuple[Any, ...]]
    ) -> int:
        if not items:
            return 0
        return await self._write_many([(table, items, to_row)])

    async def _write_many(
        self, parts: list[tuple[_Table, Sequence[Any], Callable[[Any], tuple[Any, ...]]]]
    ) -> int:
        prepare = _for_sqlite if self._sqlite else _for_postgres

        def build() -> list[list[tuple[Any, ...]]]:
            return [prepare(table, [to_row(i) for i in items]) for table, items, to_row in parts]

        # A history backfill is ~10^5 rows: building them must not stall the event loop.
        size = sum(len(items) for _, items, _ in parts)
        rows = build() if size < BIG_BATCH else await asyncio.to_thread(build)
        thread = self.db.sqlite_thread()
        if thread is not None:

            def write(conn: Connection) -> None:
                for (table, _, _), table_rows in zip(parts, rows, strict=True):
                    conn.exec_driver_sql(table.sqlite_upsert(), table_rows)

            await thread.write(write)
        elif self._sqlite:
            async with self.db.engine.begin() as conn:
                for (table, _, _), table_rows in zip(parts, rows, strict=True):
                    await conn.exec_driver_sql(table.sqlite_upsert(), table_rows)
        else:
            async with self.db.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                pg = raw.driver_connection
                assert pg is not None
                async with pg.transaction():
                    for (table, _, _), table_rows in zip(parts, rows, strict=True):
                        await _pg_merge(pg, table, table_rows)
        return size


async def _pg_merge(pg: Any, table: _Table, rows: list[tuple[Any, ...]]) -> None:
    stage = f"_omc_stage_{table.name}"
    # Staging tables are per connection; pooled connections keep theirs.
    await pg.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await pg.copy_records_to_table(stage, records=rows, columns=list(table.columns))
    await pg.execute(table.pg_merge(stage))


def _for_sqlite(table: _Table, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Format timestamps exactly as ``UTCDateTime`` stores them and JSON columns as text."""
    stamps: dict[datetime, str] = {}  # a batch shares few timestamps: format each once

    def fmt(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = stamps.get(value)
        if text is None:
            text = stamps[value] = _utc(value, table).strftime(SQLITE_TS_FORMAT)
        return text

    ts_cols, json_cols = table.timestamps, table.json_columns
    if len(ts_cols) == 1 and not json_cols:
        i = ts_cols[0]
        return [(*r[:i], fmt(r[i]), *r[i + 1 :]) for r in rows]
    return [
        tuple(
            fmt(v) if i in ts_cols else _json(v) if i in json_cols else v for i, v in enumerate(r)
        )
        for r in rows
    ]


def _for_postgres(table: _Table, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Drop duplicate keys (last wins: one statement may not touch a row twice) and encode JSON."""
    key_idx = [table.columns.index(k) for k in table.key]
    latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for r in rows:
        latest[tuple(r[i] for i in key_idx)] = r
    for r in latest.values():
        for i in table.timestamps:
            if r[i] is not None:
                _utc(r[i], table)
    if not table.json_columns:
        return list(latest.values())
    return [
        tuple(_json(v) if i in table.json_columns else v for i, v in enumerate(r))
        for r in latest.values()
    ]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _utc(value: datetime, table: _Table) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} written to {table.name}")
    return value.astimezone(UTC)
