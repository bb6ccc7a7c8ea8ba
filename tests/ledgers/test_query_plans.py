"""Every read the desk, the command line, the quality monitor and the Lab's tools make of the
large tables goes through an index, on both databases.

The real functions run against a database filled at the defaults' shape (twelve markets and a
simulated one, a day of ticks at 10 s, books, a week of candles at every timeframe) and
analysed, so the planner chooses as it would on a full one. Every statement they send is
caught on its way to the driver and given to the planner again: SQLite's ``EXPLAIN QUERY
PLAN`` must never ``SCAN`` tickers, order books or candles (a scan, even of an index, walks
every row); PostgreSQL's ``EXPLAIN ANALYZE`` must show no sequential scan of them, no index
scan without an index condition, and no scan that read more than a tenth of the table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from ledgers import counts, quality, queries, retention, series
from ledgers.database import Database
from ledgers.intel import Collected, GlassMetric, MoodReading
from ledgers.market import BookSnapshot, Candle, Tick
from ledgers.store import LedgerStore
from ledgers.timeframes import TIMEFRAMES

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LARGE = ("tickers", "order_book_snapshots", "candles")
SYMBOLS = [f"{c}/AUD" for c in "BTC ETH SOL XRP ADA DOGE DOT LTC LINK AVAX ATOM XLM".split()]
MARKETS = [("coinspot", s) for s in SYMBOLS] + [("sim", "BTC/AUD")]
TICK_EVERY = timedelta(seconds=10)
BOOK_EVERY = timedelta(minutes=1)
CANDLE_DAYS = 7


async def _fill(db: Database) -> None:
    store = LedgerStore(db)
    day = int(timedelta(days=1) / TICK_EVERY)
    for venue, symbol in MARKETS:
        await store.upsert_ticks(
            [
                Tick(venue, symbol, NOW - i * TICK_EVERY, 100.0 + i % 7, 99.0, 101.0, 5.0, 500.0)
                for i in range(day)
            ]
        )
        await store.upsert_books(
            [
                BookSnapshot(venue, symbol, NOW - i * BOOK_EVERY, ((99.0, 1.0),), ((101.0, 1.0),))
                for i in range(int(timedelta(days=1) / BOOK_EVERY))
            ]
        )
        bars = []
        for timeframe, step in TIMEFRAMES.items():
            n = min(int(timedelta(days=CANDLE_DAYS).total_seconds()) // step, 5000)
            start = NOW - timedelta(seconds=step * n)
            bars += [
                Candle(
                    venue, symbol, timeframe, start + timedelta(seconds=step * i), 1, 2, 0.5, 1, 3
                )
                for i in range(n)
            ]
        await store.upsert_candles(bars)
    await store.write_collected(
        Collected(
            glass=tuple(
                GlassMetric("defillama", "aave", "tvl_usd", NOW - timedelta(hours=h), 1e9)
                for h in range(48)
            ),
            mood=(MoodReading("feargreed", NOW - timedelta(hours=2), 50.0, "Neutral"),),
        )
    )
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("ANALYZE"))


async def _drain(rows: Any) -> None:
    async for _ in rows:
        pass


def _calls(db: Database) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every read of the ledgers' query functions that the desk, the command line, the quality
    monitor and the Lab's tools make, with the arguments they make them with."""
    since, until = NOW - timedelta(hours=6), NOW - timedelta(hours=1)
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "ledger stats": lambda: queries.ledger_stats(db),
        "chart candles": lambda: queries.recent_candles(db, "coinspot", "BTC/AUD", "1m", 300),
        "forming bars at start": lambda: queries.newest_candles(db, "coinspot", SYMBOLS),
        "candles of a period": lambda: _drain(
            queries.iter_candles(db, "ETH/AUD", "1h", venue="coinspot", since=since, until=until)
        ),
        "candle export, any venue": lambda: _drain(queries.iter_candles(db, "ETH/AUD", "5m")),
        "where bars are": lambda: queries.candle_venues(db, "ETH/AUD", "1h", since=since),
        "simulated clock's start": lambda: queries.newest_on_market(db, "sim"),
        "mood pane": lambda: queries.newest_mood(db, simulated=False),
        "glass pane": lambda: queries.glass_series(db, ["tvl_usd"], since, simulated=False),
        "quality check": lambda: quality.measure(db, NOW),
        "quality check, real data": lambda: quality.measure(db, NOW, simulated=False),
        "retention": lambda: retention.prune(db, retention.Policy(), NOW),
    }
    for table in LARGE:
        for name, filters in {
            "page": {},
            "second page": {"offset": 200},
            "search": {"search": "eth"},
            "symbol": {"symbol": "sol/aud"},
            "search and symbol": {"search": "btc", "symbol": "BTC/AUD", "simulated": False},
            "nothing matches": {"search": "nothing-like-it"},
        }.items():
            calls[f"explorer {table} {name}"] = lambda t=table, f=filters: queries.browse(
                db, t, **f
            )
        calls[f"export {table} since"] = lambda t=table: _drain(
            queries.iter_rows(db, t, since=since, until=until, symbol="XRP/AUD")
        )
    return calls


class _Caught:
    """Statements sent to the driver, with their parameters as the driver got them."""

    def __init__(self, db: Database) -> None:
        self.statements: list[tuple[str, Any]] = []
        engines = [db.engine.sync_engine]
        thread = db.sqlite_thread()
        if thread is not None:
            engines.append(thread.engine)
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._caught)

    def _caught(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if re.match(r"\s*(SELECT|WITH|DELETE)\b", statement, re.I):
            self.statements.append((statement, params))

    def take(self) -> list[tuple[str, Any]]:
        taken, self.statements = self.statements, []
        return taken


async def _sqlite_plan(db: Database, statement: str, params: Any) -> list[str]:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        cursor = await raw.driver_connection.execute(f"EXPLAIN QUERY PLAN {statement}", params)
        return [str(r[3]) for r in await cursor.fetchall()]


def _sqlite_faults(plan: list[str]) -> list[str]:
    large = "|".join(LARGE)
    return [line for line in plan if re.match(rf"SCAN ({large})\b", line)]


async def _pg_plan(db: Database, statement: str, params: Any) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        pg = raw.driver_connection
        tx = pg.transaction()
        await tx.start()
        try:  # ANALYZE runs the statement: a delete is rolled back
            found = await pg.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *(params or ())
            )
        finally:
            await tx.rollback()
    plans = json.loads(found) if isinstance(found, str) else found
    return plans[0]["Plan"]


def _pg_faults(plan: dict[str, Any], sizes: dict[str, int]) -> list[str]:
    faults = []
    relation = plan.get("Relation Name")
    if relation in LARGE:
        kind = plan["Node Type"]
        read = plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1)
        read += plan.get("Rows Removed by Filter", 0) + plan.get("Rows Removed by Index Recheck", 0)
        if kind == "Seq Scan":
            faults.append(f"Seq Scan on {relation}")
        elif kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in plan:
            faults.append(f"{kind} of all of {relation} ({plan.get('Index Name')})")
        elif read > sizes[relation] / 10:
            faults.append(f"{kind} on {relation} read {read:,} of {sizes[relation]:,} rows")
    for child in plan.get("Plans", ()):
        faults += _pg_faults(child, sizes)
    return faults


@pytest.fixture
async def filled(database: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    await _fill(database)
    # A day of ticks here is a large table to the row counts, as a month is at the defaults.
    monkeypatch.setattr(counts, "EXACT_BELOW", 1000)
    return database


async def test_no_read_scans_a_large_table(filled: Database) -> None:
    db = filled
    async with db.engine.connect() as conn:
        sizes = {
            t: int((await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar() or 0)
            for t in LARGE
        }
    assert all(n > 10_000 for n in sizes.values()), sizes
    caught = _Caught(db)
    faults: list[str] = []
    for name, call in _calls(db).items():
        await call()
        statements = caught.take()
        # A filter no series matches reads nothing (finding the series, on SQLite, runs in
        # the driver's thread: planned in the test below).
        assert statements or "nothing matches" in name, f"{name}: no statement caught"
        for statement, params in statements:
            if db.dialect == "sqlite":
                plan = await _sqlite_plan(db, statement, params)
                bad = _sqlite_faults(plan)
            else:
                node = await _pg_plan(db, statement, params)
                bad, plan = _pg_faults(node, sizes), [json.dumps(node)[:2000]]
            if bad:
                faults.append(f"{name}: {'; '.join(bad)}\n  {statement}\n  " + "\n  ".join(plan))
    assert not faults, "\n\n".join(faults)


async def test_ledger_stats_seeks_before_the_planner_has_statistics(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table just filled, never analysed: the newest bar of each series is still one row
    read, where max(ts) would be planned as an aggregate over all of the series' rows."""
    bars = [
        Candle("coinspot", symbol, "1m", NOW - timedelta(minutes=i), 1, 2, 0.5, 1, 3)
        for symbol in SYMBOLS[:3]
        for i in range(3000)
    ]
    await LedgerStore(database).upsert_candles(bars)
    monkeypatch.setattr(counts, "EXACT_BELOW", 1000)  # candles are a large table here
    caught = _Caught(database)
    stats = {s.table: s for s in await queries.ledger_stats(database)}
    assert stats["candles"].newest == NOW
    read: list[tuple[str, str]] = []
    for statement, params in caught.take():
        if "count(*)" in statement:
            continue  # tables the database cannot yet estimate are counted: not this test's
        if database.dialect == "sqlite":
            read += [
                (statement, line)
                for line in _sqlite_faults(await _sqlite_plan(database, statement, params))
            ]
            continue
        for node in _nodes(await _pg_plan(database, statement, params)):
            if node.get("Relation Name") in LARGE and node.get("Actual Rows", 0) > 1:
                read.append((statement, f"{node['Node Type']}: {node['Actual Rows']} rows a loop"))
    assert read == []


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan] + [n for child in plan.get("Plans", ()) for n in _nodes(child)]


async def test_the_check_would_see_a_scan(filled: Database) -> None:
    """The test above can fail: a count of ticks row by row is caught."""
    caught = _Caught(filled)
    async with filled.engine.connect() as conn:
        await conn.execute(text("SELECT count(*) FROM tickers WHERE last > 0"))
    ((statement, params),) = caught.take()
    if filled.dialect == "sqlite":
        assert _sqlite_faults(await _sqlite_plan(filled, statement, params))
    else:
        node = await _pg_plan(filled, statement, params)
        assert _pg_faults(node, {t: 1 for t in LARGE})


async def test_the_walk_that_finds_series_seeks_along_the_primary_key(filled: Database) -> None:
    """Finding a large table's series: on SQLite its seeks run in the driver's thread, past
    the statements caught above, so each is planned here; on PostgreSQL it is one statement,
    caught and planned above, and checked here to be one."""
    for name in LARGE:
        caught = _Caught(filled)
        async with filled.engine.connect() as conn:
            found = await series.series(conn, name)
        assert found and found == sorted(found)
        if filled.dialect != "sqlite":
            assert len(caught.take()) == 1
            continue
        first, steps = series.seek_statements(name)
        plans = [await _sqlite_plan(filled, first, ())]
        plans += [
            await _sqlite_plan(filled, step, found[0][: i + 1]) for i, step in enumerate(steps)
        ]
        assert all(any(line.startswith("SEARCH") for line in plan) for plan in plans), plans
        assert [line for plan in plans for line in _sqlite_faults(plan)] == []
