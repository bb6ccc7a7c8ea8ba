"""Reads of the large tables series by series, and counts that are estimates when a table is
large and say so: on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledgers import counts, quality, queries, series
from ledgers.database import Database
from ledgers.market import Tick
from ledgers.store import LedgerStore

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MARKETS = [
    ("coinspot", "BTC/AUD"),
    ("coinspot", "ETH/AUD"),
    ("kraken", "BTC/AUD"),
    ("sim", "X/AUD"),
]


async def _ticks(db: Database, n: int, every: timedelta = timedelta(seconds=5)) -> None:
    await LedgerStore(db).upsert_ticks(
        [
            Tick(
                v,
                s,
                NOW - i * every - timedelta(milliseconds=k),
                1.0 + i,
                0.9,
                1.1 if i % 4 else None,
            )
            for k, (v, s) in enumerate(MARKETS)
            for i in range(n)
        ]
    )


async def test_series_are_found_in_key_order(database: Database) -> None:
    await _ticks(database, 3)
    async with database.engine.connect() as conn:
        assert await series.series(conn, "tickers") == sorted(MARKETS)
        assert await series.series(conn, "candles") == []


@pytest.mark.parametrize("arms", [series.ARMS, 1])  # one statement, or one per series merged
async def test_pages_and_streams_merge_the_series_newest_first(
    database: Database, monkeypatch: pytest.MonkeyPatch, arms: int
) -> None:
    await _ticks(database, 20)
    monkeypatch.setattr(series, "ARMS", arms)
    async with database.engine.connect() as conn:
        every = (await conn.exec_driver_sql("SELECT venue, symbol, ts FROM tickers")).all()
    stamps = sorted((r[2] for r in every), reverse=True)
    columns, rows = await queries.browse(database, "tickers", limit=7, offset=3)
    ts = columns.index("ts")
    assert [r[ts] for r in rows] == _aware(stamps)[3:10]
    _, btc = await queries.browse(database, "tickers", search="btc", simulated=False, limit=100)
    assert {(r[0], r[1]) for r in btc} == {("coinspot", "BTC/AUD"), ("kraken", "BTC/AUD")}
    assert len(btc) == 40
    _, none = await queries.browse(database, "tickers", symbol="DOGE/AUD")
    assert none == []
    streamed = [
        r async for r in queries.iter_rows(database, "tickers", since=NOW - timedelta(seconds=30))
    ]
    assert [r[ts] for r in streamed] == sorted((r[ts] for r in streamed), reverse=True)
    assert len(streamed) == 7 + 3 * 6  # the first market's ticks are a millisecond later


def _aware(stamps: list) -> list[datetime]:
    return [
        s if isinstance(s, datetime) else datetime.fromisoformat(s).replace(tzinfo=UTC)
        for s in stamps
    ]


async def test_a_large_table_is_estimated_and_a_small_one_counted(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _ticks(database, 500)
    if database.dialect == "postgresql":
        async with database.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql(
                "ANALYZE tickers"
            )
    monkeypatch.setattr(counts, "EXACT_BELOW", 1000)
    stats = {s.table: s for s in await queries.ledger_stats(database)}
    assert stats["tickers"].estimated and abs(stats["tickers"].rows - 2000) <= 200
    assert stats["tickers"].newest == NOW
    assert not stats["candles"].estimated and stats["candles"].rows == 0
    assert stats["candles"].newest is None
    assert dict((t, n) for t, n, _ in await queries.table_stats(database))["tickers"] > 1000


async def test_quality_judges_a_sample_of_busy_markets_and_says_so(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _ticks(database, 720, every=timedelta(minutes=2))  # a day per market
    monkeypatch.setattr(quality, "TICK_SAMPLE", 200)  # 50 ticks judged per market
    report = await quality.measure(database, NOW, simulated=False)
    by_venue = {s.source: s for s in report.sources if s.ledger == "exchange"}
    coinspot, kraken = by_venue["coinspot"], by_venue["kraken"]
    assert coinspot.estimated and abs(coinspot.rows - 2 * 720) <= 20
    assert coinspot.completeness == pytest.approx(0.75, abs=0.05)
    assert coinspot.accuracy == 1.0 and coinspot.newest == NOW
    assert not kraken.estimated or abs(kraken.rows - 720) <= 10
    monkeypatch.setattr(quality, "TICK_SAMPLE", 100_000)  # every tick judged: counted
    whole = {s.source: s for s in (await quality.measure(database, NOW)).sources}
    assert not whole["coinspot"].estimated and whole["coinspot"].rows == 2 * 720
