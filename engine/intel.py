"""The Glass, Human and Catalyst collectors as engine jobs: run, write whole, publish, track health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from engine.bus import EventBus
from engine.config import Settings
from engine.events import FeedEvent, LedgerEvent
from engine.jobs import Backoff, JobRunner
from ledgers.clock import Clock
from ledgers.market import Instrument
from ledgers.sources.base import SourceError
from ledgers.sources.collector import Collector
from ledgers.sources.http import HttpPolicy

if TYPE_CHECKING:
    from ledgers.store import LedgerStore

log = logging.getLogger("omc.intel")

MAX_BACKOFF_SECONDS = 3600.0


@runtime_checkable
class Resumable(Protocol):
    """A collector that continues from the rows earlier runs stored instead of from scratch."""

    progress: tuple[str, str]  # the table and source whose newest row marks how far it got

    def resume(self, newest: datetime | None) -> None: ...


class IntelFeeds:
    """Runs each collector as job ``<ledger>.<name>``; a failing one never stops the others.

    With ``stored`` (set once storage is open) the jobs are scheduled only from then on. A
    collector that can ``resume`` (the simulator's) is told, before its first run, where the
    rows stored by earlier runs end, so it backfills only what is missing.
    """

    def __init__(
        self,
        bus: EventBus,
        jobs: JobRunner,
        clock: Clock,
        store: Callable[[], LedgerStore | None],
        http: HttpPolicy | None = None,
        *,
        stored: asyncio.Event | None = None,
    ) -> None:
        self.bus = bus
        self.jobs = jobs
        self.clock = clock
        self._store = store
        self._stored = stored
        self.http = http or HttpPolicy(clock=clock)
        self.collectors: dict[str, Collector] = {}
        self._caught_up: set[str] = set()  # jobs whose collector knows where storage ends

    @staticmethod
    def job_name(collector: Collector) -> str:
        return f"{collector.ledger}.{collector.name}"

    def install(
        self, collectors: Iterable[Collector], intervals: dict[str, float] | None = None
    ) -> None:
        for collector in collectors:
            name = self.job_name(collector)
            self.collectors[name] = collector
            self._caught_up.discard(name)
            seconds = (intervals or {}).get(collector.name, collector.interval)
            self.jobs.add(
                name,
                lambda c=collector: self.run(c),
                seconds,
                f"collect {collector.name}",
                after=self._stored,
            )

    def uninstall(self) -> None:
        for name in list(self.collectors):
            self.jobs.remove(name)
        self.collectors.clear()

    def expected(self) -> dict[str, list[str]]:
        """Collector names per ledger, for the quality monitor."""
        out: dict[str, list[str]] = {}
        for c in self.collectors.values():
            source = getattr(c, "source", c.name)
            if source not in out.setdefault(c.ledger, []):
                out[c.ledger].append(source)
        return out

    def healths(self) -> list[FeedEvent]:
        return [self._feed_event(c.name) for c in self.collectors.values()]

    async def run(self, collector: Collector) -> int:
        store = self._store()
        if store is None:
            raise Backoff("database not open yet", 5.0)
        name = self.job_name(collector)
        if isinstance(collector, Resumable) and name not in self._caught_up:
            collector.resume(await _newest_stored(store, *collector.progress))
        now = self.clock.now()
        try:
            batch = await collector.collect(self.http, now)
            rows = await store.write_collected(batch)
        except SourceError as exc:
            self.http.mark_failed(collector.name, str(exc))
            health = self.http.health(collector.name)
            self.bus.publish(self._feed_event(collector.name))
            wait = min(MAX_BACKOFF_SECONDS, collector.interval * 2 ** (health.failures - 1))
            raise Backoff(str(exc), wait) from None
        # Only a stored run moves the collector on; after a failed write it resumes again.
        self._caught_up.add(name)
        if self.http.mark_ok(collector.name):
            self.bus.publish(self._feed_event(collector.name))
        if rows:
            self.bus.publish(LedgerEvent(collector.ledger, collector.name, rows, now))
        return rows

    def _feed_event(self, name: str) -> FeedEvent:
        h = self.http.health(name)
        return FeedEvent(name, h.status, self.clock.now(), h.error)


async def _newest_stored(store: LedgerStore, table: str, source: str) -> datetime | None:
    """The stamp of the newest row of ``source`` in ledger ``table``."""
    from sqlalchemy import func, select

    from ledgers.schema import LEDGER_TABLES, Base

    rows = Base.metadata.tables[table]
    newest = select(func.max(rows.c[LEDGER_TABLES[table]])).where(rows.c.source == source)
    async with store.db.engine.connect() as conn:
        stamp: datetime | None = (await conn.execute(newest)).scalar()
    return stamp


def live_collectors(
    settings: Settings, instruments: Callable[[], Awaitable[Iterable[Instrument]]]
) -> list[Collector]:
    """The real sources, configured; disabled and credential-less ones are left out."""
    from ledgers.sources.catalyst import (
        CoinSpotAnnouncementsCollector,
        ListingsCollector,
        SecEdgarCollector,
        SnapshotCollector,
    )
    from ledgers.sources.glass import DefiLlamaCollector, EvmGasCollector
    from ledgers.sources.human import (
        CryptoPanicCollector,
        FearGreedCollector,
        RedditCollector,
        RssCollector,
    )

    src = settings.sources
    if not src.enabled:
        return []
    urls = src.base_urls

    def given(**options: Any) -> dict[str, Any]:
        return {key: value for key, value in options.items() if value}

    collectors: list[Collector] = [
        DefiLlamaCollector(
            **given(
                protocols=src.defillama_protocols,
                chains=src.defillama_chains,
                base_url=urls.get("defillama"),
                stablecoins_url=urls.get("defillama-stablecoins"),
            )
        ),
        EvmGasCollector(**given(endpoints=src.evm_endpoints)),
        *RssCollector(**given(feeds=src.rss_feeds)).per_feed(),
        RedditCollector(
            **given(subreddits=src.reddit_subreddits),
            client_id=src.reddit_client_id,
            client_secret=_secret(src.reddit_client_secret),
        ),
        FearGreedCollector(**given(url=urls.get("feargreed"))),
        SecEdgarCollector(
            **given(ciks=src.sec_ciks, base_url=urls.get("sec")), user_agent=src.sec_user_agent
        ),
        CoinSpotAnnouncementsCollector(**given(base_url=urls.get("coinspot"))),
        ListingsCollector(instruments, venue=settings.market.venue),
        SnapshotCollector(**given(spaces=src.snapshot_spaces, url=urls.get("snapshot"))),
    ]
    token = _secret(src.cryptopanic_token)
    if token:
        collectors.append(CryptoPanicCollector(token, **given(base_url=urls.get("cryptopanic"))))
    return [c for c in collectors if c.name not in src.disabled]


def sim_collectors(market: Any) -> list[Collector]:
    from ledgers.sources.sim.intel import SimCatalystCollector, SimGlassCollector, SimHumanCollector

    return [SimGlassCollector(market), SimHumanCollector(market), SimCatalystCollector(market)]


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
