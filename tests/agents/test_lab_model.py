"""The Lab with a model: the scripted OpenAI-compatible server on loopback, reached through
litellm's real request path with the key from the vault; cost, budget, audit and tracing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from agents.tracing import UNTRACED_TAG
from engine import config
from engine.api import LabSessionView
from engine.local import LocalEngine
from engine.vault import Vault
from ledgers.clock import ManualClock
from tests.agents.scripted_model import ScriptedModel, Text, ToolCalls, serve

KEY = "sk-test-lab-5c2e9a17d3b8"
PASSPHRASE = "a passphrase for the Lab's tests"
SCOPE = {"symbol": "ETH/AUD", "timeframe": "1h", "days": 90, "sentiment": False, "catalysts": False}
NARRATIVE = (
    "## Data\n\nThe study read 2,160 [r2] hourly bars of ETH/AUD.\n\n"
    "## Verdict\n\nThe edge is 73.4% [r2] certain."  # a figure no result holds
)


@pytest.fixture
def scripted() -> Iterator[ScriptedModel]:
    with serve() as model:
        yield model


async def _engine(db_url: str, scripted: ScriptedModel, budget: str | None) -> LocalEngine:
    lab: dict[str, Any] = {"model": "openai/gpt-4o-mini", "base_url": scripted.base_url}
    lab["budget"] = budget
    s = config.load(None, sim={"enabled": True}, database={"url": db_url}, lab=lab)
    s.sources.enabled = False
    engine = LocalEngine(
        s, clock=ManualClock(datetime(2026, 11, 20, 9, 30, tzinfo=UTC)), schedule=False
    )
    await engine.start()
    await engine.wait_ready()
    await asyncio.wait_for(engine._lab_ready.wait(), 60)
    assert engine.db is not None
    vault = await Vault.create(engine.db, SecretStr(PASSPHRASE))
    await vault.add("openai", SecretStr(KEY), kind="model")
    return engine


@pytest.fixture
async def unlocked(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    yield


async def settled(engine: LocalEngine, session: str, *statuses: str) -> LabSessionView:
    async with asyncio.timeout(120):
        while (view := await engine.lab_detail(session)).session.status not in statuses:  # noqa: ASYNC110 - the run's task moves it
            await asyncio.sleep(0.05)
    return view.session


async def test_the_model_reads_the_scope_writes_the_report_and_every_call_is_counted(
    db_url: str, scripted: ScriptedModel, unlocked: None
) -> None:
    engine = await _engine(db_url, scripted, budget=None)
    try:
        scripted.script(
            ToolCalls((("set_scope", json.dumps(SCOPE)),), prompt_tokens=900, completion_tokens=40),
            Text(NARRATIVE, prompt_tokens=3000, completion_tokens=120),
        )
        view = await engine.lab_start("is ether worth trading?")  # the model names the market
        view = await settled(engine, view.id, "waiting")
        assert (
            "ETH/AUD on 1h bars over the last 90 days, using the exchange ledgers"
            in (view.waiting or {})["text"]
        )
        await engine.lab_answer(view.id, "yes")
        view = await settled(engine, view.id, "done", "waiting")
        detail = await engine.lab_detail(view.id)

        assert [r.headers["authorization"] for r in scripted.received] == [f"Bearer {KEY}"] * 2
        assert scripted.received[0].body["tools"][0]["function"]["name"] == "set_scope"
        assert view.calls == 2
        assert (view.prompt_tokens, view.completion_tokens) == (3900, 160)
        # gpt-4o-mini at $0.15 per million prompt tokens and $0.60 per million completion
        # (litellm's price map gives floats: exact to far below a millionth of a cent).
        expected = Decimal(3900) * Decimal("0.15") / 10**6 + Decimal(160) * Decimal("0.60") / 10**6
        assert view.spent.quantize(Decimal("1e-12")) == expected
        assert detail.report is not None
        assert "2,160 [r2]" in detail.report and f"73.4% {UNTRACED_TAG} [r2]" in detail.report
        assert view.untraced == 1
        calls = [s for s in detail.steps if s.kind == "call"]
        assert [c.node for c in calls] == ["scope", "report"]
        audit = json.dumps([e for e in await engine.lab.store.entries(view.id)], default=str)  # type: ignore[union-attr]
        assert "is ether worth trading?" in audit  # the prompt is kept for audit
        assert KEY not in audit and KEY[8:] not in audit
    finally:
        await engine.stop()


async def test_a_budget_stops_the_run_and_a_higher_one_resumes_it(
    db_url: str, scripted: ScriptedModel, unlocked: None
) -> None:
    engine = await _engine(db_url, scripted, budget="0.01")
    try:
        # $0.015 + $0.006: over the budget after the first call.
        scripted.script(
            ToolCalls(
                (("set_scope", json.dumps(SCOPE)),), prompt_tokens=100_000, completion_tokens=10_000
            ),
            Text(NARRATIVE, prompt_tokens=1000, completion_tokens=100),
        )
        view = await engine.lab_start("is ether worth trading?")
        view = await settled(engine, view.id, "waiting")
        await engine.lab_answer(view.id, "yes")
        view = await settled(engine, view.id, "stopped")
        assert view.error == "spent $0.0210 of $0.0100; raise the budget to resume"
        assert len(scripted.received) == 1  # nothing was asked of the model past the budget

        view = await engine.lab_resume(view.id, budget=Decimal("1"))
        view = await settled(engine, view.id, "done", "waiting")
        assert len(scripted.received) == 2
        assert view.calls == 2 and view.budget == Decimal("1")
        detail = await engine.lab_detail(view.id)
        assert [r["tool"] for r in detail.results.values()].count("scope") == 1
    finally:
        await engine.stop()


async def test_a_locked_vault_is_said_before_anything_runs(
    db_url: str, scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMC_VAULT_PASSPHRASE", raising=False)
    engine = await _engine(db_url, scripted, budget=None)
    try:
        from engine.lab import LabError

        with pytest.raises(LabError, match="OMC_VAULT_PASSPHRASE"):
            await engine.lab_start("is ether worth trading?")
        assert await engine.lab_sessions() == []
        assert scripted.received == []
    finally:
        await engine.stop()


async def test_a_replaced_key_is_used_from_the_next_session_on(
    db_url: str, scripted: ScriptedModel, unlocked: None
) -> None:
    """The engine keeps an opened key (no scrypt per session) until the vault's key changes."""
    engine = await _engine(db_url, scripted, budget=None)
    try:
        scope = ToolCalls(
            (("set_scope", json.dumps(SCOPE)),), prompt_tokens=10, completion_tokens=5
        )
        scripted.script(scope, scope)
        first = await engine.lab_start("is ether worth trading?")
        await settled(engine, first.id, "waiting")
        assert engine.db is not None
        vault = await Vault.open(engine.db, SecretStr(PASSPHRASE))
        await vault.add("openai", SecretStr("sk-test-replaced-0b9d"), kind="model")
        second = await engine.lab_start("is ether worth trading?")
        await settled(engine, second.id, "waiting")
        assert [r.headers["authorization"] for r in scripted.received] == [
            f"Bearer {KEY}",
            "Bearer sk-test-replaced-0b9d",
        ]
    finally:
        await engine.stop()
