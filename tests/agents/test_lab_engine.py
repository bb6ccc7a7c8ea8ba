"""The Lab in the engine, end to end on the simulated market: scope, study, report, proposal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agents.tracing import UNTRACED_TAG, trace
from engine import config
from engine.api import LabSessionView
from engine.events import LabEvent
from engine.lab import LabError
from engine.local import LocalEngine
from ledgers.clock import ManualClock

GOAL = (
    "Is there a tradable edge in ETH/AUD on 4h over the last 60 days? Use sentiment and catalysts."
)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[LocalEngine]:
    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    s.sources.enabled = False
    clock = ManualClock(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    engine = LocalEngine(s, clock=clock, schedule=False)
    await engine.start()
    await engine.wait_ready()
    await asyncio.wait_for(engine._lab_ready.wait(), 60)
    try:
        yield engine
    finally:
        await engine.stop()


async def settled(engine: LocalEngine, session: str, *statuses: str) -> LabSessionView:
    async with asyncio.timeout(120):
        while True:
            view = (await engine.lab_detail(session)).session
            if view.status in statuses:
                return view
            await asyncio.sleep(0.05)


async def test_a_session_confirms_its_scope_studies_reports_and_proposes(
    engine: LocalEngine,
) -> None:
    events = engine.bus.subscribe()
    view = await engine.lab_start(GOAL)
    view = await settled(engine, view.id, "waiting")
    assert view.waiting is not None and view.waiting["kind"] == "scope"
    assert "ETH/AUD on 4h bars over the last 60 days" in view.waiting["text"]

    with pytest.raises(LabError, match="not waiting for that"):
        await engine.lab_decide(view.id, True)
    await engine.lab_answer(view.id, "1h, 90 days please")  # a change: asked again, with it
    view = await settled(engine, view.id, "waiting")
    assert "ETH/AUD on 1h bars over the last 90 days" in view.waiting["text"]  # type: ignore[index]
    await engine.lab_answer(view.id, "yes")
    view = await settled(engine, view.id, "waiting")  # on this stretch, a strategy passes

    detail = await engine.lab_detail(view.id)
    tools = [r["tool"] for r in detail.results.values()]
    assert tools[:2] == ["scope", "candles"]
    assert {"indicators", "train", "backtest"} <= set(tools)
    assert detail.results["r2"]["result"]["bars"] == 90 * 24  # 1h bars over 90 days
    assert detail.report is not None and "## Models" in detail.report
    assert view.untraced == 0 and UNTRACED_TAG not in detail.report
    values = {rid: {"args": r["args"], "result": r["result"]} for rid, r in detail.results.items()}
    assert trace(detail.report, values).untraced == 0  # the stored report traces as stored
    assert any(s.node == "train" for s in detail.steps)
    seen = [e for e in await events.batch() if isinstance(e, LabEvent) and e.session == view.id]
    assert {"step", "waiting"} <= {e.what for e in seen}

    assert view.waiting is not None and view.waiting["kind"] == "proposal"
    with pytest.raises(LabError, match="not waiting for that"):
        await engine.lab_answer(view.id, "yes")
    await engine.lab_decide(view.id, True, allocation=Decimal("1000"))
    view = await settled(engine, view.id, "done")
    assert view.decision == {"decision": "approve", "allocation": "1000"}
    deployments = await engine.deployments()
    assert [d.allocation for d in deployments] == [Decimal("1000")]
    assert deployments[0].backtest_id is not None
    promoted = [b for b in await engine.backtests() if b.promoted_at is not None]
    assert [b.id for b in promoted] == [deployments[0].backtest_id]
    assert all(b.gate_passed for b in promoted)


async def test_a_rejected_proposal_keeps_its_reason_and_trades_nothing(
    engine: LocalEngine,
) -> None:
    view = await engine.lab_start("ETH/AUD 1h over 90 days, no sentiment, no catalysts")
    view = await settled(engine, view.id, "waiting")
    await engine.lab_answer(view.id, "yes")
    view = await settled(engine, view.id, "waiting")
    assert view.waiting is not None and view.waiting["kind"] == "proposal"
    tools = {r["tool"] for r in (await engine.lab_detail(view.id)).results.values()}
    assert not {"human", "sentiment_alignment", "catalysts", "event_study"} & tools
    await engine.lab_decide(view.id, False, reason="too few trades for me")
    view = await settled(engine, view.id, "done")
    assert view.decision == {"decision": "reject", "reason": "too few trades for me"}
    assert await engine.deployments() == []
    steps = (await engine.lab_detail(view.id)).steps
    assert steps[-1].text == "proposal rejected: too few trades for me"


async def test_bad_commands_get_clear_errors(engine: LocalEngine) -> None:
    with pytest.raises(LabError, match="a goal is needed"):
        await engine.lab_start("   ")
    with pytest.raises(LabError, match="no Lab session"):
        await engine.lab_detail("lab-nothing")
    with pytest.raises(LabError, match="budget cannot be negative"):
        await engine.lab_start("BTC", budget=Decimal("-1"))
    with pytest.raises(LabError, match="provider/name"):
        await engine.lab_start("BTC", model="gpt")
    view = await engine.lab_start("BTC/AUD 1d over 200 days")
    await settled(engine, view.id, "waiting")
    cancelled = await engine.lab_cancel(view.id[:8])  # a prefix names it
    assert cancelled.status == "cancelled"
    with pytest.raises(LabError, match="already cancelled"):
        await engine.lab_cancel(view.id)


async def test_a_market_with_no_bars_is_said_plainly(db_url: str) -> None:
    """Offline on the real venue, with nothing collected yet: the study stops at once and
    says why and what to do, rather than failing a backtest later."""
    s = config.load(None, sim={"enabled": False}, database={"url": db_url})
    s.sources.enabled = False
    engine = LocalEngine(
        s, clock=ManualClock(datetime(2026, 11, 20, 9, 30, tzinfo=UTC)), schedule=False
    )
    await engine.start()
    await engine.wait_ready()
    await asyncio.wait_for(engine._lab_ready.wait(), 60)
    try:
        view = await engine.lab_start("ETH/AUD 1h over the last 30 days")
        await settled(engine, view.id, "waiting")
        await engine.lab_answer(view.id, "yes")
        view = await settled(engine, view.id, "failed")
        assert view.error is not None
        assert "no 1h bars of ETH/AUD from coinspot over the last 30 days" in view.error
        assert "--sim" in view.error
        tools = [r["tool"] for r in (await engine.lab_detail(view.id)).results.values()]
        assert "backtest" not in tools and "train" not in tools
    finally:
        await engine.stop()
