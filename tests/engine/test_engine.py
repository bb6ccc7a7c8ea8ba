"""LocalEngine end to end on a fake venue: polling, candles, storage, feed-down and recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import ccxt
import pytest

from engine import config
from engine.events import FeedEvent, InstrumentsEvent, QuoteEvent
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from ledgers.sources.ccxt_market import CcxtMarket
from tests.conftest import FROZEN
from tests.ledgers.fake_exchange import FakeExchange


def settings(db_url: str, watchlist: list[str] | None = None) -> config.Settings:
    s = config.load(None, database={"url": db_url})
    s.market.watchlist = watchlist or ["BTC/AUD", "ETH/AUD", "NOPE/AUD"]
    s.sources.enabled = False  # the intelligence collectors have their own tests
    return s


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(FROZEN)


@pytest.fixture
def fake(clock: ManualClock) -> FakeExchange:
    return FakeExchange(timestamp_ms=None)


async def started(db_url: str, fake: FakeExchange, clock: ManualClock) -> LocalEngine:
    engine = LocalEngine(
        settings(db_url), clock=clock, source=CcxtMarket(exchange=fake, clock=clock), schedule=False
    )
    await engine.start()
    await engine.wait_ready()
    return engine


async def test_one_cycle_stores_ticks_candles_and_job_runs(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    try:
        sub = engine.bus.subscribe()
        await engine.run_once()
        events = await sub.batch()
        stats = {t.table: t.rows for t in await engine.ledger_stats()}
    finally:
        await engine.stop()
    quotes = {e.symbol: e.last for e in events if isinstance(e, QuoteEvent)}
    assert quotes == {"BTC/AUD": 150_000.0, "ETH/AUD": 5_000.0}
    assert stats["tickers"] == 2
    assert stats["candles"] == 2 * 6  # one forming bar per timeframe per symbol
    assert stats["instruments"] == len(fake.markets)
    assert stats["job_runs"] >= 4


async def test_unknown_watchlist_symbol_is_reported_and_others_keep_working(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    try:
        sub = engine.bus.subscribe()
        await engine.run_job("market.tickers")
        events = await sub.batch()
        snap = engine.snapshot()
    finally:
        await engine.stop()
    rows = {r.symbol: r.status for r in snap.watchlist}
    assert rows == {"BTC/AUD": "ok", "ETH/AUD": "ok", "NOPE/AUD": "unknown"}
    unknown = [e.unknown for e in events if isinstance(e, InstrumentsEvent)]
    assert unknown == [("NOPE/AUD",)]


async def test_network_failure_marks_feed_down_then_recovers(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    try:
        await engine.run_job("market.tickers")
        sub = engine.bus.subscribe()
        fake.fail_next(ccxt.NetworkError("connection reset by peer"), times=2)
        first = await engine.run_job("market.tickers")
        second = await engine.run_job("market.tickers")
        down = [e for e in await sub.batch() if isinstance(e, FeedEvent)]
        assert first.status == "error" and "connection reset" in (first.last_error or "")
        assert second.failures == 2
        assert [e.status for e in down] == ["degraded", "down"]
        assert down[-1].retry_at is not None and down[-1].retry_at > clock.now()
        assert engine.snapshot().feeds[0].status == "down"
        fake.set_price("BTC/AUD", 151_000.0)
        clock.advance(30)
        recovered = await engine.run_job("market.tickers")
        after = [e for e in await sub.batch() if isinstance(e, FeedEvent | QuoteEvent)]
    finally:
        await engine.stop()
    assert recovered.status == "ok"
    assert any(isinstance(e, FeedEvent) and e.status == "ok" for e in after)
    assert any(isinstance(e, QuoteEvent) and e.last == 151_000.0 for e in after)


async def test_failures_back_off_exponentially(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    try:
        waits = []
        for _ in range(4):
            fake.fail_next(ccxt.RequestTimeout("timed out"))
            sub = engine.bus.subscribe()
            await engine.run_job("market.tickers")
            (event,) = [e for e in await sub.batch() if isinstance(e, FeedEvent)]
            waits.append((event.retry_at - clock.now()).total_seconds())
            sub.close()
    finally:
        await engine.stop()
    assert waits == [5.0, 10.0, 20.0, 40.0]


async def test_book_failure_does_not_take_the_market_feed_down(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    try:
        await engine.run_job("market.tickers")
        fake.fail_next(ccxt.AuthenticationError("requires apiKey"), method="fetch_order_book")
        book = await engine.run_job("market.book")
        snap = engine.snapshot()
    finally:
        await engine.stop()
    assert book.status == "error"
    feeds = {f.feed: f.status for f in snap.feeds}
    assert feeds["coinspot.market"] == "ok" and feeds["coinspot.book"] == "down"


async def test_candles_served_from_storage_include_the_forming_bar(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    try:
        for price in (100.0, 130.0, 90.0, 110.0):
            fake.set_price("ETH/AUD", price)
            await engine.run_job("market.tickers")
            clock.advance(20)
        await engine.run_job("candles.build")
        await engine.run_job("store.flush")
        bars = await engine.candles("ETH/AUD", "1m")
    finally:
        await engine.stop()
    assert [(b.open, b.high, b.low, b.close) for b in bars] == [
        (100.0, 130.0, 90.0, 90.0),
        (110.0, 110.0, 110.0, 110.0),
    ]
    assert bars[0].closed and not bars[-1].closed


async def test_stop_flushes_what_is_buffered(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    await engine.run_job("market.tickers")
    clock.advance(timedelta(minutes=1).total_seconds())
    await engine.run_job("market.tickers")
    assert engine.writer.pending > 0
    await engine.stop()
    from ledgers import queries
    from ledgers.database import Database

    db = Database(db_url)
    stats = {t: n for t, n, _ in await queries.table_stats(db)}
    await db.dispose()
    assert stats["tickers"] == 4 and stats["candles"] > 0


async def test_offline_engine_switches_to_the_simulated_market(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    engine = await started(db_url, fake, clock)
    try:
        fake.fail_next(ccxt.NetworkError("no route to host"), times=5)
        await engine.run_job("market.tickers")
        assert engine.snapshot().mode.data == "LIVE"
        await engine.use_simulated_market()
        snap = engine.snapshot()
        bars = await engine.candles("BTC/AUD", "1d")
    finally:
        await engine.stop()
    assert snap.mode.data == "SIM" and snap.mode.venue == "sim"
    assert all(
        r.quote is not None and r.quote.venue == "sim" for r in snap.watchlist if r.status == "ok"
    )
    assert len(bars) > 200  # the simulator backfilled history for the chart


async def test_restart_continues_the_forming_bar(
    db_url: str, fake: FakeExchange, clock: ManualClock
) -> None:
    first = await started(db_url, fake, clock)
    fake.set_price("BTC/AUD", 100.0)
    await first.run_job("market.tickers")
    fake.set_price("BTC/AUD", 120.0)
    clock.advance(10)
    await first.run_job("market.tickers")
    await first.stop()

    clock.advance(10)  # same minute, new process
    second = LocalEngine(
        settings(db_url), clock=clock, source=CcxtMarket(exchange=fake, clock=clock), schedule=False
    )
    await second.start()
    await second.wait_ready()
    try:
        fake.set_price("BTC/AUD", 90.0)
        await second.run_job("market.tickers")
        bars = await second.candles("BTC/AUD", "1m")
    finally:
        await second.stop()
    assert (bars[-1].open, bars[-1].high, bars[-1].low, bars[-1].close) == (
        100.0,
        120.0,
        90.0,
        90.0,
    )


async def test_jobs_that_need_storage_wait_for_it_without_failing(db_url: str) -> None:
    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    engine = LocalEngine(s, clock=ManualClock(FROZEN), storage_delay=0.2)
    await engine.start()
    try:
        await engine.wait_ready()
        assert engine.intel is not None
        waiting = [*engine.intel.collectors, "quality.check"]
        for _ in range(500):  # the scheduler runs each of them once storage is open
            if all(engine.jobs.status(name).runs for name in waiting):
                break
            await asyncio.sleep(0.02)
        statuses = engine.jobs.statuses()
    finally:
        await engine.stop()  # writes every recorded run
    assert [(status.name, status.last_error) for status in statuses if status.failures] == []
    from ledgers import queries
    from ledgers.database import Database

    db = Database(db_url)
    columns, rows = await queries.browse(db, "job_runs", limit=10_000)
    await db.dispose()
    runs = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [run for run in runs if run["status"] == "error"] == []
    for name in waiting:
        first = min((run for run in runs if run["job"] == name), key=lambda r: r["started_at"])
        assert first["status"] == "ok", name
