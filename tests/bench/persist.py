"""Ticks persisted per second against raw driver baselines measured in the same run.

SQLite: ``LedgerStore.upsert_ticks`` vs a raw ``sqlite3.executemany`` of the same upsert
(target ≥ 0.7×). PostgreSQL (when ``OMC_TEST_PG_URL`` is set): vs raw asyncpg ``COPY`` into a
temp table then merge (target ≥ 0.7×).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledgers.database import Database
from ledgers.market import Tick
from ledgers.store import TICKERS, LedgerStore, _for_sqlite, tick_row

SYMBOLS = 200
STEPS = 1000  # 200,000 ticks a round
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ticks(offset: int) -> list[Tick]:
    return [
        Tick(
            "sim",
            f"S{i:03d}/AUD",
            T0 + timedelta(seconds=offset + k),
            100.0 + k,
            99.9 + k,
            100.1 + k,
            5.0,
            500.0,
            0.1,
        )
        for k in range(STEPS)
        for i in range(SYMBOLS)
    ]


async def sqlite_figures() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        db = Database(f"sqlite:///{path}")
        await db.upgrade()
        store = LedgerStore(db)
        ours, raw = [], []
        for rnd in range(3):
            batch = ticks(rnd * 2 * STEPS)
            t = time.perf_counter()
            await store.upsert_ticks(batch)
            ours.append(len(batch) / (time.perf_counter() - t))
            rows = _for_sqlite(TICKERS, [tick_row(x) for x in ticks(rnd * 2 * STEPS + STEPS)])
            con = sqlite3.connect(path)
            con.execute("PRAGMA synchronous=NORMAL")
            t = time.perf_counter()
            con.executemany(TICKERS.sqlite_upsert(), rows)
            con.commit()
            raw.append(len(rows) / (time.perf_counter() - t))
            con.close()
        await db.dispose()
    best_ours, best_raw = max(ours), max(raw)
    return {
        "figure": "sqlite_ticks_per_s",
        "ours": round(best_ours),
        "raw_executemany": round(best_raw),
        "ratio": round(best_ours / best_raw, 3),
        "target_ratio": 0.7,
    }


async def pg_figures(url: str) -> dict[str, object]:
    import asyncpg

    db = Database(url)
    await db.upgrade()
    store = LedgerStore(db)
    raw_url = db.url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(raw_url)
    ours, raw = [], []
    try:
        for rnd in range(3):
            await conn.execute("TRUNCATE tickers")
            batch = ticks(rnd * 2 * STEPS)
            t = time.perf_counter()
            await store.upsert_ticks(batch)
            ours.append(len(batch) / (time.perf_counter() - t))
            await conn.execute("TRUNCATE tickers")
            rows = [tick_row(x) for x in ticks(rnd * 2 * STEPS + STEPS)]
            t = time.perf_counter()
            async with conn.transaction():
                await conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS bench_stage (LIKE tickers INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                await conn.copy_records_to_table(
                    "bench_stage", records=rows, columns=list(TICKERS.columns)
                )
                await conn.execute(TICKERS.pg_merge("bench_stage"))
            raw.append(len(rows) / (time.perf_counter() - t))
        await conn.execute("TRUNCATE tickers")
    finally:
        await conn.close()
        await db.dispose()
    best_ours, best_raw = max(ours), max(raw)
    return {
        "figure": "postgres_ticks_per_s",
        "ours": round(best_ours),
        "raw_copy_merge": round(best_raw),
        "ratio": round(best_ours / best_raw, 3),
        "target_ratio": 0.7,
    }


def run() -> list[dict[str, object]]:
    out = [asyncio.run(sqlite_figures())]
    url = os.environ.get("OMC_TEST_PG_URL")
    if url:
        out.append(asyncio.run(pg_figures(url)))
    else:
        out.append({"figure": "postgres_ticks_per_s", "skipped": "set OMC_TEST_PG_URL"})
    return out
