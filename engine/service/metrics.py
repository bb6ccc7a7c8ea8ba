"""Prometheus metrics for one engine: fed from its bus, rendered for ``/metrics``.

Each ``EngineMetrics`` owns its ``CollectorRegistry``: the process-wide default registry would
make two engines in one process (tests, a standby beside a leader) collide on metric names.

Label values are bounded identifiers only: job, ledger, source, feed, book, state, origin,
side, rule, and the venue and symbols of the polled watchlist. Client order ids, error
messages and risk messages never become labels; each would add a time series per value.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.bus import EventBus
from engine.events import (
    Event,
    FeedEvent,
    FillEvent,
    JobEvent,
    LeaderEvent,
    LedgerEvent,
    ModeEvent,
    OrderEvent,
    PortfolioEvent,
    QualityEvent,
    QuoteEvent,
    RiskEvent,
)

# A job run lasts from a millisecond (a flush with nothing buffered) to a minute (a slow
# collector behind retries); past a minute the exact figure matters less than the alarm.
JOB_SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
# A healthy loop is late by well under a millisecond; a desk feels 50 ms, a feed misses at 1 s.
LOOP_LAG_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# One gauge per feed rather than a state set: `omc_feed_up < 1` is the whole alert rule.
# "starting" is not a health yet, so a feed has no sample until it first reports.
FEED_UP = {"ok": 1.0, "degraded": 0.5, "down": 0.0}
FINISHED_JOB = frozenset({"ok", "error", "skipped"})
# How many (order, state) and fill keys are remembered to drop repeats: enough for hours of
# trading, small enough that a busy engine's memory stays flat.
REMEMBERED = 50_000


class EngineMetrics(Collector):
    """The engine's Prometheus metrics; ``observe`` every bus event, ``render`` on scrape."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime] | None = None,
        rows_written: Callable[[], int] | None = None,
    ) -> None:
        # `now` is the engine's clock: quote timestamps are simulated time in a sim engine.
        self._now = now or (lambda: datetime.now(UTC))
        self._rows_written = rows_written
        self._quotes: dict[tuple[str, str], datetime] = {}
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.registry = r = CollectorRegistry()

        self._job_runs = Counter(
            "omc_job_runs", "Finished job runs.", ["job", "status"], registry=r
        )
        self._job_failures = Counter(
            "omc_job_failures", "Job runs that failed.", ["job"], registry=r
        )
        self._job_seconds = Histogram(
            "omc_job_duration_seconds",
            "How long a job run took.",
            ["job"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=r,
        )
        self._ledger_rows = Counter(
            "omc_ledger_rows",
            "Rows collectors wrote to a ledger.",
            ["ledger", "source"],
            registry=r,
        )
        self._feed_up = Gauge(
            "omc_feed_up", "Feed health: 1 ok, 0.5 degraded, 0 down.", ["feed"], registry=r
        )
        self._orders = Counter(
            "omc_orders",
            "Orders that entered a state, once per order and state.",
            ["book", "state", "origin"],
            registry=r,
        )
        self._fills = Counter("omc_fills", "Fills.", ["book", "side"], registry=r)
        self._fill_notional = Counter(
            "omc_fill_notional",
            "Quantity times price filled, in quote currency.",
            ["book"],
            registry=r,
        )
        self._fees = Counter("omc_fees", "Fees paid, in quote currency.", ["book"], registry=r)
        self._refusals = Counter(
            "omc_risk_refusals", "Orders the risk guard refused.", ["rule", "origin"], registry=r
        )
        self._equity = Gauge("omc_equity", "Book equity, in quote currency.", ["book"], registry=r)
        self._cash = Gauge("omc_cash", "Book cash, in quote currency.", ["book"], registry=r)
        self._quality = Gauge(
            "omc_quality_score", "Data quality score per ledger, 0..1.", ["ledger"], registry=r
        )
        self._quality_overall = Gauge(
            "omc_quality_overall_score", "Overall data quality score, 0..1.", registry=r
        )
        self._loop_lag = Histogram(
            "omc_event_loop_lag_seconds",
            "How late the event loop woke a sleeper.",
            buckets=LOOP_LAG_SECONDS_BUCKETS,
            registry=r,
        )
        self._loop_lag_last = Gauge(
            "omc_event_loop_lag_last_seconds", "The latest event loop lag measured.", registry=r
        )
        self._clients = Gauge("omc_attached_clients", "Desks attached over websocket.", registry=r)
        self._leader = Gauge("omc_leader", "1 when this engine owns the database.", registry=r)
        self._info = Info("omc", "What this engine runs.", registry=r)
        r.register(self)  # the scrape-time figures below

    # -- fed by the engine ---------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Count one bus event; cheap and synchronous, for every event the engine publishes."""
        match event:
            case JobEvent():
                self._observe_job(event)
            case LedgerEvent():
                self._ledger_rows.labels(event.ledger, event.source).inc(event.rows)
            case FeedEvent() if event.status in FEED_UP:
                self._feed_up.labels(event.feed).set(FEED_UP[event.status])
            case QuoteEvent():
                key = (event.venue, event.symbol)
                newest = self._quotes.get(key)
                if newest is None or event.ts > newest:
                    self._quotes[key] = event.ts
            case ModeEvent() if event.watchlist:
                # Symbols dropped from the watchlist (or another venue's) are no longer
                # polled: their ages would grow for ever and keep dead series alive.
                kept = {(event.venue, s) for s in event.watchlist}
                self._quotes = {k: ts for k, ts in self._quotes.items() if k in kept}
            case OrderEvent() if self._first(event.client_id, event.state):
                # Orders are republished (partial fills, duplicates of a place): count the
                # transition into a state once per order, not every message about it.
                self._orders.labels(event.book, event.state, event.origin).inc()
            case FillEvent() if self._first("fill", event.fill_id):
                self._fills.labels(event.book, event.side).inc()
                self._fill_notional.labels(event.book).inc(float(event.quantity * event.price))
                if event.fee > 0:  # a maker rebate is not a fee paid; counters only rise
                    self._fees.labels(event.book).inc(float(event.fee))
            case RiskEvent() if not event.allowed:
                self._refusals.labels(event.rule, event.origin).inc()
            case PortfolioEvent():
                self._equity.labels(event.book).set(float(event.equity))
                self._cash.labels(event.book).set(float(event.cash))
            case QualityEvent():
                for ledger, score in event.ledgers.items():
                    self._quality.labels(ledger).set(score)
                self._quality_overall.set(event.overall)
            case LeaderEvent():
                self.set_leader(event.leader)

    def _observe_job(self, event: JobEvent) -> None:
        if event.status not in FINISHED_JOB:
            return
        self._job_runs.labels(event.job, event.status).inc()
        # Touch the failure series on every finish so rate() sees it start from zero.
        failures = self._job_failures.labels(event.job)
        if event.status == "error":
            failures.inc()
        if event.duration_ms is not None:
            self._job_seconds.labels(event.job).observe(event.duration_ms / 1000)

    def _first(self, *key: str) -> bool:
        """True the first time ``key`` is seen among the last ``REMEMBERED`` keys."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return True

    async def follow(self, bus: EventBus) -> None:
        """Observe every event published on ``bus`` until cancelled."""
        subscription = bus.subscribe()
        try:
            async for event in subscription:
                self.observe(event)
        finally:
            subscription.close()

    async def watch_loop_lag(self, interval: float = 0.25) -> None:
        """Run until cancelled: how late a sleep wakes is how long something blocked the loop."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - started - interval)
            self._loop_lag.observe(lag)
            self._loop_lag_last.set(lag)

    def set_clients(self, count: int) -> None:
        """How many desks are attached now."""
        self._clients.set(count)

    def set_leader(self, leader: bool) -> None:
        """Whether this engine owns its database (1) or waits as a standby (0)."""
        self._leader.set(1 if leader else 0)

    def set_info(self, *, version: str, venue: str, database_kind: str) -> None:
        """What this engine runs: ``omc_info{version,venue,database_kind} 1``."""
        self._info.info({"version": version, "venue": venue, "database_kind": database_kind})

    # -- scraped -------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Figures computed at scrape time: rows written and how old each quote is."""
        if self._rows_written is not None:
            yield CounterMetricFamily(
                "omc_rows_written",
                "Rows the write-behind stored in the database.",
                value=self._rows_written(),
            )
        now = self._now()
        ages = GaugeMetricFamily(
            "omc_quote_age_seconds", "Age of the newest quote.", labels=["venue", "symbol"]
        )
        oldest: float | None = None
        for (venue, symbol), ts in list(self._quotes.items()):
            # A venue clock slightly ahead of ours makes a fresh quote age 0, not negative.
            age = max(0.0, (now - ts).total_seconds())
            ages.add_metric([venue, symbol], age)
            oldest = age if oldest is None else max(oldest, age)
        yield ages
        if oldest is not None:  # no quote yet: no figure, rather than a reassuring 0
            yield GaugeMetricFamily(
                "omc_quote_age_max_seconds", "Age of the stalest watched quote.", value=oldest
            )

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for an HTTP ``/metrics`` answer."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
