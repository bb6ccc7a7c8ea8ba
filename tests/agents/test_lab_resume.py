"""A Lab session survives kill -9 of its engine: after a restart it resumes where its
checkpoint stands and completes, with no tool result, backtest or step recorded twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.agents.test_lab_worker import _alive, _children
from tests.engine.test_headless import env
from tests.service.test_failover import SERVICE, launch, omc, stop, wait_for
from tests.trading.test_integrity import rows

GOAL = "ETH/AUD on 1h over the last 365 days, with sentiment and catalysts"


def _omc_command(db_url: str, *args: str) -> list[str]:
    script = Path(sys.executable).parent / "omc"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "omc_tui.cli"]
    return [*base, "--sim", "--speed", "600", "--db", db_url, *args]


def _steps(db_url: str) -> list[tuple]:
    return rows(db_url, "SELECT session_id, node, text FROM lab_entries WHERE kind = 'step'")


def test_a_session_killed_mid_run_resumes_and_records_nothing_twice(
    db_url: str, tmp_path: Path
) -> None:
    engine, log = launch(db_url, tmp_path)
    wait_for(log, "leader")
    run = subprocess.Popen(
        _omc_command(db_url, "lab", "run", GOAL, "--yes", "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env(tmp_path), **SERVICE},
    )
    try:
        deadline = time.monotonic() + 120
        while not any(node == "analyse" for _, node, _ in _steps(db_url)):
            assert time.monotonic() < deadline, f"no analysis step:\n{log.read_text()[-2000:]}"
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        workers = _children(engine.pid)
        assert len(workers) == 1  # the session runs in the engine's Lab worker
        os.kill(engine.pid, signal.SIGKILL)  # mid-run: studies done, training and backtests not
        engine.wait(timeout=10)
        deadline = time.monotonic() + 5  # the worker sees its engine gone and stops at once
        while _alive(workers[0]):
            assert time.monotonic() < deadline, "the Lab worker outlived its killed engine"
            time.sleep(0.02)
    finally:
        run.kill()
        run.wait(timeout=10)
    [(session,)] = rows(db_url, "SELECT id FROM lab_sessions")
    before = rows(db_url, f"SELECT result_id, tool FROM lab_results WHERE session_id = '{session}'")
    assert ("r1", "scope") in before and not any(tool == "report" for _, tool in before)

    engine, log = launch(db_url, tmp_path)
    try:
        wait_for(log, "leader")
        code, out, err = omc(db_url, tmp_path, "lab", "show", session, "--json")
        assert code == 0, err
        shown = json.loads(out)["session"]
        assert shown["status"] == "stopped" and shown["error"] == "the engine stopped mid-run"

        code, out, err = omc(db_url, tmp_path, "lab", "resume", session, "--json")
        assert code == 0, err
        detail = json.loads(out)
        assert detail["session"]["status"] in ("waiting", "done")
        assert detail["report"] and detail["session"]["untraced"] == 0
    finally:
        assert stop(engine) < 5

    results = rows(
        db_url, f"SELECT result_id, tool FROM lab_results WHERE session_id = '{session}'"
    )
    ids = sorted(int(rid[1:]) for rid, _ in results)
    assert ids == list(range(1, len(ids) + 1))  # one result per id, none lost in between
    assert set(before) <= set(results)
    tools = [tool for _, tool in sorted(results, key=lambda r: int(r[0][1:]))]
    assert tools.count("scope") == 1 and tools.count("candles") == 1
    backtests = [rid for rid, tool in results if tool == "backtest"]
    stored = rows(db_url, "SELECT id FROM backtests")
    assert len(stored) == len(backtests)  # a backtest asked again is found, not run twice
    steps = [(node, text) for s, node, text in _steps(db_url) if s == session]
    assert len(steps) == len(set(steps))
