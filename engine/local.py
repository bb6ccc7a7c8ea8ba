"""``LocalEngine``: the engine running inside this process, behind the ``EngineAPI``."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.api import (
    Snapshot,
    WatchRow,
)
from engine.bus import EventBus
from engine.config import Settings
from engine.events import CandleEvent, Event, FeedEvent, ModeEvent, QualityEvent, ReadyEvent
from engine.jobs import JobRunner, JobStatus
from engine.key_commands import KeyCommands
from engine.lab import LabCommands
from engine.ledger_commands import LedgerCommands
from engine.market import SPARK_POINTS, SPARK_TIMEFRAME, MarketFeed, candle_event
from engine.simtime import not_before_book, remember, sim_clock
from engine.trading.commands import TradingCommands
from engine.writer import WriteBehind
from ledgers.clock import Clock, SimClock, WallClock
from ledgers.market import Candle
from ledgers.sources.base import MarketSource, SourceError
from ledgers.timeframes import bucket, seconds

if TYPE_CHECKING:  # the database layer loads after the first paint, off the start-up path
    from engine.intel import IntelFeeds
    from engine.lab import LabHost
    from engine.trading.host import TradingHost
    from ledgers.database import Database

log = logging.getLogger("omc.engine")

STORAGE_RETRY_SECONDS = (1, 2, 5, 10, 30, 60)
SIM_TIME_SAVE_SECONDS = 5.0


class LocalEngine(LedgerCommands, TradingCommands, LabCommands, KeyCommands):
    """Composition root of one engine: market feed, jobs, write-behind storage and the bus."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        source: MarketSource | None = None,
        schedule: bool = True,
        storage_delay: float = 0.0,
    ) -> None:
        self.settings = settings
        self._storage_delay = storage_delay
        self.bus = EventBus()
        self.writer = WriteBehind()
        self._clock_override = clock
        self._source_override = source
        self._schedule = schedule
        self.clock: Clock = clock or WallClock()
        self.jobs = JobRunner(self.bus, self.writer.add_job_run, _Now(self))
        self.db: Database | None = None
        self.storage_error: str | None = None
        self._ready = asyncio.Event()
        self._storage_task: asyncio.Task[None] | None = None
        self.feed: MarketFeed = None  # type: ignore[assignment]  # set by start()
        self._started = False
        self.intel: IntelFeeds | None = None
        self.quality: QualityEvent | None = None
        self.trading_host: TradingHost | None = None
        self.trading_error: str | None = None
        self._sim_saved = 0.0  # monotonic time the simulated clock was last remembered
        self._trading_ready = asyncio.Event()
        self.lab: LabHost | None = None
        self.lab_error: str | None = None
        self._lab_ready = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.feed = self._make_feed(self.settings.sim.enabled)
        s = self.settings
        market_interval = (
            s.sim.poll_seconds if self.feed.source.simulated else s.market.poll_seconds
        )
        self.jobs.add(
            "market.tickers",
            self._poll_tickers,
            market_interval,
            "poll tickers for the watchlist",
        )
        self.jobs.add(
            "market.book",
            lambda: self.feed.poll_book(),
            s.market.book_seconds,
            "order book of the selected symbol",
        )
        self.jobs.add(
            "market.instruments",
            lambda: self.feed.refresh_instruments(),
            s.engine.instruments_seconds,
            "reload the venue's instrument list",
        )
        self.jobs.add(
            "candles.build",
            lambda: self.feed.build_candles(),
            s.engine.candle_seconds,
            "build candles from ticks",
        )
        self.jobs.add(
            "store.flush",
            self.writer.flush,
            s.engine.flush_seconds,
            "write buffered rows to the database",
        )
        self.jobs.add(
            "store.prune",
            self._prune,
            s.retention.prune_seconds,
            "age out ticks, order books and job runs; thin equity marks ([retention])",
        )
        self.bus.publish(self._mode())
        if self.feed.source.simulated:
            # The simulator answers at once: the first paint can show prices.
            await self.jobs.run("market.tickers")
        self._storage_task = asyncio.create_task(self._background_start(), name="omc-storage")
        self._started = True

    async def _poll_tickers(self) -> int:
        rows = await self.feed.poll_tickers()
        if self.feed.source.simulated and self._clock_override is None:
            mono = time.monotonic()
            if mono - self._sim_saved >= SIM_TIME_SAVE_SECONDS:
                self._sim_saved = mono
                remember(self.settings.database_url(), self.clock.now())
        return rows

    async def _background_start(self) -> None:
        # The scheduler, the collectors and the database layer cost ~0.7 s of imports. A desk
        # asks for a short delay so its first frame (already showing prices) is not competing.
        if self._storage_delay:
            await asyncio.sleep(self._storage_delay)
        self._install_intel()
        if self._schedule:
            self.jobs.start()
        await self._open_storage()

    def _install_intel(self) -> None:
        """The Glass, Human and Catalyst collectors for the current market, and the quality job."""
        from engine.intel import IntelFeeds, live_collectors, sim_collectors

        if self.intel is None:
            self.intel = IntelFeeds(
                self.bus, self.jobs, _Now(self), lambda: self.writer.store, stored=self._ready
            )
        self.intel.uninstall()
        source = self.feed.source
        if source.simulated:
            collectors = sim_collectors(source)
        else:
            collectors = live_collectors(self.settings, source.load_instruments)
        self.intel.install(collectors, self.settings.sources.intervals)
        if "quality.check" not in self.jobs.names():
            self.jobs.add(
                "quality.check",
                self._check_quality,
                self.settings.quality.check_seconds,
                "score completeness, timeliness and accuracy",
                after=self._ready,
            )

    async def _check_quality(self) -> int:
        if self.db is None:
            return 0
        from ledgers.quality import measure

        expected = self.intel.expected() if self.intel else {}
        expected.setdefault("exchange", []).append(self.feed.venue)
        thresholds = self.settings.quality.thresholds()
        simulated = bool(self.feed.source.simulated)  # judge only the data the engine is on
        report = await measure(self.db, self.clock.now(), thresholds, expected, simulated=simulated)
        self.quality = QualityEvent(
            report.at, report.overall, report.ledgers, report.alert, tuple(report.failing())
        )
        if report.alert:
            log.warning(
                "data quality %.2f below %.2f: %s",
                report.overall,
                report.alert_below,
                ", ".join(report.failing()),
            )
        self.bus.publish(self.quality)
        return len(report.sources)

    async def stop(self) -> None:
        """Stop scheduling, then persist everything buffered (this is what SIGTERM runs)."""
        await self.jobs.shutdown()
        if self._started and self.feed.source.simulated and self._clock_override is None:
            remember(self.settings.database_url(), self.clock.now())
        if self._storage_task is not None and not self._storage_task.done():
            self._storage_task.cancel()
            await asyncio.gather(self._storage_task, return_exceptions=True)
        if self.lab is not None:
            await self.lab.close()
        if self._started:
            await self.feed.build_candles()
            try:
                await self.writer.flush()
            except Exception:
                log.exception("final flush failed; %d rows not written", self.writer.pending)
            await self.feed.source.close()
        if self.db is not None:
            await self.db.dispose()
        self.bus.close()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def _prune(self) -> int:
        if self.writer.store is None or self.db is None:
            return 0
        from ledgers import retention

        now = self.clock.now()
        keep = timedelta(days=self.settings.engine.job_run_days)
        runs = await self.writer.store.prune_job_runs(now - keep)
        r = self.settings.retention
        policy = retention.Policy(
            r.tickers_days, r.books_days, r.equity_hourly_after_days, r.equity_daily_after_days
        )
        pruned = await retention.prune(self.db, policy, now)
        if pruned.rows:
            log.info(
                "pruned %d tickers, %d order books, %d equity marks; %d pages freed",
                pruned.tickers,
                pruned.books,
                pruned.equity_marks,
                pruned.pages_freed,
            )
        return runs + pruned.rows

    async def run_once(self) -> list[JobStatus]:
        """Run every job once, in order, after storage and trading are ready (``omc-engine
        --once``): the market, the collectors, the book's jobs, then flush and quality."""
        await self.wait_ready()
        await self._trading_ready.wait()  # the trading jobs exist only once the book is open
        results = []
        last = ("candles.build", "store.flush", "quality.check")
        for name in self.jobs.names():
            if name not in last:
                results.append(await self.jobs.run(name))
        for name in last:
            results.append(await self.jobs.run(name))
        return results

    # -- storage -------------------------------------------------------------------------

    async def _open_storage(self) -> None:
        await asyncio.to_thread(_import_storage)  # ~0.5 s of SQLAlchemy and alembic, off the loop
        from ledgers.database import Database
        from ledgers.store import LedgerStore

        attempt = 0
        while True:
            db = Database(self.settings.database_url())
            try:
                await db.upgrade()
                self.db = db
                await self._clock_after_book(db)
                await self._load_history()
                break
            except Exception as exc:  # whatever stops the database, the engine keeps running
                await db.dispose()
                self.db = None
                self.storage_error = f"{type(exc).__name__}: {exc}"
                wait = STORAGE_RETRY_SECONDS[min(attempt, len(STORAGE_RETRY_SECONDS) - 1)]
                attempt += 1
                log.error("database %s unavailable: %s (retry in %ss)", db.masked_url, exc, wait)
                self.bus.publish(
                    FeedEvent("database", "down", self.clock.now(), self.storage_error)
                )
                await asyncio.sleep(wait)
        self.storage_error = None
        self.writer.store = LedgerStore(db)
        self._ready.set()
        self.bus.publish(FeedEvent("database", "ok", self.clock.now()))
        self.bus.publish(ReadyEvent(db.masked_url))
        await self._open_trading(db)

    async def _clock_after_book(self, db: Database) -> None:
        if isinstance(self.clock, SimClock):
            await not_before_book(self.clock, db, self.feed.venue)

    async def _open_trading(self, db: Database) -> None:
        from engine.trading.host import TradingHost, venue_keys

        try:
            # The clock is looked up at each use: switching to the simulated market swaps it.
            host = TradingHost(
                self.settings,
                db,
                lambda: self.feed,
                self.bus.publish,
                _Now(self).now,
                venue_keys=await venue_keys(self.settings, db),
            )
            await host.open()
            await host.follow_market()  # the market may have switched while the book opened
        except Exception as exc:  # the data side keeps running; trading says why it cannot
            from engine.trading.trader import TradingError

            expected = isinstance(exc, TradingError)  # a clear reason needs no traceback
            log.error("trading could not start: %s", exc, exc_info=not expected)
            self.bus.publish(FeedEvent("trading", "down", self.clock.now(), str(exc)))
            self.trading_error = str(exc)
            self._trading_ready.set()  # waiting callers get TradingUnavailable with the reason
            self.lab_error = f"it backtests through the book, and trading is down: {exc}"
            self._lab_ready.set()
            return
        host.install_jobs(self.jobs)
        self.trading_host = host
        self._trading_ready.set()
        await self._open_lab()

    async def _open_lab(self) -> None:
        from engine.lab import LabHost, preload

        try:
            # Its libraries load on a thread: a third of a second the desk keeps painting in.
            await asyncio.to_thread(preload, self.settings.database_url())
            # What the engine and the Lab loaded lives as long as the process: collections
            # need not walk it (a full pass over it is a tenth of a second the desk waits).
            gc.freeze()
            lab = LabHost(self)
            await lab.open()
        except Exception as exc:  # trading and data keep running; the Lab says why it cannot
            log.error("the Lab could not start: %s", exc, exc_info=True)
            self.lab_error = str(exc)
        else:
            self.lab = lab
        self._lab_ready.set()

    async def _load_history(self) -> None:
        """Adopt forming bars, backfill the simulator's gap, and load sparkline history."""
        from ledgers import queries
        from ledgers.store import LedgerStore

        assert self.db is not None
        feed = self.feed
        stored = await queries.newest_candles(self.db, feed.venue, feed.watchlist)
        backfill = getattr(feed.source, "backfill", None)
        if backfill is None:
            feed.seed(stored)
        else:
            # The simulator's path is a function of time, so its backfill both fills the gap
            # since the last run and yields the forming bars that live ticks continue.
            symbols = [s for s in feed.watchlist if feed.listed is None or s in feed.listed]
            candles = await asyncio.to_thread(
                backfill, symbols, self.clock.now(), _gap_start(stored, symbols)
            )
            await LedgerStore(self.db).upsert_candles(candles)
            newest: dict[tuple[str, str], Candle] = {}
            for c in candles:
                key = (c.symbol, c.timeframe)
                if key not in newest or c.ts > newest[key].ts:
                    newest[key] = c
            feed.seed(list(newest.values()))
        for symbol in feed.watchlist:
            bars = await queries.recent_candles(
                self.db, feed.venue, symbol, SPARK_TIMEFRAME, SPARK_POINTS
            )
            feed.seed_spark(symbol, bars)

    # -- the EngineAPI ---------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def snapshot(self) -> Snapshot:
        feed = self.feed
        rows = tuple(
            WatchRow(s, feed.status(s), feed.quotes.get(s), tuple(feed.spark.get(s, ())))
            for s in feed.watchlist
        )
        feeds = [feed.health.event(self.clock.now()), feed.book_health.event(self.clock.now())]
        if self.intel is not None:
            feeds.extend(self.intel.healths())
        if self.storage_error:
            feeds.append(FeedEvent("database", "down", self.clock.now(), self.storage_error))
        return Snapshot(
            mode=self._mode(),
            now=self.clock.now(),
            quote_currency=self.settings.market.quote,
            watchlist=rows,
            jobs=tuple(self.jobs.statuses()),
            feeds=tuple(feeds),
            book=feed.book,
            selected=feed.selected,
            ready=self._ready.is_set(),
            database=self.db.masked_url if self.db else "",
            quality=self.quality,
        )

    def events(self) -> AsyncIterator[Event]:
        return self.bus.stream()

    async def candles(self, symbol: str, timeframe: str, limit: int = 300) -> list[CandleEvent]:
        seconds(timeframe)  # refuse an unknown timeframe before touching storage
        await self._ready.wait()  # storage modules are imported (off the loop) by then
        from ledgers import queries
        from ledgers.store import LedgerStore

        assert self.db is not None
        feed = self.feed
        bars = await queries.recent_candles(self.db, feed.venue, symbol, timeframe, limit)
        if feed.source.has_ohlcv and len(bars) < limit // 2:
            try:
                fetched = await feed.source.fetch_candles(symbol, timeframe, None, limit)
            except SourceError as exc:
                log.warning("no candle history for %s %s: %s", symbol, timeframe, exc)
            else:
                await LedgerStore(self.db).upsert_candles(fetched)
                bars = await queries.recent_candles(self.db, feed.venue, symbol, timeframe, limit)
        events = [candle_event(b, closed=True) for b in bars]
        forming = feed.builder.forming(feed.venue, symbol, timeframe)
        if forming is not None:
            live = candle_event(forming)
            if events and events[-1].ts == live.ts:
                events[-1] = live
            elif not events or live.ts > events[-1].ts:
                events.append(live)
        current = bucket(self.clock.now(), timeframe)
        return [replace(e, closed=False) if e.ts >= current else e for e in events[-limit:]]

    async def select(self, symbol: str) -> None:
        self.feed.select(symbol)
        if self._started:
            asyncio.create_task(self.jobs.run("market.book"))

    async def run_job(self, name: str) -> JobStatus:
        return await self.jobs.run(name)

    async def pause_job(self, name: str) -> None:
        self.jobs.pause(name)

    async def resume_job(self, name: str) -> None:
        self.jobs.resume(name)

    async def set_watchlist(self, symbols: list[str]) -> None:
        from engine.config import normalize_symbol

        self.feed.watchlist = [normalize_symbol(s, self.settings.market.quote) for s in symbols]
        self.settings.market.watchlist = list(self.feed.watchlist)
        self.bus.publish(self._mode())

    async def use_simulated_market(self) -> None:
        if self.feed.source.simulated:
            return
        old = self.feed
        self.settings.sim.enabled = True
        self.feed = self._make_feed(True)
        self.feed.select(old.selected or self.feed.watchlist[0])
        await old.source.close()
        if self.intel is not None:
            self._install_intel()
        self.bus.publish(self._mode())
        await self.jobs.run("market.tickers")
        if self.trading_host is not None:
            # The simulated market keeps its own paper book; the venue's stays as it was.
            await self.trading_host.follow_market()
            self.bus.publish(self.trading_host.trader.trading_event("book: " + self._book()))
        if self._ready.is_set():
            assert self.db is not None
            await self._load_history()
            self.bus.publish(ReadyEvent(self.db.masked_url))

    # -- helpers ---------------------------------------------------------------------------

    def _make_feed(self, simulated: bool) -> MarketFeed:
        s = self.settings
        if self._source_override is not None and (self._source_override.simulated == simulated):
            source = self._source_override
        elif simulated:
            from ledgers.sources.sim import SimMarket

            if self._clock_override is None:
                # A sped-up market continues where it left off rather than back at wall time.
                self.clock = sim_clock(s.database_url(), s.sim.speed)
            source = SimMarket(
                s.sim.seed, s.sim.symbols, s.market.quote, self.clock, s.sim.tick_seconds
            )
        else:
            from ledgers.sources.ccxt_market import CcxtMarket
            from ledgers.sources.coinspot import CoinSpotMarket

            options: dict[str, Any] = {
                "quote": s.market.quote,
                "clock": self.clock,
                "timeout_ms": int(s.market.timeout_seconds * 1000),
            }
            if s.market.venue == "coinspot":
                source = CoinSpotMarket(**options)
            else:
                source = CcxtMarket(s.market.venue, **options)
        interval = s.sim.poll_seconds if source.simulated else s.market.poll_seconds
        return MarketFeed(
            source,
            s.market.watchlist,
            self.bus,
            self.writer,
            self.clock,
            poll_seconds=interval,
            book_depth=s.market.book_depth,
        )

    def _mode(self) -> ModeEvent:
        simulated = self.feed.source.simulated
        return ModeEvent(
            trading=self.settings.trading.mode.upper(),
            data="SIM" if simulated else "LIVE",
            engine="local",
            venue=self.feed.venue,
            watchlist=tuple(self.feed.watchlist),
            book=self._book(),
        )

    def _book(self) -> str:
        """The book this engine trades in: its trading mode on its current market."""
        from engine.trading.books import book_id

        return book_id(self.settings.trading.mode, self.feed.venue)


def _import_storage() -> None:
    import alembic.command  # noqa: F401

    import ledgers.migrate
    import ledgers.queries
    import ledgers.store  # noqa: F401


def _gap_start(stored: list[Candle], symbols: list[str]) -> dict[str, datetime] | None:
    """Per timeframe, the oldest newest-stored bar, when every symbol has one (else full history)."""
    by_tf: dict[str, dict[str, datetime]] = {}
    for c in stored:
        by_tf.setdefault(c.timeframe, {})[c.symbol] = c.ts
    since = {tf: min(seen.values()) for tf, seen in by_tf.items() if set(symbols) <= set(seen)}
    return since or None


class _Now:
    """The engine's current clock, which changes when the market switches to simulation."""

    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine

    def now(self) -> datetime:
        return self._engine.clock.now()
