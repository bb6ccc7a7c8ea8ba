"""The quality monitor's scores and thresholds, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledgers.database import Database
from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem, MoodReading
from ledgers.market import Tick
from ledgers.quality import Thresholds, measure, timeliness
from ledgers.store import LedgerStore

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age_minutes", "expected"),
    [(0, 1.0), (60, 1.0), (120, 1.0), (300, 0.625), (600, 0.0), (10_000, 0.0)],
)
def test_timeliness_curve(age_minutes: int, expected: float) -> None:
    assert timeliness(
        NOW - timedelta(minutes=age_minutes), NOW, timedelta(hours=1)
    ) == pytest.approx(expected)
    assert timeliness(None, NOW, timedelta(hours=1)) == 0.0


async def test_healthy_ledgers_score_high_and_do_not_alert(database: Database) -> None:
    store = LedgerStore(database)
    await store.upsert_ticks(
        [Tick("sim", "BTC/AUD", NOW - timedelta(seconds=s), 100.0, 99.0, 101.0) for s in range(30)]
    )
    await store.write_collected(
        Collected(
            glass=(GlassMetric("defillama", "aave", "tvl_usd", NOW - timedelta(hours=1), 1e10),),
            human=(
                HumanItem(
                    "rss:coindesk",
                    "a",
                    "Bitcoin up",
                    "https://x/a",
                    NOW - timedelta(minutes=5),
                    0.5,
                    "body",
                ),
            ),
            mood=(MoodReading("feargreed", NOW - timedelta(hours=1), 55.0, "Neutral"),),
            catalysts=(
                CatalystEvent(
                    "sec", "1", "filing_8k", "8-K", "https://sec/1", NOW - timedelta(days=1), 6
                ),
            ),
        )
    )
    report = await measure(database, NOW)
    assert set(report.ledgers) == {"exchange", "glass", "human", "catalyst"}
    assert all(score == 1.0 for score in report.ledgers.values())
    assert report.overall == 1.0 and not report.alert and report.failing() == []


async def test_stale_inaccurate_and_missing_sources_pull_scores_down(database: Database) -> None:
    store = LedgerStore(database)
    # Crossed books on half the ticks, and the newest tick 20 minutes old (expected each minute).
    ticks = [
        Tick(
            "coinspot",
            "BTC/AUD",
            NOW - timedelta(minutes=20, seconds=s),
            100.0,
            101.0 if s % 2 else 99.0,
            100.0 if s % 2 else 101.0,
        )
        for s in range(10)
    ]
    await store.upsert_ticks(ticks)
    report = await measure(
        database,
        NOW,
        Thresholds(alert_below=0.8),
        expected={"glass": ["defillama"], "human": ["reddit"]},
    )
    exchange = next(s for s in report.sources if s.ledger == "exchange")
    assert exchange.accuracy == pytest.approx(0.5)
    assert exchange.timeliness == pytest.approx(0.0)
    assert report.ledgers["glass"] == 0.0 and report.ledgers["human"] == 0.0  # expected but silent
    assert report.alert
    assert any("glass/defillama" in x for x in report.failing())


async def test_rows_outside_the_window_do_not_count(database: Database) -> None:
    store = LedgerStore(database)
    await store.upsert_ticks([Tick("sim", "BTC/AUD", NOW - timedelta(days=3), 100.0, 99.0, 101.0)])
    report = await measure(database, NOW)
    assert report.sources == () and report.overall == 0.0


async def test_prefixed_sources_satisfy_their_collector(database: Database) -> None:
    store = LedgerStore(database)
    await store.write_collected(
        Collected(
            human=(HumanItem("reddit:Bitcoin", "t3_x", "HODL", "https://r/x", NOW, 0.2, "b"),)
        )
    )
    report = await measure(database, NOW, expected={"human": ["reddit"]})
    assert [s.source for s in report.sources] == ["reddit:Bitcoin"]


async def test_negative_changes_are_accurate_negative_levels_are_not(database: Database) -> None:
    ts = NOW - timedelta(minutes=30)
    await LedgerStore(database).write_collected(
        Collected(
            glass=(
                GlassMetric("defillama", "aave", "tvl_change_1d_pct", ts, -3.5),
                GlassMetric("defillama", "aave", "tvl_usd", ts, -1.0),
            )
        )
    )
    (glass,) = (await measure(database, NOW)).sources
    assert glass.accuracy == pytest.approx(0.5)
