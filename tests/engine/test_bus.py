"""The event bus: quotes coalesce for slow readers, other events are never dropped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from engine.bus import EventBus
from engine.events import (
    BookEvent,
    CandleEvent,
    FeedEvent,
    JobEvent,
    ModeEvent,
    QuoteEvent,
    from_json,
    to_json,
)

T = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


async def test_slow_subscriber_gets_latest_quote_per_symbol_and_every_job_event() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    for i in range(1000):
        bus.publish(QuoteEvent("sim", "BTC/AUD", T, 100.0 + i))
        bus.publish(QuoteEvent("sim", "ETH/AUD", T, 10.0 + i))
        if i % 100 == 0:
            bus.publish(JobEvent("market.tickers", "ok", T, rows=i))
    batch = await sub.batch()
    quotes = [e for e in batch if isinstance(e, QuoteEvent)]
    jobs = [e for e in batch if isinstance(e, JobEvent)]
    assert {q.symbol: q.last for q in quotes} == {"BTC/AUD": 1099.0, "ETH/AUD": 1009.0}
    assert [j.rows for j in jobs] == list(range(0, 1000, 100))


async def test_closed_candles_are_kept_forming_ones_coalesce() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    for minute in range(3):
        ts = T.replace(minute=minute)
        for close in (1.0, 2.0):
            bus.publish(CandleEvent("sim", "BTC/AUD", "1m", ts, 1, 2, 1, close, 1, closed=False))
        bus.publish(CandleEvent("sim", "BTC/AUD", "1m", ts, 1, 2, 1, 2.0, 1, closed=True))
    batch = await sub.batch()
    assert [e.ts.minute for e in batch if e.closed] == [0, 1, 2]
    forming = [e for e in batch if not e.closed]
    assert len(forming) == 1 and forming[0].ts.minute == 2  # only the newest forming state


async def test_waiting_reader_wakes_on_publish_and_close_ends_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    got: list[object] = []

    async def read() -> None:
        async for event in sub:
            got.append(event)

    task = asyncio.create_task(read())
    await asyncio.sleep(0)
    bus.publish(FeedEvent("sim.market", "ok", T))
    await asyncio.sleep(0.01)
    bus.close()
    await asyncio.wait_for(task, 1)
    assert [type(e).__name__ for e in got] == ["FeedEvent"]


def test_events_round_trip_through_json() -> None:
    events = [
        QuoteEvent("coinspot", "BTC/AUD", T, 150000.5, 150000.0, 150001.0, -1.25, 12.5, 1.9e6),
        CandleEvent("sim", "ETH/AUD", "1h", T, 1.0, 2.0, 0.5, 1.5, 10.0, True),
        BookEvent("sim", "BTC/AUD", T, ((1.0, 2.0),), ((3.0, 4.0),)),
        JobEvent("store.flush", "error", T, 0, "boom", 1.5, T),
        FeedEvent("coinspot.market", "down", T, "NetworkError", T),
        ModeEvent("PAPER", "SIM", "local", "sim", ("BTC/AUD",)),
    ]
    for event in events:
        assert from_json(to_json(event)) == event


def test_quality_and_ledger_events_round_trip() -> None:
    from engine.events import LedgerEvent, QualityEvent

    for event in (
        QualityEvent(T, 0.82, {"exchange": 1.0, "glass": 0.64}, True, ("glass 0.64",)),
        LedgerEvent("human", "rss:coindesk", 12, T),
    ):
        assert from_json(to_json(event)) == event
