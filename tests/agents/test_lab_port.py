"""The engine's port on the simulated market: a study's history is made once, kept, and what
the port returns is what the ledgers hold."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from engine import config
from engine.lab_port import EnginePort
from engine.local import LocalEngine
from ledgers import queries
from ledgers.clock import ManualClock

UNTIL = datetime(2026, 11, 20, 9, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=120)


@pytest.fixture
async def port(db_url: str) -> AsyncIterator[EnginePort]:
    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    s.sources.enabled = False
    engine = LocalEngine(s, clock=ManualClock(UNTIL + timedelta(minutes=30)), schedule=False)
    await engine.start()
    await engine.wait_ready()
    await asyncio.wait_for(engine._lab_ready.wait(), 60)
    assert engine.lab is not None
    try:
        yield engine.lab.port
    finally:
        await engine.stop()


async def test_fetched_bars_are_returned_as_stored(port: EnginePort) -> None:
    bars = await port.candles("ETH/AUD", "1h", SINCE, UNTIL)
    assert len(bars) == 120 * 24  # the stored month of the backfill, and the rest fetched
    stored = [
        c
        async for c in queries.iter_candles(
            await port._db(), "ETH/AUD", "1h", venue=port.venue, since=SINCE, until=UNTIL
        )
    ]
    assert list(bars) == stored
    assert list(await port.candles("ETH/AUD", "1h", SINCE, UNTIL)) == stored  # nothing fetched


async def test_simulated_news_is_made_for_the_coin_studied_and_kept(port: EnginePort) -> None:
    items = await port.human("ETH", SINCE, UNTIL)
    assert len(items) > 1000 and all("ETH" in i.currencies for i in items)
    assert items == sorted(items, key=lambda i: i.published)
    assert await port.human("ETH", SINCE, UNTIL) == items  # made once; read the same again
    events = await port.catalysts("ETH", SINCE, UNTIL)
    assert events and all("ETH" in e.currencies for e in events)
    # Another coin's history is made when it is studied, not before.
    earlier = SINCE - timedelta(days=60), SINCE
    db = await port._db()
    _, kept = await queries.browse(db, "human_items", since=earlier[0], until=earlier[1], limit=1)
    assert kept == []
    btc = await port.human("BTC", *earlier)
    assert btc and all("BTC" in i.currencies for i in btc)
    _, kept = await queries.browse(
        db, "human_items", since=earlier[0], until=earlier[1], limit=10**5
    )
    assert len(kept) == len(btc)
