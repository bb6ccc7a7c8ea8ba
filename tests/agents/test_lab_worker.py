"""The Lab's sessions run in a worker process of the engine's: the engine's own process never
loads or runs a study, a worker that dies stops its sessions (resumable) and is started again,
and a worker never outlives its engine."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.sessions import SessionStore
from engine import config
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from ledgers.database import Database
from tests.agents.test_lab_engine import settled
from tests.conftest import FROZEN

ROOT = Path(__file__).resolve().parents[2]
GOAL = "ETH/AUD 1h over the last 365 days, with sentiment and catalysts"


def _children(pid: int) -> list[int]:
    """The Lab workers ``pid`` started."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
            if ppid == pid and b"engine.lab_worker" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[LocalEngine]:
    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    s.sources.enabled = False
    engine = LocalEngine(s, clock=ManualClock(FROZEN), schedule=False)
    await engine.start()
    await engine.wait_ready()
    await asyncio.wait_for(engine._lab_ready.wait(), 60)
    try:
        yield engine
    finally:
        await engine.stop()


SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from datetime import UTC, datetime
    from engine import config
    from engine.local import LocalEngine
    from ledgers.clock import ManualClock

    async def main():
        s = config.load(None, sim={"enabled": True}, database={"url": sys.argv[1]})
        s.sources.enabled = False
        clock = ManualClock(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
        engine = LocalEngine(s, clock=clock, schedule=False)
        await engine.start()
        await engine.wait_ready()
        await engine._lab_ready.wait()
        view = await engine.lab_start("ETH/AUD 1h over 90 days, no sentiment, no catalysts")
        async def settle(*statuses):
            while (v := (await engine.lab_detail(view.id)).session).status not in statuses:
                await asyncio.sleep(0.05)
            return v
        await settle("waiting")
        await engine.lab_answer(view.id, "yes")
        ended = await settle("waiting", "done", "failed")
        detail = await engine.lab_detail(view.id)
        heavy = ("langgraph", "sklearn", "litellm", "agents.graph", "agents.training")
        loaded = sorted(m for m in heavy if m in sys.modules)
        await engine.stop()
        print(json.dumps({"status": ended.status, "error": ended.error, "loaded": loaded,
                          "tools": [r["tool"] for r in detail.results.values()]}))

    asyncio.run(main())
    """
)


def test_the_engines_own_process_never_loads_or_runs_a_study(db_url: str) -> None:
    """A whole session, through to its proposal: the graph, LangGraph and scikit-learn load
    and run in the worker; the engine keeps its interpreter for the book and the desk."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, db_url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == "waiting", out["error"]
    assert {"candles", "indicators", "train", "backtest"} <= set(out["tools"])
    assert out["loaded"] == []


async def test_a_worker_that_dies_stops_its_session_and_resume_finishes_it(
    engine: LocalEngine,
) -> None:
    assert engine.lab is not None
    view = await engine.lab_start(GOAL)
    view = await settled(engine, view.id, "waiting")
    (worker,) = _children(os.getpid())
    await engine.lab_answer(view.id, "yes")
    async with asyncio.timeout(120):  # mid-run: the bars read, the studies not all done
        while not any(s.node == "retrieve" for s in (await engine.lab_detail(view.id)).steps):  # noqa: ASYNC110 - the worker moves it
            await asyncio.sleep(0.02)
    os.kill(worker, signal.SIGKILL)
    view = await settled(engine, view.id, "stopped")
    assert view.error is not None and "the Lab's worker stopped" in view.error
    assert "resume" in view.error

    view = await engine.lab_resume(view.id)  # a new worker takes it from its checkpoint
    view = await settled(engine, view.id, "waiting", "done")
    assert [p for p in _children(os.getpid()) if p != worker]
    detail = await engine.lab_detail(view.id)
    assert detail.report is not None and view.untraced == 0
    ids = sorted(int(r[1:]) for r in detail.results)
    assert ids == list(range(1, len(ids) + 1))  # nothing lost, nothing recorded twice
    tools = [detail.results[f"r{i}"]["tool"] for i in ids]
    assert tools.count("scope") == 1 and tools.count("candles") == 1


async def test_cancel_stops_the_run_in_the_worker(engine: LocalEngine) -> None:
    view = await engine.lab_start(GOAL)
    view = await settled(engine, view.id, "waiting")
    await engine.lab_answer(view.id, "yes")
    view = await engine.lab_cancel(view.id)
    assert view.status == "cancelled"
    steps = len((await engine.lab_detail(view.id)).steps)
    await asyncio.sleep(1.0)  # the worker has stopped it: nothing more is recorded
    detail = await engine.lab_detail(view.id)
    assert detail.session.status == "cancelled" and len(detail.steps) == steps


async def test_a_stopping_engine_stops_its_worker_and_its_running_sessions(
    engine: LocalEngine,
) -> None:
    view = await engine.lab_start(GOAL)
    view = await settled(engine, view.id, "waiting")
    await engine.lab_answer(view.id, "yes")
    (worker,) = _children(os.getpid())
    await engine.stop()
    deadline = time.monotonic() + 10
    while _alive(worker):
        assert time.monotonic() < deadline, "the worker outlived its engine"
        await asyncio.sleep(0.05)
    db = Database(engine.settings.database_url())
    try:
        row = await SessionStore(db).get(view.id)
    finally:
        await db.dispose()
    assert row is not None
    # Stopped mid-run (resumable), or it had reached its proposal before the engine stopped.
    assert row["status"] in ("stopped", "waiting"), row["status"]
    if row["status"] == "stopped":
        assert row["error"] == "the engine stopped mid-run"
