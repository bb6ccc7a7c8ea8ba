"""``omc-engine`` as a real subprocess: --once, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledgers import queries
from ledgers.database import Database


def command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "omc-engine"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "engine.headless", *args]


def env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("OMC_")}
    return {
        **keep,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }


def stats(db_url: str) -> dict[str, int]:
    async def go() -> dict[str, int]:
        db = Database(db_url)
        try:
            return {t: n for t, n, _ in await queries.table_stats(db)}
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_once_runs_every_job_and_exits_zero(db_url: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        command("--sim", "--once", "--db", db_url),
        capture_output=True,
        text=True,
        timeout=120,
        env=env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    logs = [json.loads(line) for line in proc.stdout.splitlines()]  # every line is JSON
    finished = {
        e["event"]["job"] for e in logs if e["msg"] == "job" and e["event"]["status"] == "ok"
    }
    assert finished == {
        "market.tickers",
        "market.book",
        "market.instruments",
        "candles.build",
        "store.flush",
        "store.prune",
        "glass.sim.glass",
        "human.sim.human",
        "catalyst.sim.catalyst",
        "quality.check",
        "trading.orders",
        "trading.mark",
        "trading.strategies",
    }
    rows = stats(db_url)
    assert rows["equity_marks"] == 1  # the book was marked once
    assert rows["tickers"] >= 12 and rows["candles"] > 12 * 6 and rows["order_book_snapshots"] == 1
    assert rows["job_runs"] >= 5
    # The simulator feeds the other ledgers too, with their history on a first start.
    ledgers = ("glass_metrics", "human_items", "mood_readings", "catalyst_events")
    assert min(rows[t] for t in ledgers) > 0, rows


def test_sigterm_flushes_and_exits_zero_within_five_seconds(db_url: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        command("--sim", "--speed", "60", "--db", db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(tmp_path),
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if json.loads(line)["msg"] == "ready":
                break
            assert time.monotonic() < deadline, "engine never became ready"
        time.sleep(2.5)  # a couple of polls and a flush cycle
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rest, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert elapsed < 5.0
    last = json.loads(rest.splitlines()[-1])
    assert last["msg"] == "engine stopped"
    rows = stats(db_url)
    # At speed 60 each poll brings ~60 ticks per symbol; all of them reached the database.
    assert rows["tickers"] >= 12 * 60
    assert last["event"]["rows_written"] >= rows["tickers"]
