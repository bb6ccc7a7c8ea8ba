"""What the desk's panes and explorer read through the EngineAPI, on a simulated engine."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine import config
from engine.local import LocalEngine
from engine.views import glass_view
from ledgers.clock import ManualClock
from tests.conftest import FROZEN


@pytest.fixture
async def engine(db_url: str):
    s = config.load(None, sim={"enabled": True, "seed": 7}, database={"url": db_url})
    e = LocalEngine(s, clock=ManualClock(FROZEN), schedule=False)
    await e.start()
    await e.wait_ready()
    await e.run_once()
    yield e
    await e.stop()


async def test_panes_read_every_ledger(engine: LocalEngine) -> None:
    items = await engine.human_items(limit=100)
    assert items and all(-1 <= i.score <= 1 and i.published.tzinfo for i in items)
    assert [i.published for i in items] == sorted((i.published for i in items), reverse=True)
    mood = await engine.mood()
    assert mood is not None and 0 <= mood.value <= 100 and mood.label
    glass = await engine.glass()
    assert glass.movers and glass.gas_gwei and glass.gas_gwei > 0 and glass.block_height
    assert {m.metric for m in glass.movers} <= {"tvl_usd", "fees_24h_usd", "chain_tvl_usd"}
    assert all(c.impact in range(1, 11) for c in await engine.catalysts())


async def test_symbol_filter_links_the_feeds(engine: LocalEngine) -> None:
    everything = await engine.human_items(limit=500)
    btc = await engine.human_items(symbol="BTC/AUD", limit=500)
    assert btc and all("BTC" in i.currencies for i in btc)
    assert len(btc) < len(everything)


async def test_browse_search_and_export(engine: LocalEngine, tmp_path: Path) -> None:
    page = await engine.browse("human_items", limit=5)
    assert page.columns[:2] == ("source", "external_id") and len(page.rows) == 5
    word = page.rows[0][page.columns.index("title")].split()[0]
    found = await engine.browse("human_items", search=word.lower(), limit=500)
    assert found.rows and all(
        word.lower() in (r[2] + r[6]).lower() or word.lower() in r[0].lower() for r in found.rows
    )
    target = tmp_path / "human.csv"
    count = await engine.export("human_items", str(target), fmt="csv", symbol="ETH/AUD")
    rows = list(csv.DictReader(target.open()))
    assert count == len(rows) > 0 and all("ETH" in json.loads(r["currencies"]) for r in rows)
    with pytest.raises(ValueError, match="unknown table"):
        await engine.browse("nope")


def test_glass_movers_change_over_a_day() -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = [
        ("d", "aave", "tvl_usd", now - timedelta(hours=25), 100.0),
        ("d", "aave", "tvl_usd", now - timedelta(hours=24), 110.0),
        ("d", "aave", "tvl_usd", now, 121.0),
        ("d", "lido", "tvl_usd", now - timedelta(hours=24), 100.0),
        ("d", "lido", "tvl_usd", now, 99.0),
        ("d", "new", "fees_24h_usd", now - timedelta(hours=1), 5.0),
        ("d", "new", "fees_24h_usd", now, 6.0),
        ("d", "ethereum", "gas_price_gwei", now, 12.5),
        ("d", "ethereum", "block_height", now, 21_000_000.0),
    ]
    view = glass_view(rows, now, limit=5)
    assert [
        (m.entity, round(m.change_pct, 2) if m.change_pct is not None else None)
        for m in view.movers
    ] == [
        ("aave", 10.0),
        ("lido", -1.0),
        ("new", None),  # an hour of history is not a daily change
    ]
    assert view.gas_gwei == 12.5 and view.block_height == 21_000_000
