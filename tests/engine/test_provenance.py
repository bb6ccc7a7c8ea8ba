"""A desk on live data never shows simulated rows, and a simulated desk never shows real ones."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from engine import config
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from ledgers.database import Database
from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem, MoodReading
from ledgers.provenance import is_simulated
from ledgers.quality import measure
from ledgers.sources.ccxt_market import CcxtMarket
from ledgers.store import LedgerStore
from tests.conftest import FROZEN
from tests.engine.cli.shell import run
from tests.ledgers.fake_exchange import FakeExchange

REAL = Collected(
    glass=tuple(
        GlassMetric("defillama", "aave", "tvl_usd", FROZEN - timedelta(hours=h), 1.2e10 + h)
        for h in (0, 20)
    ),
    human=(
        HumanItem(
            "rss:coindesk",
            "https://www.coindesk.com/markets/btc-rally",
            "Bitcoin rallies as ETF inflows return",
            "https://www.coindesk.com/markets/btc-rally",
            FROZEN - timedelta(minutes=5),
            0.6,
            "Bitcoin rose 4% on Tuesday as inflows returned.",
            ("BTC",),
        ),
    ),
    mood=(MoodReading("feargreed", FROZEN - timedelta(hours=1), 71, "Greed"),),
    catalysts=(
        CatalystEvent(
            "sec",
            "0001679788-26-000101",
            "filing_8k",
            "Coinbase Global 8-K",
            "https://www.sec.gov/Archives/edgar/data/1679788/000167978826000101/",
            FROZEN - timedelta(hours=2),
            6,
            ("BTC",),
        ),
    ),
)


def _settings(db_url: str, *, sim: bool) -> config.Settings:
    s = config.load(None, sim={"enabled": sim, "seed": 7}, database={"url": db_url})
    s.sources.enabled = False
    return s


async def _sim_rows(db_url: str) -> None:
    """A simulated session has filled every ledger with ``sim`` rows."""
    engine = LocalEngine(_settings(db_url, sim=True), clock=ManualClock(FROZEN), schedule=False)
    await engine.start()
    try:
        await engine.run_once()
    finally:
        await engine.stop()


async def test_a_live_desk_shows_only_real_rows_and_a_sim_desk_only_simulated(
    db_url: str,
) -> None:
    await _sim_rows(db_url)
    db = Database(db_url)
    try:
        await LedgerStore(db).write_collected(REAL)
    finally:
        await db.dispose()
    clock = ManualClock(FROZEN)
    venue = CcxtMarket(exchange=FakeExchange(timestamp_ms=None), clock=clock)
    engine = LocalEngine(_settings(db_url, sim=False), clock=clock, source=venue, schedule=False)
    await engine.start()
    try:
        await engine.wait_ready()
        assert [c.source for c in await engine.catalysts()] == ["sec"]
        assert [i.source for i in await engine.human_items()] == ["rss:coindesk"]
        mood = await engine.mood()
        assert mood is not None and mood.source == "feargreed"
        glass = await engine.glass()
        assert [m.entity for m in glass.movers] == ["aave"] and glass.gas_gwei is None

        await engine.use_simulated_market()
        catalysts = await engine.catalysts()
        assert catalysts and {c.source for c in catalysts} == {"sim"}
        items = await engine.human_items(limit=200)
        assert items and all(i.source.startswith("sim") for i in items)
        mood = await engine.mood()
        assert mood is not None and mood.source.startswith("sim")
        assert "aave" not in {m.entity for m in (await engine.glass()).movers}
    finally:
        await engine.stop()


async def test_quality_judges_only_the_sources_of_the_data_in_use(db_url: str) -> None:
    await _sim_rows(db_url)
    db = Database(db_url)
    try:
        await LedgerStore(db).write_collected(REAL)
        live = await measure(db, FROZEN, simulated=False)
        sim = await measure(db, FROZEN, simulated=True)
    finally:
        await db.dispose()
    assert {s.source for s in live.sources} == {"defillama", "rss:coindesk", "feargreed", "sec"}
    assert sim.sources and all(s.source.startswith("sim") for s in sim.sources)


async def test_omc_quality_reports_only_the_configured_datas_sources(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await _sim_rows(db_url)
    db = Database(db_url)
    try:
        await LedgerStore(db).write_collected(REAL)
    finally:
        await db.dispose()
    live = await asyncio.to_thread(run, capsys, "quality", "--json", "--db", db_url)
    sim = await asyncio.to_thread(run, capsys, "quality", "--json", "--sim", "--db", db_url)
    live_sources = {s["source"] for s in json.loads(live[1])["sources"]}
    sim_sources = {s["source"] for s in json.loads(sim[1])["sources"]}
    assert {"defillama", "sec", "feargreed", "rss:coindesk"} <= live_sources
    assert not any(is_simulated(s) for s in live_sources)
    assert sim_sources and all(is_simulated(s) for s in sim_sources)
