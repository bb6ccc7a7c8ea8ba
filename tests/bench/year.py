"""A year of data at the defaults, against an empty database, in the same run.

What a year at the defaults leaves after the default retention is generated in bulk with the
real schema: twelve markets of the simulated venue, a ticker every 5 s for the last 30 days,
an order book every 10 s for the last 7, a year of candles at every stored timeframe, a year of
the intelligence ledgers, and a book's equity marks thinned as retention thins them. Then:

- the engine's reads, p99 of ``RUNS`` each (target ≤ 50 ms): chart candles (300 bars, every
  timeframe), an explorer page with search and symbol filter, the quality check, ledger stats;
- the database's size, and what it would be without retention (its ticks and books scaled to
  a year: an estimate);
- ``omc positions --json`` and ``omc ledger stats --json`` wall time with no owner running;
- the desk's first paint (target ≤ 1.1× the empty database's).

SQLite always; PostgreSQL too when OMC_TEST_PG_URL is set (a database made and dropped here).
Run: ``.venv/bin/python -m tests.bench year``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.config import DEFAULT_WATCHLIST
from ledgers import quality, queries
from ledgers.database import Database
from ledgers.sizes import database_bytes, table_sizes
from ledgers.timeframes import TIMEFRAMES
from ledgers.types import SQLITE_TS_FORMAT

RUNS = 200
TARGET_MS = 50.0
PAINT_RATIO = 1.1
VENUE = "sim"
TICK_EVERY, BOOK_EVERY, MARK_EVERY = 5, 10, 60  # seconds, the defaults
TICK_DAYS, BOOK_DAYS, YEAR = 30, 7, 365  # retention's defaults, and a year
BOOK = "paper:sim"


def _stamps(start: datetime, end: datetime, step: int) -> Iterator[datetime]:
    t = start
    while t < end:
        yield t
        t += timedelta(seconds=step)


def _rows(now: datetime) -> dict[str, Callable[[], Iterator[tuple[Any, ...]]]]:
    """Each table's rows, made as they are written: (column, …) in the store's order."""
    rng = random.Random(12)
    symbols = list(DEFAULT_WATCHLIST)
    start = now - timedelta(days=YEAR)

    def tickers() -> Iterator[tuple[Any, ...]]:
        for ts in _stamps(now - timedelta(days=TICK_DAYS), now, TICK_EVERY):
            for s in symbols:
                p = 100 + rng.random()
                yield (VENUE, s, ts, p, p - 0.05, p + 0.05, 1000.0, 1e5, 1.5)

    def books() -> Iterator[tuple[Any, ...]]:
        levels = [[100 - i * 0.1, 1.0 + i] for i in range(10)]
        asks = [[100 + i * 0.1, 1.0 + i] for i in range(10)]
        for ts in _stamps(now - timedelta(days=BOOK_DAYS), now, BOOK_EVERY):
            for s in symbols:
                yield (VENUE, s, ts, levels, asks)

    def candles() -> Iterator[tuple[Any, ...]]:
        for timeframe, step in TIMEFRAMES.items():
            first = datetime.fromtimestamp(int(start.timestamp()) // step * step, tz=UTC)
            for ts in _stamps(first, now, step):
                for s in symbols:
                    yield (VENUE, s, timeframe, ts, 100.0, 101.0, 99.0, 100.5, 10.0)

    def glass() -> Iterator[tuple[Any, ...]]:
        series = [
            (e, m)
            for e in ("aave", "uniswap", "lido", "ethereum")
            for m in ("tvl_usd", "fees_24h_usd")
        ]
        for ts in _stamps(start, now, 3600):
            for entity, metric in series:
                yield ("sim", entity, metric, ts, 1e9 * (1 + rng.random() / 100))

    def human() -> Iterator[tuple[Any, ...]]:
        for i, ts in enumerate(_stamps(start, now, 600)):  # an item every ten minutes
            coin = symbols[i % len(symbols)].split("/")[0]
            yield (
                "sim:news",
                f"n{i}",
                f"{coin} moves",
                f"https://sim/{i}",
                ts,
                0.2,
                "",
                [coin],
                None,
            )

    def mood() -> Iterator[tuple[Any, ...]]:
        for ts in _stamps(start, now, 86400):
            yield ("sim", ts, 50.0, "Neutral")

    def catalysts() -> Iterator[tuple[Any, ...]]:
        for i, ts in enumerate(_stamps(start, now, 86400 // 4)):
            coin = symbols[i % len(symbols)].split("/")[0]
            yield ("sim", f"c{i}", "listing", f"{coin} listed", f"https://sim/c{i}", ts, 5, [coin])

    def marks() -> Iterator[tuple[Any, ...]]:
        money = Decimal("10000.00")
        hourly, daily = now - timedelta(days=30), now - timedelta(days=365)
        for ts in _stamps(start, now, MARK_EVERY):
            if ts < daily and (ts.hour, ts.minute) != (23, 59):
                continue
            if ts < hourly and ts.minute != 59:
                continue
            yield (BOOK, ts, "paper", "AUD", money, money, Decimal(0), Decimal(0), Decimal(0))

    return {
        "tickers": tickers,
        "order_book_snapshots": books,
        "candles": candles,
        "glass_metrics": glass,
        "human_items": human,
        "mood_readings": mood,
        "catalyst_events": catalysts,
        "equity_marks": marks,
    }


_COLUMNS = {
    "tickers": "venue symbol ts last bid ask base_volume quote_volume change_pct",
    "order_book_snapshots": "venue symbol ts bids asks",
    "candles": "venue symbol timeframe ts open high low close volume",
    "glass_metrics": "source entity metric ts value",
    "human_items": "source external_id title url published score body currencies votes",
    "mood_readings": "source ts value label",
    "catalyst_events": "source external_id type title url occurred impact currencies",
    "equity_marks": "book ts mode quote equity cash market_value unrealized realized",
}


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime(SQLITE_TS_FORMAT)
    if isinstance(v, list):
        return json.dumps(v)
    if isinstance(v, Decimal):
        return str(v)
    return v


def _generate_sqlite(path: Path, now: datetime) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    written: dict[str, int] = {}
    for table, rows in _rows(now).items():
        cols = _COLUMNS[table].split()
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        n = 0
        batch: list[tuple[Any, ...]] = []
        for row in rows():
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) >= 50_000:
                conn.executemany(sql, batch)
                n += len(batch)
                batch.clear()
        conn.executemany(sql, batch)
        written[table] = n + len(batch)
        conn.commit()
    conn.executescript("PRAGMA analysis_limit = 1000; ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")
    conn.close()
    return written


async def _generate_pg(url: str, now: datetime) -> dict[str, int]:
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    written: dict[str, int] = {}
    try:
        for table, rows in _rows(now).items():
            cols = _COLUMNS[table].split()
            json_cols = {
                i for i, c in enumerate(cols) if c in ("bids", "asks", "currencies", "votes")
            }
            n = 0
            batch: list[tuple[Any, ...]] = []
            for row in rows():
                batch.append(
                    tuple(
                        json.dumps(v) if i in json_cols and v is not None else v
                        for i, v in enumerate(row)
                    )
                )
                if len(batch) >= 50_000:
                    await conn.copy_records_to_table(table, records=batch, columns=cols)
                    n += len(batch)
                    batch = []
            if batch:
                await conn.copy_records_to_table(table, records=batch, columns=cols)
            written[table] = n + len(batch)
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    return written


async def _p99(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    await call()  # warm
    took = []
    for _ in range(RUNS):
        start = time.perf_counter()
        await call()
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.99) - 1]


async def _reads(url: str, now: datetime) -> dict[str, tuple[float, float]]:
    db = Database(url)
    await db.upgrade()
    # As in the engine once started (``LocalEngine._open_lab``): what is loaded by then lives
    # as long as the process, and no collection walks it. Without it a full collection, set
    # off by the rows a page decodes, walks every object of SQLAlchemy and the rest: 50-90 ms
    # that only this bench's process would pay.
    gc.freeze()
    try:
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            f"chart_candles_{tf}": (
                lambda tf=tf: queries.recent_candles(db, VENUE, "BTC/AUD", tf, 300)
            )
            for tf in TIMEFRAMES
        }
        for table in ("tickers", "order_book_snapshots", "candles"):
            calls[f"explorer_{table}_search_symbol"] = lambda t=table: queries.browse(
                db, t, search="btc", symbol="BTC/AUD", limit=200
            )
        calls["explorer_human_items_search_symbol"] = lambda: queries.browse(
            db, "human_items", search="moves", symbol="ETH/AUD", limit=200
        )
        calls["quality_check"] = lambda: quality.measure(db, now, simulated=True)
        calls["ledger_stats"] = lambda: queries.ledger_stats(db)
        return {name: await _p99(call) for name, call in calls.items()}
    finally:
        gc.unfreeze()
        await db.dispose()


async def _sizes(url: str) -> tuple[int, int]:
    """Bytes now, and an estimate without retention: ticks and books scaled to a year."""
    db = Database(url)
    try:
        total = await database_bytes(db)
        tables = {t.name: t.bytes for t in await table_sizes(db)}
    finally:
        await db.dispose()
    extra = tables.get("tickers", 0) * (YEAR / TICK_DAYS - 1)
    extra += tables.get("order_book_snapshots", 0) * (YEAR / BOOK_DAYS - 1)
    return total, int(total + extra)


async def _upgraded(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


def _walls(env: dict[str, str], urls: dict[str, str], repeats: int = 7) -> dict[str, Any]:
    """Median wall time of each command on each database, the runs interleaved after a
    warm-up round (as ``cli_speed`` times them)."""
    from tests.bench.cli_speed import _omc

    commands = {
        "positions_json": ["positions", "--json"],
        "ledger_stats_json": ["ledger", "stats", "--json"],
    }
    took: dict[tuple[str, str], list[float]] = {
        (label, name): [] for label in urls for name in commands
    }
    for i in range(repeats + 1):
        for (label, name), times in took.items():
            seconds = _omc(env, "--db", urls[label], *commands[name])
            if i:
                times.append(seconds)
    return {
        label: {name: statistics.median(took[label, name]) for name in commands} for label in urls
    }


def _paints(env: dict[str, str], urls: dict[str, str], repeats: int = 7) -> dict[str, float]:
    """Median first paint on each database, interleaved so a busy machine slows each alike,
    after a round that warms the caches and saves each database's first frame."""
    from tests.bench.first_paint import _paint
    from tests.terminal import omc_command

    took: dict[str, list[float]] = {label: [] for label in urls}
    for i in range(repeats + 1):
        for label, url in urls.items():
            seconds = _paint(omc_command("--sim", "--db", url), env)
            if i:
                took[label].append(seconds)
    return {label: statistics.median(times) for label, times in took.items()}


def _backend(
    name: str, year: str, empty: str, tmp: Path, make: Callable[[], dict[str, int]]
) -> list[dict[str, object]]:
    from tests.bench.cli_speed import _env

    now = datetime.now(UTC).replace(microsecond=0)
    asyncio.run(_upgraded(year))
    asyncio.run(_upgraded(empty))
    start = time.perf_counter()
    written = make()
    os.sync()  # gigabytes written back while the timings run would slow whichever ran then
    figures: list[dict[str, object]] = [
        {
            "figure": f"{name}_generate_s",
            "value": round(time.perf_counter() - start, 1),
            "rows": written,
        }
    ]
    for label, url in (("year", year), ("empty", empty)):
        for read, (p50, p99) in asyncio.run(_reads(url, now)).items():
            figures.append(
                {
                    "figure": f"{name}_{label}_{read}_ms",
                    "p50": round(p50, 2),
                    "p99": round(p99, 2),
                    "runs": RUNS,
                    "target": TARGET_MS,
                }
            )
    size, unpruned = asyncio.run(_sizes(year))
    figures.append({"figure": f"{name}_year_db_bytes", "value": size, "mb": round(size / 2**20)})
    figures.append(
        {
            "figure": f"{name}_year_without_retention_bytes_estimate",
            "value": unpruned,
            "mb": round(unpruned / 2**20),
        }
    )
    env = _env(tmp)
    cli = _walls(env, {"year": year, "empty": empty})
    for command in cli["year"]:
        figures.append(
            {
                "figure": f"{name}_{command}_no_owner_s",
                "year": round(cli["year"][command], 3),
                "empty": round(cli["empty"][command], 3),
                "target": 0.4,
            }
        )
    paints = _paints(env, {"year": year, "empty": empty})
    figures.append(
        {
            "figure": f"{name}_first_paint_ratio_year_to_empty",
            "value": round(paints["year"] / paints["empty"], 2),
            "year_s": round(paints["year"], 3),
            "empty_s": round(paints["empty"], 3),
            "target": PAINT_RATIO,
        }
    )
    return figures


def run() -> list[dict[str, object]]:
    figures: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        year, empty = tmp / "year.db", tmp / "empty.db"
        figures += _backend(
            "sqlite",
            f"sqlite:///{year}",
            f"sqlite:///{empty}",
            tmp,
            lambda: _generate_sqlite(year, datetime.now(UTC).replace(microsecond=0)),
        )
        base = os.environ.get("OMC_TEST_PG_URL")
        if base:
            figures += _pg(base, tmp)
    return figures


def _pg(base: str, tmp: Path) -> list[dict[str, object]]:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    names = [f"omc_bench_{label}_{uuid.uuid4().hex[:8]}" for label in ("year", "empty")]

    async def admin_run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    urls = [url.set(drivername="postgresql", database=n).render_as_string(False) for n in names]
    for n in names:
        asyncio.run(admin_run(f'CREATE DATABASE "{n}"'))
    try:
        return _backend(
            "postgresql",
            urls[0],
            urls[1],
            tmp,
            lambda: asyncio.run(_generate_pg(urls[0], datetime.now(UTC).replace(microsecond=0))),
        )
    finally:
        for n in names:
            asyncio.run(admin_run(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))


if __name__ == "__main__":
    for figure in run():
        print(json.dumps({"bench": "year", **figure}), flush=True)
