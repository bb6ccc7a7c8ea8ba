"""PostgreSQL: how to lay out tickers for a year at the defaults — the primary key alone, a BRIN
index on time beside it, or monthly partitions on time (retention drops a month) — measured on
the table retention keeps (31 days of twelve markets at 5 s, 6.4 million ticks) in three
databases made and dropped here. Needs OMC_TEST_PG_URL.

Figures per layout: bulk load, the write-behind's batch (12 ticks through the store's COPY and
merge), the hot reads through the real functions (an explorer page of a symbol, the quality
check, ledger stats, a day's export across markets, a day counted by time alone), the table's
and its indexes' size, and the cost of ageing out a day (retention's batched delete) or a
month (dropping a partition).
Run: ``.venv/bin/python -m tests.bench tickers_layout``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ledgers import quality, queries, retention
from ledgers.database import Database
from ledgers.market import Tick
from ledgers.schema import Ticker
from ledgers.store import LedgerStore

DAYS = 31
MARKETS = 12
EVERY = 5  # seconds
NOW = datetime(2027, 3, 1, tzinfo=UTC)
START = NOW - timedelta(days=DAYS)

_FILL = f"""
INSERT INTO tickers (venue, symbol, ts, last, bid, ask, base_volume, quote_volume, change_pct)
SELECT 'sim', 'C' || m || '/AUD', ts, 100 + random(), 99.9, 100.1, 1000, 100000, 1.5
FROM generate_series(1, {MARKETS}) AS m,
     generate_series(timestamptz '{START.isoformat()}', timestamptz '{NOW.isoformat()}'
                     - interval '{EVERY} seconds', interval '{EVERY} seconds') AS ts
ORDER BY ts, m
"""


def _partitioned() -> list[str]:
    """Tickers as a table partitioned by month, a partition for each month the data spans."""
    sql = [
        "DROP TABLE tickers",
        "CREATE TABLE tickers (venue varchar(32) NOT NULL, symbol varchar(40) NOT NULL,"
        " ts timestamptz NOT NULL, last float NOT NULL, bid float, ask float,"
        " base_volume float, quote_volume float, change_pct float,"
        " CONSTRAINT pk_tickers PRIMARY KEY (venue, symbol, ts)) PARTITION BY RANGE (ts)",
    ]
    month = START.replace(day=1, hour=0, minute=0, second=0)
    while month < NOW + timedelta(days=31):
        following = (month + timedelta(days=32)).replace(day=1)
        sql.append(
            f"CREATE TABLE tickers_{month:%Y%m} PARTITION OF tickers"
            f" FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"
        )
        month = following
    return sql


LAYOUTS: dict[str, list[str]] = {
    "primary_key": [],
    "brin_on_ts": ["CREATE INDEX ix_tickers_ts ON tickers USING brin (ts)"],
    "monthly_partitions": _partitioned(),
}


async def _median_ms(call: Callable[[], Awaitable[Any]], runs: int = 20) -> float:
    await call()
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        took.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(took), 2)


async def _count_window(db: Database, since: datetime, until: datetime) -> int:
    """A read by time alone, across markets (an operator's query, a tool's window): what the
    series walk of the hot paths never needs, and what a time index is for."""
    ts = Ticker.__table__.c.ts
    query = select(func.count()).where(ts >= since, ts < until)
    async with db.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _drain(rows: Any) -> int:
    return sum([1 async for _ in rows])


async def _layout(url: str, name: str) -> dict[str, object]:
    db = Database(url)
    await db.upgrade()
    out: dict[str, object] = {"figure": f"tickers_layout_{name}"}
    try:
        async with db.engine.connect() as conn:
            ac = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for sql in LAYOUTS[name]:
                await ac.exec_driver_sql(sql)
            start = time.perf_counter()
            await ac.exec_driver_sql(_FILL)
            out["load_s"] = round(time.perf_counter() - start, 1)
            await ac.exec_driver_sql("VACUUM (ANALYZE) tickers")
        store = LedgerStore(db)
        batches = []
        for i in range(200):
            ticks = [
                Tick("sim", f"C{m}/AUD", NOW + timedelta(seconds=EVERY * i), 100.0, 99.9, 100.1)
                for m in range(1, MARKETS + 1)
            ]
            start = time.perf_counter()
            await store.upsert_ticks(ticks)
            batches.append((time.perf_counter() - start) * 1000)
        out["write_batch_ms_median"] = round(statistics.median(batches), 2)
        now = NOW + timedelta(seconds=EVERY * 200)
        day = (now - timedelta(days=2), now - timedelta(days=1))
        out["explorer_symbol_page_ms"] = await _median_ms(
            lambda: queries.browse(db, "tickers", symbol="C3/AUD", limit=200)
        )
        out["quality_check_ms"] = await _median_ms(lambda: quality.measure(db, now))
        out["ledger_stats_ms"] = await _median_ms(lambda: queries.ledger_stats(db))
        out["day_count_by_time_alone_ms"] = await _median_ms(
            lambda: _count_window(db, *day), runs=5
        )
        out["day_export_all_markets_ms"] = await _median_ms(
            lambda: _drain(queries.iter_rows(db, "tickers", since=day[0], until=day[1])), runs=3
        )
        async with db.engine.connect() as conn:
            sizes = (
                await conn.exec_driver_sql(
                    "SELECT coalesce(sum(pg_table_size(c.oid)), 0),"
                    " coalesce(sum(pg_indexes_size(c.oid)), 0) FROM pg_class c"
                    " WHERE c.relname LIKE 'tickers%' AND c.relkind = 'r'"
                )
            ).one()
            brin = (
                await conn.exec_driver_sql(
                    "SELECT coalesce(sum(pg_relation_size(oid)), 0) FROM pg_class"
                    " WHERE relname = 'ix_tickers_ts'"
                )
            ).scalar()
        # The sums come back as numeric (Decimal): plain numbers for the JSON line.
        out["table_mb"] = round(int(sizes[0]) / 2**20, 1)
        out["indexes_mb"] = round(int(sizes[1]) / 2**20, 1)
        out["brin_kb"] = round(int(brin or 0) / 1024, 1)
        if name == "monthly_partitions":
            oldest = START.replace(day=1)
            async with db.engine.connect() as conn:
                ac = await conn.execution_options(isolation_level="AUTOCOMMIT")
                start = time.perf_counter()
                await ac.exec_driver_sql(f"DROP TABLE tickers_{oldest:%Y%m}")
                out["prune_drop_month_partition_s"] = round(time.perf_counter() - start, 3)
        else:
            start = time.perf_counter()
            gone = await retention.prune_market_table(
                db, Ticker.__table__, START + timedelta(days=1), retention.BATCH
            )
            out["prune_one_day_s"] = round(time.perf_counter() - start, 2)
            out["prune_one_day_rows"] = gone
    finally:
        await db.dispose()
    return out


def run() -> list[dict[str, object]]:
    import asyncpg
    from sqlalchemy.engine import make_url

    base = os.environ.get("OMC_TEST_PG_URL")
    if not base:
        return [{"figure": "tickers_layout", "skipped": "OMC_TEST_PG_URL is not set"}]
    url = make_url(base)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin_run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    figures = []
    for name in LAYOUTS:
        db_name = f"omc_bench_layout_{uuid.uuid4().hex[:8]}"
        asyncio.run(admin_run(f'CREATE DATABASE "{db_name}"'))
        try:
            target = url.set(drivername="postgresql+asyncpg", database=db_name)
            figures.append(asyncio.run(_layout(target.render_as_string(False), name)))
        finally:
            asyncio.run(admin_run(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    return figures
