"""The Lab's benchmarks, in-process on the simulated market, on SQLite in a temporary directory.

- ``lab_run``: one full session with the scripted model (tests/agents/scripted_model.py,
  reached through litellm, its key in the vault): the model reads the goal into a scope (a
  ``set_scope`` tool call), the user says "yes", and the run studies a year of hourly ETH/AUD
  bars with sentiment and catalysts, trains, backtests, has the model write the report and
  ends at the proposal (or done, when nothing passes the gate). Wall seconds from
  ``lab_start`` to that end (target ≤ 3.0 s), the median of three runs: split at the scope
  question, per node from the steps the session published, and with the time spent opening
  the vault and in full passes of the garbage collector. The heavy imports (litellm,
  scikit-learn, LangGraph) are paid once by an engine that runs for days, so they are timed
  apart, first (``lab_imports_s``), and the timed runs start with them warm; each timed run
  has a new database, so the year of bars and ledger items is made and stored in every one.
- ``lab_tick``: ``tick_latency`` (200 symbols, 10 updates/s each, the desk on screen) over
  15 s instead of 5, while Lab sessions with no model run back to back in the desk's own
  engine (in its Lab worker, as any session), each on another symbol and a year of hourly
  bars (target p99 ≤ 16 ms).

Both start timing with the engine's Lab worker up (``LabHost.warmed``): a desk starts it when
the Lab is opened, and an engine that has run a session keeps it. A worker up has opened the
configured model, so its key is out of the vault (scrypt) before the first goal is typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from pydantic import SecretStr

from engine import config
from engine.events import Event, LabEvent
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from tests.agents.scripted_model import ScriptedModel, Text, ToolCalls, serve

TARGET_S = 3.0
ROUNDS = 3
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
GOAL = "Is there a tradable edge in ether over the last year of hourly bars?"
SCOPE = {"symbol": "ETH/AUD", "timeframe": "1h", "days": 365, "sentiment": True, "catalysts": True}
NARRATIVE = (
    "## Data\n\nThe study read 8,760 [r2] hourly bars of ETH/AUD.\n\n"
    "## Verdict\n\nSee the backtests; nothing here is advice."
)
MODEL = "openai/gpt-4o-mini"
PASSPHRASE = "a passphrase for the Lab's bench"
NODES = ("plan", "scope", "retrieve", "analyse", "train", "evaluate", "report", "propose")
HEAVY = ("litellm", "sklearn.ensemble", "sklearn.linear_model", "langgraph.graph")


def _imports(names: tuple[str, ...] = HEAVY) -> dict[str, float]:
    """Seconds to import each heavy module the Lab uses, in this (fresh) process."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price map download
    took = {}
    for name in names:
        started = time.perf_counter()
        importlib.import_module(name)
        took[name] = round(time.perf_counter() - started, 3)
    return took


@contextlib.contextmanager
def _passphrase() -> Iterator[None]:
    before = os.environ.get("OMC_VAULT_PASSPHRASE")
    os.environ["OMC_VAULT_PASSPHRASE"] = PASSPHRASE
    try:
        yield
    finally:
        if before is None:
            del os.environ["OMC_VAULT_PASSPHRASE"]
        else:
            os.environ["OMC_VAULT_PASSPHRASE"] = before


@contextlib.asynccontextmanager
async def _engine(tmp: Path, model: ScriptedModel) -> AsyncIterator[LocalEngine]:
    from engine.vault import Vault

    lab = {"model": MODEL, "base_url": model.base_url}
    s = config.load(
        tmp / "none.toml",
        sim={"enabled": True},
        database={"url": f"sqlite:///{tmp / 'lab.db'}"},
        lab=lab,
    )
    s.sources.enabled = False
    engine = LocalEngine(s, clock=ManualClock(NOW), schedule=False)
    await engine.start()
    try:
        await engine.wait_ready()
        await asyncio.wait_for(engine._lab_ready.wait(), 60)
        assert engine.db is not None and engine.lab is not None
        vault = await Vault.create(engine.db, SecretStr(PASSPHRASE))
        await vault.add("openai", SecretStr("sk-bench-lab"), kind="model")
        # The Lab's worker up, as when the Lab screen has been opened: its libraries loaded and
        # the configured model opened, its key out of the vault.
        await engine.lab.warmed()
        yield engine
    finally:
        await engine.stop()


class _Pauses:
    """What a session spends outside the Lab's own code, so a figure says where its time went:
    deriving the vault's key (scrypt, each time the vault is opened) and full passes of the
    garbage collector (their length grows with every module loaded)."""

    def __init__(self) -> None:
        self.vault = 0.0
        self.gc_full = 0.0
        self._gc_started = 0.0

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        from engine import vault

        derive = vault._derive

        async def timed(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return await derive(*args)
            finally:
                self.vault += time.perf_counter() - started

        gc.callbacks.append(self._gc)
        try:
            with mock.patch.object(vault, "_derive", timed):
                yield
        finally:
            gc.callbacks.remove(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif info["generation"] == 2:
            self.gc_full += time.perf_counter() - self._gc_started


class _Timeline:
    """When each Lab event was published, by ``perf_counter``, stamped as it is published."""

    def __init__(self, engine: LocalEngine) -> None:
        self.events: list[tuple[float, LabEvent]] = []
        self._changed = asyncio.Event()
        publish: Callable[[Event], None] = engine.bus.publish

        def stamped(event: Event) -> None:
            if isinstance(event, LabEvent):
                self.events.append((time.perf_counter(), event))
                self._changed.set()
            publish(event)

        engine.bus.publish = stamped  # type: ignore[method-assign]

    async def until(self, session: str, *statuses: str, after: float = 0.0) -> float:
        """The time the session first reached one of ``statuses`` after ``after``."""
        while True:
            for at, e in self.events:
                if at > after and e.session == session and e.what in ("waiting", "status"):
                    if e.status in statuses:
                        return at
                    if e.status in ("failed", "stopped"):
                        raise RuntimeError(f"the Lab session {e.status}: {e.text}")
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 120)

    def nodes(
        self, session: str, start: float, asked: float, answered: float, end: float
    ) -> dict[str, float]:
        """Seconds per node: each ends at its last event, ``plan`` at the scope question and
        ``settle`` at the end; after "yes", ``scope`` includes reopening the session's model."""
        last: dict[str, float] = {}
        for at, e in self.events:
            if e.session == session and e.node and at > answered:
                last[e.node] = at
        out = {"plan": round(asked - start, 3)}
        previous = answered
        for node in NODES[1:]:
            if node in last:
                out[node] = round(last[node] - previous, 3)
                previous = last[node]
        out["settle"] = round(end - previous, 3)
        return out


async def _session(
    engine: LocalEngine,
    timeline: _Timeline,
    goal: str,
    model: ScriptedModel | None = None,
    scope: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One session from ``lab_start`` to the proposal (or done); its times and what it did.
    With ``model``, the model is scripted to read the goal into ``scope`` and write the report."""
    calls = len(model.received) if model else 0
    if model is not None:
        model.script(ToolCalls((("set_scope", json.dumps(scope)),)), Text(NARRATIVE))
    pauses = _Pauses()
    with pauses.counting():
        started = time.perf_counter()
        view = await engine.lab_start(goal)
        asked = await timeline.until(view.id, "waiting", after=started)
        answered = time.perf_counter()
        await engine.lab_answer(view.id, "yes")
        end = await timeline.until(view.id, "waiting", "done", after=answered)
    detail = await engine.lab_detail(view.id)
    if model is not None and len(model.received) - calls != 2:
        raise RuntimeError(f"the model was called {len(model.received) - calls} times, not twice")
    bars = next(r["result"]["bars"] for r in detail.results.values() if r["tool"] == "candles")
    return {
        "total": end - started,
        "to_scope": asked - started,
        "after_yes": end - answered,
        "vault": pauses.vault,
        "gc_full": pauses.gc_full,
        "nodes": timeline.nodes(view.id, started, asked, answered, end),
        "bars": bars,
        "results": len(detail.results),
        "ended": detail.session.waiting["kind"] if detail.session.waiting else "done",
    }


async def _lab_run() -> list[dict[str, Any]]:
    runs = []
    with serve() as model, _passphrase():
        for _ in range(ROUNDS):
            with tempfile.TemporaryDirectory() as tmp:
                async with _engine(Path(tmp), model) as engine:
                    runs.append(await _session(engine, _Timeline(engine), GOAL, model, SCOPE))
    best = min(runs, key=lambda r: r["total"])
    return [
        {
            "figure": "lab_run_s",
            "value": round(statistics.median(r["total"] for r in runs), 3),
            "best": round(best["total"], 3),
            "to_scope_s": round(statistics.median(r["to_scope"] for r in runs), 3),
            "yes_to_end_s": round(statistics.median(r["after_yes"] for r in runs), 3),
            "vault_open_s": round(statistics.median(r["vault"] for r in runs), 3),
            "gc_full_pass_s": round(statistics.median(r["gc_full"] for r in runs), 3),
            "nodes_s_of_best": best["nodes"],
            "bars": best["bars"],
            "results": best["results"],
            "ended_at": best["ended"],
            "rounds": ROUNDS,
            "imports": "warm (timed apart in lab_imports_s)",
            "target": TARGET_S,
        }
    ]


def run_lab() -> list[dict[str, object]]:
    imports = _imports()
    figures: list[dict[str, object]] = [
        {"figure": "lab_imports_s", "value": round(sum(imports.values()), 3), **imports}
    ]
    return figures + asyncio.run(_lab_run())


# -- the desk's ticks while the Lab runs -------------------------------------------------------

TICK_SYMBOLS = ("BTC/AUD", "ETH/AUD", "SOL/AUD", "XRP/AUD", "ADA/AUD", "DOGE/AUD")
TICK_SECONDS = 15.0  # a few whole sessions, each of them some 5 s with the desk's load


def run_tick() -> list[dict[str, object]]:
    """``tick_latency.measure`` with Lab sessions (no model: the rule-based planner and the
    templated report) running back to back in the desk's engine the whole time: first with
    each symbol's year of simulated history made and stored during the window (a symbol's
    first study), then with it stored beforehand (every later study, and any study of a
    market the engine has collected)."""
    return [_tick(stored=False), _tick(stored=True)]


def _tick(*, stored: bool) -> dict[str, object]:
    from tests.bench import tick_latency

    engines: list[LocalEngine] = []
    done: list[dict[str, Any]] = []

    class _Captured(LocalEngine):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            engines.append(self)

    def goal(i: int) -> str:
        return f"{TICK_SYMBOLS[i % len(TICK_SYMBOLS)]} 1h over the last year"

    async def prepare(engine: LocalEngine) -> None:
        await asyncio.wait_for(engine._lab_ready.wait(), 60)
        assert engine.lab is not None
        await engine.lab.warmed()
        if stored:
            timeline = _Timeline(engine)
            for i in range(len(TICK_SYMBOLS)):
                await _session(engine, timeline, goal(i))

    async def sessions() -> None:
        engine = engines[0]
        timeline = _Timeline(engine)
        for i in range(len(TICK_SYMBOLS) * 10):
            done.append(await _session(engine, timeline, goal(i)))

    # An engine that has run the Lab before, with no model: the imports are not a tick's
    # concern (litellm's is not made at all with no model).
    _imports(HEAVY[1:])
    with (
        mock.patch.object(tick_latency, "LocalEngine", _Captured),
        mock.patch.object(tick_latency, "SECONDS", TICK_SECONDS),
    ):
        figure = asyncio.run(tick_latency.measure(sessions, prepare=prepare))
    return {
        **figure,
        "figure": "lab_tick_to_screen_ms" + ("_history_stored" if stored else "_history_made"),
        "seconds": TICK_SECONDS,
        "lab_sessions_finished": len(done),
        "lab_session_s": [round(r["total"], 2) for r in done],
    }
