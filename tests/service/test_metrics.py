"""The engine's Prometheus metrics: real events in, the parsed exposition text out."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.bus import EventBus
from engine.events import (
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
from engine.service.metrics import EngineMetrics

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics: EngineMetrics) -> Samples:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def label_values(samples: Samples) -> set[str]:
    return {v for _, labels in samples for _, v in labels}


def job(status: str, duration_ms: float | None = None, name: str = "store.flush") -> JobEvent:
    error = "database is locked" if status == "error" else None
    return JobEvent(name, status, T0, rows=3, error=error, duration_ms=duration_ms)


def quote(symbol: str, seconds: float, venue: str = "coinspot") -> QuoteEvent:
    return QuoteEvent(venue, symbol, T0 + timedelta(seconds=seconds), last=100.0)


def order(client_id: str, state: str, filled: str = "0", origin: str = "manual") -> OrderEvent:
    return OrderEvent(
        client_id=client_id,
        mode="paper",
        book="paper:sim",
        symbol="BTC/AUD",
        side="buy",
        type="limit",
        quantity=Decimal("0.5"),
        limit_price=Decimal("100000"),
        state=state,
        filled=Decimal(filled),
        average_price=None,
        fees=Decimal(0),
        origin=origin,
        created_at=T0,
        updated_at=T0,
    )


def fill(fill_id: str, side: str, quantity: str, price: str, fee: str) -> FillEvent:
    return FillEvent(
        fill_id=fill_id,
        client_id="c-1",
        mode="paper",
        book="paper:sim",
        symbol="BTC/AUD",
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal(fee),
        liquidity="taker",
        ts=T0,
    )


def refusal(rule: str, allowed: bool = False, origin: str = "manual") -> RiskEvent:
    message = f"refused by {rule}: order notional 5000 over 1000"
    return RiskEvent(T0, allowed, rule, message, "BTC/AUD", "buy", origin, client_id="c-9")


def test_job_runs_failures_and_durations() -> None:
    metrics = EngineMetrics()
    for event in (
        job("running"),
        job("ok", 20.0),
        job("running"),
        job("error", 1500.0),
        job("skipped"),
        job("paused"),
        job("resumed"),
    ):
        metrics.observe(event)
    s = scrape(metrics)
    assert value(s, "omc_job_runs_total", job="store.flush", status="ok") == 1
    assert value(s, "omc_job_runs_total", job="store.flush", status="error") == 1
    assert value(s, "omc_job_runs_total", job="store.flush", status="skipped") == 1
    assert value(s, "omc_job_runs_total", job="store.flush", status="running") is None
    assert value(s, "omc_job_runs_total", job="store.flush", status="paused") is None
    assert value(s, "omc_job_failures_total", job="store.flush") == 1
    assert value(s, "omc_job_duration_seconds_count", job="store.flush") == 2
    assert value(s, "omc_job_duration_seconds_sum", job="store.flush") == pytest.approx(1.52)
    assert value(s, "omc_job_duration_seconds_bucket", job="store.flush", le="0.025") == 1
    assert value(s, "omc_job_duration_seconds_bucket", job="store.flush", le="2.5") == 2
    assert value(s, "omc_job_duration_seconds_bucket", job="store.flush", le="60.0") == 2
    assert "database is locked" not in label_values(s)


def test_a_job_that_never_failed_shows_zero_failures() -> None:
    metrics = EngineMetrics()
    metrics.observe(job("ok", 1.0, name="market.tickers"))
    assert value(scrape(metrics), "omc_job_failures_total", job="market.tickers") == 0


def test_ledger_rows_and_rows_written_read_at_scrape_time() -> None:
    written = [10]
    metrics = EngineMetrics(rows_written=lambda: written[0])
    metrics.observe(LedgerEvent("glass", "defillama", 3, T0))
    metrics.observe(LedgerEvent("glass", "defillama", 4, T0))
    metrics.observe(LedgerEvent("human", "rss", 2, T0))
    s = scrape(metrics)
    assert value(s, "omc_ledger_rows_total", ledger="glass", source="defillama") == 7
    assert value(s, "omc_ledger_rows_total", ledger="human", source="rss") == 2
    assert value(s, "omc_rows_written_total") == 10
    written[0] = 25
    assert value(scrape(metrics), "omc_rows_written_total") == 25


def test_without_a_writer_there_is_no_rows_written_figure() -> None:
    assert "omc_rows_written_total" not in names(scrape(EngineMetrics()))


def test_feed_health() -> None:
    metrics = EngineMetrics()
    metrics.observe(FeedEvent("coinspot", "ok", T0))
    metrics.observe(FeedEvent("defillama", "degraded", T0, error="HTTP 503"))
    metrics.observe(FeedEvent("rss", "ok", T0))
    metrics.observe(FeedEvent("rss", "down", T0, error="timed out"))
    metrics.observe(FeedEvent("reddit", "starting", T0))
    s = scrape(metrics)
    assert value(s, "omc_feed_up", feed="coinspot") == 1
    assert value(s, "omc_feed_up", feed="defillama") == 0.5
    assert value(s, "omc_feed_up", feed="rss") == 0
    assert value(s, "omc_feed_up", feed="reddit") is None
    assert not {"HTTP 503", "timed out"} & label_values(s)


def test_quote_age_from_the_injected_clock() -> None:
    now = [T0 + timedelta(seconds=12)]
    metrics = EngineMetrics(now=lambda: now[0])
    assert "omc_quote_age_max_seconds" not in names(scrape(metrics))
    metrics.observe(quote("BTC/AUD", 0))
    metrics.observe(quote("BTC/AUD", 5))
    metrics.observe(quote("BTC/AUD", 2))  # arrives late: the newest quote still counts
    metrics.observe(quote("ETH/AUD", 0))
    s = scrape(metrics)
    assert value(s, "omc_quote_age_seconds", venue="coinspot", symbol="BTC/AUD") == 7
    assert value(s, "omc_quote_age_seconds", venue="coinspot", symbol="ETH/AUD") == 12
    assert value(s, "omc_quote_age_max_seconds") == 12
    now[0] = T0 + timedelta(seconds=20)
    assert value(scrape(metrics), "omc_quote_age_max_seconds") == 20


def test_a_quote_from_a_clock_ahead_is_age_zero() -> None:
    metrics = EngineMetrics(now=lambda: T0)
    metrics.observe(quote("BTC/AUD", 3))
    assert value(scrape(metrics), "omc_quote_age_seconds", venue="coinspot", symbol="BTC/AUD") == 0


def test_symbols_leaving_the_watchlist_stop_being_reported() -> None:
    metrics = EngineMetrics(now=lambda: T0 + timedelta(seconds=10))
    metrics.observe(quote("BTC/AUD", 4))
    metrics.observe(quote("ETH/AUD", 0))
    metrics.observe(ModeEvent("PAPER", "SIM", "local", "coinspot", watchlist=("BTC/AUD",)))
    s = scrape(metrics)
    assert value(s, "omc_quote_age_seconds", venue="coinspot", symbol="ETH/AUD") is None
    assert value(s, "omc_quote_age_max_seconds") == 6


def test_orders_count_each_state_once_per_order() -> None:
    metrics = EngineMetrics()
    for event in (
        order("c-1", "open"),
        order("c-1", "open"),  # the same message published twice
        order("c-1", "partially_filled", "0.1"),
        order("c-1", "partially_filled", "0.3"),
        order("c-1", "filled", "0.5"),
        order("c-1", "filled", "0.5"),
        order("c-2", "open"),
        order("c-3", "rejected", origin="strategy"),
    ):
        metrics.observe(event)
    s = scrape(metrics)

    def orders(state: str, origin: str = "manual") -> float | None:
        return value(s, "omc_orders_total", book="paper:sim", state=state, origin=origin)

    assert orders("open") == 2
    assert orders("partially_filled") == 1
    assert orders("filled") == 1
    assert orders("rejected", "strategy") == 1
    assert not {"c-1", "c-2", "c-3"} & label_values(s)


def test_fills_notional_and_fees() -> None:
    metrics = EngineMetrics()
    metrics.observe(fill("f-1", "buy", "0.5", "100000", "25"))
    metrics.observe(fill("f-1", "buy", "0.5", "100000", "25"))  # republished: counted once
    metrics.observe(fill("f-2", "buy", "0.25", "100100", "12.5125"))
    metrics.observe(fill("f-3", "sell", "0.1", "101000", "-1.01"))  # maker rebate
    s = scrape(metrics)
    assert value(s, "omc_fills_total", book="paper:sim", side="buy") == 2
    assert value(s, "omc_fills_total", book="paper:sim", side="sell") == 1
    assert value(s, "omc_fill_notional_total", book="paper:sim") == pytest.approx(85125.0)
    assert value(s, "omc_fees_total", book="paper:sim") == pytest.approx(37.5125)


def test_risk_refusals_by_rule() -> None:
    metrics = EngineMetrics()
    metrics.observe(refusal("max_notional", allowed=True))
    metrics.observe(refusal("max_notional"))
    metrics.observe(refusal("max_notional"))
    metrics.observe(refusal("kill_switch", origin="strategy"))
    s = scrape(metrics)
    assert value(s, "omc_risk_refusals_total", rule="max_notional", origin="manual") == 2
    assert value(s, "omc_risk_refusals_total", rule="kill_switch", origin="strategy") == 1
    assert not any(v.startswith("refused by") for v in label_values(s))
    assert "c-9" not in label_values(s)


def test_equity_and_cash_follow_the_newest_portfolio() -> None:
    metrics = EngineMetrics()
    for equity, cash in (("10000", "10000"), ("10250.75", "4000.25")):
        metrics.observe(
            PortfolioEvent(
                mode="paper",
                book="paper:sim",
                at=T0,
                quote="AUD",
                equity=Decimal(equity),
                cash=Decimal(cash),
                market_value=Decimal(equity) - Decimal(cash),
                unrealized=Decimal("250.75"),
                realized=Decimal(0),
            )
        )
    s = scrape(metrics)
    assert value(s, "omc_equity", book="paper:sim") == 10250.75
    assert value(s, "omc_cash", book="paper:sim") == 4000.25


def test_quality_scores() -> None:
    metrics = EngineMetrics()
    metrics.observe(QualityEvent(T0, 0.8, {"exchange": 1.0, "glass": 0.6}))
    s = scrape(metrics)
    assert value(s, "omc_quality_score", ledger="exchange") == 1.0
    assert value(s, "omc_quality_score", ledger="glass") == 0.6
    assert value(s, "omc_quality_overall_score") == 0.8


def test_leader_clients_and_info() -> None:
    metrics = EngineMetrics()
    assert value(scrape(metrics), "omc_leader") == 0
    metrics.set_leader(True)
    assert value(scrape(metrics), "omc_leader") == 1
    metrics.observe(LeaderEvent(T0, False, "4242@other 10.0.0.7:8765", reason="lease lost"))
    metrics.set_clients(3)
    metrics.set_info(version="0.1.0", venue="coinspot", database_kind="postgresql")
    s = scrape(metrics)
    assert value(s, "omc_leader") == 0
    assert value(s, "omc_attached_clients") == 3
    info = {"version": "0.1.0", "venue": "coinspot", "database_kind": "postgresql"}
    assert value(s, "omc_info", **info) == 1


async def test_loop_lag_records_a_blocking_call() -> None:
    metrics = EngineMetrics()
    watcher = asyncio.create_task(metrics.watch_loop_lag(interval=0.01))
    await asyncio.sleep(0)  # the watcher starts its sleep
    time.sleep(0.06)  # noqa: ASYNC251 — the blocking call this metric exists to catch
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if value(scrape(metrics), "omc_event_loop_lag_seconds_count"):
                break
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    s = scrape(metrics)
    count = value(s, "omc_event_loop_lag_seconds_count") or 0
    assert count >= 1
    # Blocked 60 ms against a 10 ms sleep: that wake was at least 50 ms late (a little
    # margin for float rounding); later wakes may be on time again, never negative.
    assert (value(s, "omc_event_loop_lag_seconds_sum") or 0) >= 0.045
    assert (value(s, "omc_event_loop_lag_last_seconds") or 0) >= 0
    assert (value(s, "omc_event_loop_lag_seconds_bucket", le="0.01") or 0) < count


async def test_follow_observes_the_bus() -> None:
    bus = EventBus()
    metrics = EngineMetrics()
    follower = asyncio.create_task(metrics.follow(bus))
    await asyncio.sleep(0)  # subscribed
    bus.publish(job("ok", 5.0))
    bus.publish(FeedEvent("coinspot", "down", T0))
    for _ in range(10):
        await asyncio.sleep(0)
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)
    s = scrape(metrics)
    assert value(s, "omc_job_runs_total", job="store.flush", status="ok") == 1
    assert value(s, "omc_feed_up", feed="coinspot") == 0
    assert not bus._subscribers  # the subscription closed with the task


def test_two_engines_in_one_process_do_not_share_state() -> None:
    first, second = EngineMetrics(), EngineMetrics()
    first.observe(job("ok", 1.0))
    first.set_clients(2)
    s = scrape(second)
    assert value(s, "omc_job_runs_total", job="store.flush", status="ok") is None
    assert value(s, "omc_attached_clients") == 0
    assert value(scrape(first), "omc_attached_clients") == 2
