"""The engine's side of the Lab's port: its ledgers, book and backtester, read-only.

Everything comes from the engine's own database and research service, for the market the
engine is on (the simulated market's data with ``--sim``, the venue's otherwise). Nothing here
places, cancels or changes an order.

The port works over a ``PortContext``: the engine itself (``EngineContext``) or the Lab's
worker process (``engine.lab_worker``), which reads the same database with connections of its
own and asks the engine only for what lives in the engine (the book, a venue's history).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from agents.port import BacktestSpec
from ledgers import queries
from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem, MoodReading
from ledgers.market import Candle
from ledgers.store import LedgerStore
from ledgers.timeframes import seconds

if TYPE_CHECKING:
    from engine.local import LocalEngine

MAX_ROWS = 200_000  # of one ledger in one study: a year of minute items is well under
PAGE = 1000  # bars asked of the market, and kept, at once when filling a gap in the history
HISTORY_CHUNK = timedelta(days=30)  # of the simulated ledgers' history made and kept at once


class PortContext(Protocol):
    """What the port stands on: the market, the database, and the engine's own services."""

    @property
    def venue(self) -> str: ...

    @property
    def simulated(self) -> bool: ...

    @property
    def source(self) -> Any:
        """The market source that serves (or computes) history here, or None: then the
        engine is asked (``fetch``)."""
        ...

    def symbols(self) -> Sequence[str]: ...

    async def db(self) -> Any: ...

    async def fetch(self, symbol: str, timeframe: str, since: datetime, until: datetime) -> int:
        """Have the engine fetch and keep the period's bars; how many it kept."""
        ...

    async def book(self) -> Mapping[str, Any]: ...

    async def research(self) -> Any:
        """The research service that runs and keeps backtests."""
        ...


class EngineContext:
    """The port's context inside the engine's own process."""

    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine

    @property
    def venue(self) -> str:
        return str(self._engine.feed.venue)

    @property
    def simulated(self) -> bool:
        return bool(self._engine.feed.source.simulated)

    @property
    def source(self) -> Any:
        return self._engine.feed.source

    def symbols(self) -> Sequence[str]:
        feed = self._engine.feed
        listed = sorted(feed.instruments) or list(feed.watchlist)
        watched = [s for s in feed.watchlist if s in listed]
        return [*watched, *(s for s in listed if s not in watched)]

    async def db(self) -> Any:
        return await self._engine._db()

    async def fetch(self, symbol: str, timeframe: str, since: datetime, until: datetime) -> int:
        return 0  # the source is here: nothing to ask anyone else

    async def book(self) -> Mapping[str, Any]:
        host = await self._engine._host()
        mark = host.trader.mark_now()
        return {
            "book": host.trader.book,
            "equity": str(mark.equity),
            "cash": str(mark.cash),
            "positions": {p.symbol: str(p.quantity) for p in host.trader.positions()},
        }

    async def research(self) -> Any:
        return (await self._engine._host()).research


class EnginePort:
    """``agents.port.LabPort`` over a ``PortContext``."""

    def __init__(self, context: PortContext) -> None:
        self._context = context
        self._filled: set[tuple[str, str, datetime, datetime]] = set()

    @property
    def venue(self) -> str:
        return self._context.venue

    def symbols(self) -> Sequence[str]:
        return self._context.symbols()

    def _simulated(self) -> bool:
        return self._context.simulated

    async def _db(self) -> Any:
        return await self._context.db()

    async def candles(
        self, symbol: str, timeframe: str, since: datetime, until: datetime
    ) -> Sequence[Candle]:
        """Stored bars; when the store lacks part of the period and the market can serve
        history (the simulator always, a venue with OHLCV), the gap is fetched and kept.

        The simulator's bars are computed, not fetched: in a worker thread (as the engine's
        own backfill), since a year of them takes a fifth of a second with 200 coins listed.
        They are kept a page at a time, so each write's rows are made ready on the event loop
        in milliseconds."""
        found = await self._stored(symbol, timeframe, since, until)
        expected = int((until - since).total_seconds()) // seconds(timeframe)
        if len(found) >= expected:
            return found
        source = self._context.source
        if source is None:  # the engine holds the market: it fetches and keeps, we read
            if await self._context.fetch(symbol, timeframe, since, until):
                return await self._stored(symbol, timeframe, since, until)
            return found
        simulated = bool(getattr(source, "simulated", False))
        if not (simulated or getattr(source, "has_ohlcv", False)):
            return found
        fetching = self._fetch(source, symbol, timeframe, since, until)
        fetched = await (asyncio.to_thread(asyncio.run, fetching) if simulated else fetching)
        if not fetched:
            return found
        store = LedgerStore(await self._db())
        for start in range(0, len(fetched), PAGE):
            await store.upsert_candles(fetched[start : start + PAGE])
        # What is stored now, without reading a year of bars back: the upsert replaced any
        # stored bar at a fetched bar's time, and floats and times go through the ledger as is.
        fresh = {c.ts for c in fetched}
        return sorted([*(c for c in found if c.ts not in fresh), *fetched], key=lambda c: c.ts)

    async def _stored(
        self, symbol: str, timeframe: str, since: datetime, until: datetime
    ) -> list[Candle]:
        db = await self._db()
        found: list[Candle] = []
        async for candle in queries.iter_candles(
            db, symbol, timeframe, venue=self.venue, since=since, until=until
        ):
            found.append(candle)
        return found

    async def _fetch(
        self, source: Any, symbol: str, timeframe: str, since: datetime, until: datetime
    ) -> list[Candle]:
        """Closed bars of the period from the market, a page at a time."""
        bars: list[Candle] = []
        cursor = since
        while cursor < until:
            page = await source.fetch_candles(symbol, timeframe, since=cursor, limit=PAGE)
            page = [c for c in page if cursor <= c.ts < until]
            if not page:
                break
            bars.extend(page)
            cursor = page[-1].ts + timedelta(seconds=seconds(timeframe))
        return bars

    async def _rows(
        self, table: str, since: datetime, until: datetime, symbol: str | None = None
    ) -> list[dict[str, Any]]:
        db = await self._db()
        columns = queries.table_columns(table)
        rows: list[dict[str, Any]] = []
        # Streamed a chunk at a time: a year of one coin's news is read in a few hundred
        # milliseconds, and a desk on this engine keeps painting in between.
        async for row in queries.iter_rows(
            db, table, since=since, until=until, symbol=symbol, simulated=self._simulated()
        ):
            rows.append(dict(zip(columns, row, strict=True)))
            if len(rows) >= MAX_ROWS:
                break
        rows.reverse()
        return rows

    async def _simulated_history(
        self, ledger: str, currency: str, since: datetime, until: datetime
    ) -> None:
        """On the simulated market, make the ledger's history of the period for ``currency``
        (once): its collectors reach back days, a study months. Only the rows the study reads
        are kept: a year of every coin's news is seven times as many rows as one coin's (the
        others' are made when they are studied), and the mood index is read by no study."""
        key = (ledger, currency, since, until)
        if not self._simulated() or key in self._filled:
            return
        from engine.intel import sim_collectors

        collector = next(c for c in sim_collectors(self._context.source) if c.ledger == ledger)
        code = currency.upper()  # as the ledger's reads match it

        def made(start: datetime, end: datetime) -> Collected:
            return collector.between(start, end, code)

        # A month at a time: a year of every coin's items is never held at once (a quarter of
        # a million objects), and each write's rows are made ready on the event loop in
        # milliseconds (the store prepares a batch this small there).
        store = LedgerStore(await self._db())
        start = since
        while start < until:
            end = min(start + HISTORY_CHUNK, until)
            await store.write_collected(await asyncio.to_thread(made, start, end))
            start = end
        self._filled.add(key)

    async def human(self, currency: str, since: datetime, until: datetime) -> Sequence[HumanItem]:
        await self._simulated_history("human", currency, since, until)
        return [
            HumanItem(
                source=r["source"],
                external_id=r["external_id"],
                title=r["title"],
                url=r["url"],
                published=r["published"],
                score=r["score"],
                currencies=tuple(r["currencies"] or ()),
            )
            for r in await self._rows("human_items", since, until, currency)
        ]

    async def mood(self, since: datetime, until: datetime) -> Sequence[MoodReading]:
        return [
            MoodReading(r["source"], r["ts"], r["value"], r["label"])
            for r in await self._rows("mood_readings", since, until)
        ]

    async def catalysts(
        self, currency: str, since: datetime, until: datetime
    ) -> Sequence[CatalystEvent]:
        await self._simulated_history("catalyst", currency, since, until)
        return [
            CatalystEvent(
                source=r["source"],
                external_id=r["external_id"],
                type=r["type"],
                title=r["title"],
                url=r["url"],
                occurred=r["occurred"],
                impact=r["impact"],
                currencies=tuple(r["currencies"] or ()),
            )
            for r in await self._rows("catalyst_events", since, until, currency)
        ]

    async def glass(self, entity: str, since: datetime, until: datetime) -> Sequence[GlassMetric]:
        return [
            GlassMetric(r["source"], r["entity"], r["metric"], r["ts"], r["value"])
            for r in await self._rows("glass_metrics", since, until, entity)
        ]

    async def ledger_stats(self) -> Mapping[str, int]:
        db = await self._db()
        return {table: rows for table, rows, _ in await queries.table_stats(db)}

    async def book(self) -> Mapping[str, Any]:
        return await self._context.book()

    async def backtest(self, spec: BacktestSpec) -> Mapping[str, Any]:
        research = await self._context.research()
        if spec.strategy == "signal":
            targets = {
                int(datetime.fromisoformat(ts).timestamp()): float(target)
                for ts, target in spec.signal.items()
            }
            view = await research.backtest_signal(
                spec.symbol,
                spec.timeframe,
                targets,
                since=spec.since,
                until=spec.until,
                key=spec.key or None,
            )
        else:
            view = await research.backtest(
                spec.strategy,
                spec.symbol,
                timeframe=spec.timeframe,
                params=dict(spec.params),
                since=spec.since,
                until=spec.until,
                key=spec.key or None,
            )
        return {
            **view.metrics,
            "id": view.id,
            "gate_passed": view.gate_passed,
            "gate_reasons": list(view.gate_reasons),
        }
