"""Retention: ticks and order books age out market by market, equity marks thin to an hour
and then a day, candles and everything else stay, and a SQLite file gets its space back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, insert, select

from ledgers import retention
from ledgers.database import Database
from ledgers.schema import Candle, EquityMarkRow, OrderBookSnapshot, Ticker

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def tick(symbol: str, ts: datetime, venue: str = "coinspot") -> dict:
    return {"venue": venue, "symbol": symbol, "ts": ts, "last": 1.0, "bid": 0.9, "ask": 1.1}


def mark(ts: datetime, book: str = "paper:sim") -> dict:
    one = Decimal("1")
    return {
        "book": book, "ts": ts, "mode": "paper", "quote": "AUD", "equity": one, "cash": one,
        "market_value": one, "unrealized": one, "realized": one,
    }  # fmt: skip


async def count(db: Database, table, *where) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar()


async def test_ticks_and_books_age_out_and_candles_stay(database: Database) -> None:
    db = database
    ticks = [
        tick(symbol, NOW - timedelta(days=days, minutes=m), venue)
        for venue in ("coinspot", "kraken")
        for symbol in ("BTC/AUD", "ETH/AUD", "SOL/AUD")
        for days in (0, 10, 29, 31, 45)
        for m in range(7)
    ]
    books = [
        {
            "venue": "coinspot",
            "symbol": "BTC/AUD",
            "ts": NOW - timedelta(days=d),
            "bids": [],
            "asks": [],
        }
        for d in (1, 6, 8, 20)
    ]
    candle = {
        "venue": "coinspot", "symbol": "BTC/AUD", "timeframe": "1h", "ts": NOW - timedelta(days=400),
        "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0,
    }  # fmt: skip
    async with db.engine.begin() as conn:
        await conn.execute(insert(Ticker.__table__), ticks)
        await conn.execute(insert(OrderBookSnapshot.__table__), books)
        await conn.execute(insert(Candle.__table__), [candle])

    pruned = await retention.prune(db, retention.Policy(batch=5), NOW)  # batches of five
    old = 2 * 3 * 2 * 7  # two venues, three symbols, 31 and 45 days, seven ticks each
    assert pruned.tickers == old and pruned.books == 2
    assert await count(db, Ticker.__table__) == len(ticks) - old
    assert await count(db, Ticker.__table__, Ticker.ts < NOW - timedelta(days=30)) == 0
    assert await count(db, OrderBookSnapshot.__table__) == 2
    assert await count(db, Candle.__table__) == 1  # candles are the record: kept for ever

    again = await retention.prune(db, retention.Policy(), NOW)
    assert again.rows == 0  # nothing more to do
    kept = await retention.prune(db, retention.Policy(tickers_days=None, books_days=None), NOW)
    assert kept.rows == 0


async def test_equity_marks_thin_to_the_last_of_each_hour_then_of_each_day(
    database: Database,
) -> None:
    db = database
    marks = [
        mark(NOW - timedelta(days=days, minutes=15 * q))
        for days in (1, 40, 41, 400)
        for q in range(8)  # two hours of quarter-hour marks each day
    ] + [mark(NOW - timedelta(days=40, minutes=15 * q), book="paper:live") for q in range(4)]
    async with db.engine.begin() as conn:
        await conn.execute(insert(EquityMarkRow.__table__), marks)
    policy = retention.Policy(equity_hourly_after_days=30, equity_daily_after_days=365, batch=3)

    pruned = await retention.prune(db, policy, NOW)

    async def stamps(book: str = "paper:sim") -> list[datetime]:
        c = EquityMarkRow.__table__.c
        async with db.engine.connect() as conn:
            query = select(c.ts).where(c.book == book).order_by(c.ts)
            return list((await conn.execute(query)).scalars())

    kept = await stamps()
    recent = [t for t in kept if t > NOW - timedelta(days=30)]
    assert len(recent) == 8  # a day old: every mark
    for days in (40, 41):  # a month old: the last of each hour
        day = [
            t for t in kept if (NOW - t).days in (days, days - 1) and t < NOW - timedelta(days=30)
        ]
        assert day, days
    month = [t for t in kept if NOW - timedelta(days=365) < t < NOW - timedelta(days=30)]
    assert len(month) == 2 * 3  # two days, each spanning three clock hours
    assert all(
        t == max(u for u in month if u.replace(minute=0) == t.replace(minute=0)) for t in month
    )
    year = [t for t in kept if t < NOW - timedelta(days=365)]
    assert year == [NOW - timedelta(days=400)]  # a year old: the last of its day
    assert len(await stamps("paper:live")) == 2  # each book on its own
    assert pruned.equity_marks == len(marks) - len(kept) - 2
    assert (await retention.prune(db, policy, NOW)).rows == 0


async def test_a_new_sqlite_file_hands_pruned_space_back(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'omc.db'}")
    await db.upgrade()
    try:
        old = NOW - timedelta(days=60)
        rows = [
            tick(f"C{i}/AUD", old + timedelta(seconds=s)) for i in range(5) for s in range(4000)
        ]
        async with db.engine.begin() as conn:
            await conn.execute(insert(Ticker.__table__), rows)
        size = (tmp_path / "omc.db").stat().st_size + (tmp_path / "omc.db-wal").stat().st_size
        pruned = await retention.prune(db, retention.Policy(), NOW)
        assert pruned.tickers == len(rows) and pruned.pages_freed > 50
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar() == 2
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar()
            page = (await conn.exec_driver_sql("PRAGMA page_size")).scalar()
        assert pages * page < size / 2
    finally:
        await db.dispose()


async def test_the_engines_prune_job_applies_the_configured_retention(db_url: str) -> None:
    """``store.prune`` (hourly by default) ages out what ``[retention]`` says and no more."""
    import asyncio

    from engine import config
    from engine.local import LocalEngine
    from ledgers.clock import ManualClock

    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    s.sources.enabled = False
    s.retention.tickers_days = 3
    engine = LocalEngine(s, clock=ManualClock(NOW), schedule=False)
    await engine.start()
    await engine.wait_ready()
    try:
        assert engine.db is not None
        async with engine.db.engine.begin() as conn:
            await conn.execute(
                insert(Ticker.__table__),
                [tick("BTC/AUD", NOW - timedelta(days=d)) for d in (2, 4, 5)],
            )
        await engine.jobs.run("store.prune")
        await asyncio.sleep(0)
        c = Ticker.__table__.c
        assert await count(engine.db, Ticker.__table__, c.ts < NOW - timedelta(days=3)) == 0
        assert await count(engine.db, Ticker.__table__, c.ts == NOW - timedelta(days=2)) == 1
    finally:
        await engine.stop()
