"""What the desk's Glass, Human and Catalyst panes show, read from the ledgers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.api import CatalystView, GlassMover, GlassView, HumanView, LedgerPage, MoodView

GLASS_METRICS = ("tvl_usd", "fees_24h_usd", "chain_tvl_usd", "gas_price_gwei", "block_height")
NETWORK_METRICS = ("gas_price_gwei", "block_height")


def _columns(page: LedgerPage) -> dict[str, int]:
    return {name: i for i, name in enumerate(page.columns)}


def catalysts(page: LedgerPage) -> list[CatalystView]:
    c = _columns(page)
    return [
        CatalystView(
            r[c["source"]],
            r[c["type"]],
            r[c["title"]],
            r[c["url"]],
            r[c["occurred"]],
            r[c["impact"]],
            tuple(r[c["currencies"]] or ()),
        )
        for r in page.rows
    ]


def human_items(page: LedgerPage) -> list[HumanView]:
    c = _columns(page)
    return [
        HumanView(
            r[c["source"]],
            r[c["title"]],
            r[c["url"]],
            r[c["published"]],
            r[c["score"]],
            tuple(r[c["currencies"]] or ()),
        )
        for r in page.rows
    ]


async def mood(db: Any, *, simulated: bool | None = None) -> MoodView | None:
    from ledgers import queries

    row = await queries.newest_mood(db, simulated=simulated)
    return MoodView(*row) if row else None


async def glass(db: Any, now: datetime, limit: int, *, simulated: bool | None = None) -> GlassView:
    from ledgers import queries

    since = now - timedelta(hours=26)
    rows = await queries.glass_series(db, GLASS_METRICS, since, simulated=simulated)
    return glass_view(rows, now, limit)


def glass_view(
    rows: list[tuple[str, str, str, datetime, float]], now: datetime, limit: int
) -> GlassView:
    """Newest value per (entity, metric) with its change over ~24 hours, biggest movers first."""
    day_ago = now - timedelta(hours=24)
    start: dict[tuple[str, str], tuple[datetime, float]] = {}
    last: dict[tuple[str, str], tuple[datetime, float]] = {}
    for _source, entity, metric, ts, value in rows:  # oldest first
        key = (entity, metric)
        if key not in start or ts <= day_ago:  # the newest value a day ago, else the oldest
            start[key] = (ts, value)
        last[key] = (ts, value)
    movers = []
    for (entity, metric), (ts, value) in last.items():
        if metric in NETWORK_METRICS:
            continue
        start_ts, first = start[(entity, metric)]
        known = first and ts - start_ts >= timedelta(hours=12)
        movers.append(
            GlassMover(entity, metric, value, (value / first - 1) * 100 if known else None)
        )
    movers.sort(key=lambda m: -abs(m.change_pct or 0.0))
    gas = last.get(("ethereum", "gas_price_gwei"))
    height = last.get(("ethereum", "block_height"))
    return GlassView(
        tuple(movers[:limit]), gas[1] if gas else None, int(height[1]) if height else None
    )
