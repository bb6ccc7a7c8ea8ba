"""Migrations, idempotent upserts and timestamps on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select, text

from ledgers import queries, schema
from ledgers.database import (
    Database,
    DatabaseURLError,
    InlineEngine,
    begin_immediate,
    normalize_url,
)
from ledgers.market import BookSnapshot, Candle, Instrument, JobRunRecord, Tick
from ledgers.migrate import head_revision
from ledgers.store import LedgerStore

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _ticks(n: int = 50) -> list[Tick]:
    return [
        Tick(
            "sim", sym, T0 + timedelta(seconds=i), 100.0 + i, 99.5 + i, 100.5 + i, 10.0, 1000.0, 1.5
        )
        for i in range(n)
        for sym in ("BTC/AUD", "ETH/AUD")
    ]


async def test_migrations_match_models(database: Database) -> None:
    async with database.engine.connect() as conn:
        diffs = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync,
                    opts={
                        "compare_type": True,
                        "include_object": schema.on_dialect(sync.dialect.name),
                    },
                ),
                schema.Base.metadata,
            )
        )
    assert diffs == []
    assert await database.current_revision() == head_revision()


async def test_ticks_and_books_have_a_time_index_on_postgresql_only(database: Database) -> None:
    """A BRIN index on PostgreSQL (a read by time alone, for 40 kB a month); none on SQLite,
    whose reads go along the primary key."""
    names = ("ix_tickers_ts", "ix_order_book_snapshots_ts")
    async with database.engine.connect() as conn:
        if database.dialect == "postgresql":
            query = text(
                "SELECT c.relname, am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
                " WHERE c.relname IN ('ix_tickers_ts', 'ix_order_book_snapshots_ts')"
            )
            assert dict((await conn.execute(query)).all()) == dict.fromkeys(names, "brin")
        else:
            query = text("SELECT name FROM sqlite_master WHERE type = 'index'")
            assert not set(names) & set((await conn.execute(query)).scalars())


async def test_upgrade_twice_is_harmless(database: Database) -> None:
    await database.upgrade()
    assert await database.current_revision() == head_revision()


async def test_reingesting_the_same_batch_adds_no_rows(database: Database) -> None:
    store = LedgerStore(database)
    ticks = _ticks()
    candles = [
        Candle("sim", "BTC/AUD", "1m", T0 + timedelta(minutes=i), 1, 2, 0.5, 1.5, 3)
        for i in range(30)
    ]
    book = BookSnapshot("sim", "BTC/AUD", T0, ((99.0, 1.0), (98.0, 2.0)), ((101.0, 1.5),))
    run = JobRunRecord("market.tickers", T0, T0 + timedelta(seconds=1), "ok", 24)
    for _ in range(2):
        await store.upsert_ticks(ticks)
        await store.upsert_candles(candles)
        await store.upsert_books([book])
        await store.record_job_runs([run])
        await store.upsert_instruments([Instrument("sim", "BTC/AUD", "BTC", "AUD")], T0)
    stats = {name: (rows, newest) for name, rows, newest in await queries.table_stats(database)}
    assert stats["tickers"] == (100, T0 + timedelta(seconds=49))
    assert stats["candles"][0] == 30
    assert stats["order_book_snapshots"][0] == 1
    assert stats["job_runs"][0] == 1
    assert stats["instruments"][0] == 1


async def test_upsert_updates_values_on_the_natural_key(database: Database) -> None:
    store = LedgerStore(database)
    bar = Candle("sim", "BTC/AUD", "1h", T0, 10, 12, 9, 11, 5)
    await store.upsert_candles([bar])
    await store.upsert_candles([Candle("sim", "BTC/AUD", "1h", T0, 10, 15, 8, 14, 9)])
    (stored,) = await queries.recent_candles(database, "sim", "BTC/AUD", "1h", 10)
    assert (stored.high, stored.low, stored.close, stored.volume) == (15, 8, 14, 9)


async def test_duplicate_keys_within_one_batch_keep_the_last(database: Database) -> None:
    store = LedgerStore(database)
    first = Candle("sim", "ETH/AUD", "1m", T0, 1, 1, 1, 1, 1)
    last = Candle("sim", "ETH/AUD", "1m", T0, 1, 3, 1, 2, 7)
    await store.upsert_candles([first, last])
    (stored,) = await queries.recent_candles(database, "sim", "ETH/AUD", "1m", 10)
    assert stored.close == 2 and stored.volume == 7


async def test_timestamps_come_back_aware_utc(database: Database) -> None:
    store = LedgerStore(database)
    sydney = datetime(2026, 11, 20, 20, 30, tzinfo=UTC).astimezone()
    await store.upsert_candles([Candle("sim", "SOL/AUD", "1m", sydney, 1, 1, 1, 1, 1)])
    (stored,) = await queries.recent_candles(database, "sim", "SOL/AUD", "1m", 1)
    assert stored.ts.tzinfo is not None and stored.ts.utcoffset() == timedelta(0)
    assert stored.ts == sydney
    async with database.engine.connect() as conn:
        row = (await conn.execute(select(schema.Candle.ts))).scalar_one()
    assert row == sydney and row.tzinfo is not None


async def test_naive_timestamps_are_refused(database: Database) -> None:
    store = LedgerStore(database)
    with pytest.raises(ValueError, match="naive"):
        await store.upsert_ticks([Tick("sim", "BTC/AUD", datetime(2026, 1, 1), 1.0)])  # noqa: DTZ001


async def test_book_levels_round_trip_as_json(database: Database) -> None:
    store = LedgerStore(database)
    await store.upsert_books(
        [BookSnapshot("sim", "BTC/AUD", T0, ((99.5, 0.25),), ((100.5, 1.75),))]
    )
    async with database.engine.connect() as conn:
        bids, asks = (
            await conn.execute(select(schema.OrderBookSnapshot.bids, schema.OrderBookSnapshot.asks))
        ).one()
    assert bids == [[99.5, 0.25]] and asks == [[100.5, 1.75]]


async def test_newest_candles_returns_each_forming_bar(database: Database) -> None:
    store = LedgerStore(database)
    bars = [
        Candle("sim", "BTC/AUD", tf, T0 + timedelta(hours=i), 1, 1, 1, i, 1)
        for tf in ("1h", "1d")
        for i in range(3)
    ]
    await store.upsert_candles(bars)
    newest = {
        (c.timeframe, c.close) for c in await queries.newest_candles(database, "sim", ["BTC/AUD"])
    }
    assert newest == {("1h", 2), ("1d", 2)}


async def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    async with db.engine.connect() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        fk = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
    await db.dispose()
    assert mode == "wal" and fk == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:////tmp/a.db", "sqlite+aiosqlite:////tmp/a.db"),
        ("postgresql://u:p@h:5432/omc", "postgresql+asyncpg://u:p@h:5432/omc"),
        ("postgres://u@h/omc", "postgresql+asyncpg://u@h/omc"),
    ],
)
def test_database_urls_are_normalised(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://root@h/db", "not a url", "postgresql://u@h", "omc.db"])
def test_bad_database_urls_say_what_form_they_take(url: str) -> None:
    with pytest.raises(DatabaseURLError, match=r"sqlite:///PATH .* postgresql://USER"):
        normalize_url(url)


def test_masking_hides_the_password() -> None:
    from ledgers.database import mask_url

    assert "secret" not in mask_url("postgresql://u:secret@h/db")


async def test_pruning_drops_only_old_job_runs(database: Database) -> None:
    store = LedgerStore(database)
    runs = [
        JobRunRecord("store.flush", T0 - timedelta(days=d), T0 - timedelta(days=d), "ok")
        for d in range(10)
    ]
    await store.record_job_runs(runs)
    assert await store.prune_job_runs(T0 - timedelta(days=7)) == 2
    stats = {name: rows for name, rows, _ in await queries.table_stats(database)}
    assert stats["job_runs"] == 8


async def test_a_collected_batch_is_written_whole_and_idempotently(database: Database) -> None:
    from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem, MoodReading

    batch = Collected(
        glass=(GlassMetric("defillama", "aave", "tvl_usd", T0, 1.5e10),),
        human=(
            HumanItem(
                "rss:coindesk",
                "guid-1",
                "Bitcoin rallies",
                "https://x.test/1",
                T0,
                0.6,
                "",
                ("BTC",),
            ),
            HumanItem(
                "cryptopanic",
                "42",
                "ETH dips",
                "https://x.test/2",
                T0,
                -0.3,
                "body",
                ("ETH",),
                {"positive": 3},
            ),
        ),
        mood=(MoodReading("feargreed", T0, 40.0, "Fear"),),
        catalysts=(
            CatalystEvent(
                "sec", "0001-26-1", "filing_8k", "8-K", "https://sec.test/a", T0, 6, ("BTC",)
            ),
        ),
    )
    store = LedgerStore(database)
    assert await store.write_collected(batch) == 5
    assert await store.write_collected(batch) == 5
    stats = {name: rows for name, rows, _ in await queries.table_stats(database)}
    assert (
        stats["glass_metrics"],
        stats["human_items"],
        stats["mood_readings"],
        stats["catalyst_events"],
    ) == (1, 2, 1, 1)
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    schema.HumanItemRow.external_id,
                    schema.HumanItemRow.currencies,
                    schema.HumanItemRow.votes,
                ).order_by(schema.HumanItemRow.external_id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("42", ["ETH"], {"positive": 3}), ("guid-1", ["BTC"], None)]


async def test_a_bad_record_fails_the_whole_batch(database: Database) -> None:
    from asyncpg.exceptions import CheckViolationError
    from sqlalchemy.exc import IntegrityError

    from ledgers.intel import CatalystEvent, Collected, GlassMetric

    batch = Collected(
        glass=(GlassMetric("defillama", "aave", "tvl_usd", T0, 1.0),),
        catalysts=(
            CatalystEvent("sec", "x", "filing_8k", "t", "u", T0, 42),
        ),  # impact out of range
    )
    with pytest.raises((IntegrityError, CheckViolationError), match="impact"):
        await LedgerStore(database).write_collected(batch)
    stats = {name: rows for name, rows, _ in await queries.table_stats(database)}
    assert stats["glass_metrics"] == 0  # nothing partial


async def test_a_commands_inline_database_reads_and_writes_as_the_async_one(db_url: str) -> None:
    inline = Database(db_url, inline=True)
    try:
        assert isinstance(inline.engine, InlineEngine) and inline.sqlite_thread() is None
        await inline.upgrade()  # a new database's schema, by alembic through the inline calls
        assert await inline.current_revision() == head_revision()
        async with inline.engine.begin() as conn:
            await begin_immediate(conn)
            await conn.execute(insert(schema.Ticker.__table__), [asdict(t) for t in _ticks(3)])
        with pytest.raises(RuntimeError):
            async with inline.engine.begin() as conn:  # a failed transaction leaves nothing
                await conn.execute(insert(schema.Ticker.__table__), [asdict(_ticks(4)[-1])])
                raise RuntimeError("stop")
        async with inline.engine.connect() as conn:  # a statement the database refuses
            with pytest.raises(Exception, match="no_such_table"):
                await conn.execute(text("SELECT * FROM no_such_table"))
            await conn.rollback()
            assert await conn.scalar(text("SELECT count(*) FROM tickers")) == 6
        inline_stats = await queries.ledger_stats(inline)
    finally:
        await inline.dispose()
    async_db = Database(db_url)
    try:
        assert await queries.ledger_stats(async_db) == inline_stats
    finally:
        await async_db.dispose()
    tickers = next(s for s in inline_stats if s.table == "tickers")
    assert (tickers.rows, tickers.newest) == (6, T0 + timedelta(seconds=2))


def test_inline_changes_nothing_in_memory() -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(Database("sqlite:///:memory:", inline=True).engine, AsyncEngine)
