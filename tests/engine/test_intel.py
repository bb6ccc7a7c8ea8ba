"""Collectors as engine jobs: whole writes, failures isolated and backed off, quality alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from engine import config
from engine.events import FeedEvent, LedgerEvent, QualityEvent
from engine.intel import IntelFeeds, live_collectors
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from ledgers.intel import Collected, GlassMetric, HumanItem
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy
from ledgers.sources.sim import SimMarket
from ledgers.sources.sim.intel import SimCatalystCollector, SimGlassCollector, SimHumanCollector
from tests.conftest import FROZEN


class Scripted:
    """A collector whose next runs are scripted: a batch to return or an error to raise."""

    ledger = "glass"
    interval = 60.0

    def __init__(self, name: str, *results: Collected | Exception) -> None:
        self.name = name
        self.results = list(results)

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


def metric(value: float) -> GlassMetric:
    return GlassMetric("scripted", "aave", "tvl_usd", FROZEN, value)


@pytest.fixture
async def engine(db_url: str):
    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    e = LocalEngine(s, clock=ManualClock(FROZEN), schedule=False)
    await e.start()
    await e.wait_ready()
    yield e
    await e.stop()


async def test_a_failing_source_writes_nothing_and_never_stops_the_others(
    engine: LocalEngine,
) -> None:
    assert engine.intel is not None
    good = Scripted("good", Collected(glass=(metric(1.0),)))
    bad = Scripted("bad", SourceError("bad: HTTP 503 from https://x.test (after 4 attempts)"))
    engine.intel.install([good, bad])
    sub = engine.bus.subscribe()
    failed = await engine.run_job("glass.bad")
    ok = await engine.run_job("glass.good")
    ticks = await engine.run_job("market.tickers")
    events = await sub.batch()
    assert failed.status == "error" and "HTTP 503" in (failed.last_error or "")
    assert ok.status == "ok" and ok.last_rows == 1 and ticks.status == "ok"
    feeds = {e.feed: e.status for e in events if isinstance(e, FeedEvent)}
    assert feeds["bad"] == "down" and feeds["good"] == "ok"
    assert [(e.source, e.rows) for e in events if isinstance(e, LedgerEvent)] == [("good", 1)]
    snapshot_feeds = {f.feed: f.status for f in engine.snapshot().feeds}
    assert snapshot_feeds["bad"] == "down"
    page = await engine.browse("glass_metrics", search="scripted")
    assert len(page.rows) == 1


async def test_a_batch_that_cannot_be_stored_leaves_nothing(engine: LocalEngine) -> None:
    assert engine.intel is not None
    broken = HumanItem("x", "1", "t", "u", FROZEN, 7.0)  # score out of range: the database refuses
    engine.intel.install([Scripted("mixed", Collected(glass=(metric(2.0),), human=(broken,)))])
    status = await engine.run_job("glass.mixed")
    assert status.status == "error"
    assert (await engine.browse("glass_metrics", search="scripted")).rows == ()


async def test_quality_check_publishes_and_alerts_when_sources_are_silent(
    engine: LocalEngine,
) -> None:
    assert engine.intel is not None
    engine.intel.install([Scripted("silent", SourceError("down"))])
    await engine.run_job("market.tickers")
    await engine.run_job("store.flush")
    sub = engine.bus.subscribe()
    await engine.run_job("quality.check")
    (quality,) = [e for e in await sub.batch() if isinstance(e, QualityEvent)]
    assert quality.ledgers["exchange"] == 1.0
    assert quality.ledgers["glass"] < 1.0  # "silent" is expected and wrote nothing
    assert engine.snapshot().quality == quality


def test_live_collectors_follow_the_config() -> None:
    s = config.load(None)

    async def instruments():
        return []

    names = {c.name for c in live_collectors(s, instruments)}
    assert {
        "defillama",
        "evm:ethereum",
        "rss:coindesk",
        "reddit",
        "feargreed",
        "sec",
        "coinspot",
        "listings",
        "snapshot",
    } <= names
    assert "cryptopanic" not in names  # no token configured
    s.sources.disabled = ["reddit", "sec"]
    s.sources.cryptopanic_token = "tok"  # type: ignore[assignment]
    names = {c.name for c in live_collectors(s, instruments)}
    assert "reddit" not in names and "sec" not in names and "cryptopanic" in names
    s.sources.enabled = False
    assert live_collectors(s, instruments) == []


async def test_collectors_use_the_shared_policy_with_retries() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(
            200,
            json={
                "name": "Fear and Greed Index",
                "data": [
                    {"value": "40", "value_classification": "Fear", "timestamp": "1763625600"}
                ],
                "metadata": {"error": None},
            },
        )

    from engine.bus import EventBus
    from engine.jobs import JobRunner
    from ledgers.sources.human import FearGreedCollector

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    http = HttpPolicy(transport=httpx.MockTransport(handler), sleep=sleep)
    bus = EventBus()
    stored: list[Collected] = []

    class Store:
        async def write_collected(self, batch: Collected) -> int:
            stored.append(batch)
            return batch.rows

    feeds = IntelFeeds(
        bus,
        JobRunner(bus, lambda r: None, ManualClock(FROZEN)),
        ManualClock(FROZEN),
        lambda: Store(),
        http,
    )  # type: ignore[arg-type, return-value]
    rows = await feeds.run(FearGreedCollector())
    assert rows == 1 and waits == [1.0] and len(calls) == 2
    assert stored[0].mood[0].value == 40.0
    await http.aclose()


async def test_the_simulated_ledgers_score_well_once_collected(engine: LocalEngine) -> None:
    await engine.run_once()
    quality = engine.snapshot().quality
    assert quality is not None and not quality.alert, quality.failing
    assert set(quality.ledgers) == {"exchange", "glass", "human", "catalyst"}
    assert quality.ledgers["catalyst"] > 0.9


async def test_one_run_backfills_the_simulated_ledgers(engine: LocalEngine) -> None:
    await engine.run_once()
    stats = {t.table: t for t in await engine.ledger_stats()}
    feed = await engine.catalysts()
    oldest = {}
    for table in ("glass_metrics", "mood_readings"):
        page = await engine.browse(table, limit=100_000)  # newest first
        oldest[table] = FROZEN - page.rows[-1][page.columns.index("ts")]
    assert stats["catalyst_events"].rows >= 60  # a few a day for thirty days
    assert len(feed) == 50 and FROZEN - timedelta(days=2) < feed[0].occurred <= FROZEN
    assert oldest["glass_metrics"] > timedelta(days=29)
    assert oldest["mood_readings"] > timedelta(days=2)


async def test_a_restart_fills_only_the_gap_and_duplicates_nothing(db_url: str) -> None:
    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    clock = ManualClock(FROZEN)
    first = LocalEngine(s, clock=clock, schedule=False)
    await first.start()
    await first.wait_ready()
    await first.run_once()
    await first.stop()

    clock.advance(timedelta(hours=5).total_seconds())
    second = LocalEngine(s, clock=clock, schedule=False)
    await second.start()
    await second.wait_ready()
    try:
        gap = {name: (await second.run_job(name)).last_rows for name in second.jobs.names()}
        stored = {t.table: t.rows for t in await second.ledger_stats()}
    finally:
        await second.stop()
    market = SimMarket(s.sim.seed, s.sim.symbols, s.market.quote)
    whole = {}
    for cls in (SimGlassCollector, SimHumanCollector, SimCatalystCollector):
        collector = cls(market, lookback=cls.history + timedelta(hours=5))
        whole[cls.ledger] = await collector.collect(None, clock.now())  # type: ignore[arg-type]
    assert stored["glass_metrics"] == len(whole["glass"].glass)
    assert stored["human_items"] == len(whole["human"].human)
    assert stored["mood_readings"] == len(whole["human"].mood)
    assert stored["catalyst_events"] == len(whole["catalyst"].catalysts)
    assert 0 < gap["glass.sim.glass"] < len(whole["glass"].glass) / 100  # five hours of thirty days
    assert 0 < gap["human.sim.human"] < whole["human"].rows / 5  # five hours of three days
