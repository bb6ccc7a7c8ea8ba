"""Twenty kill -9s of a trading engine, with command-line orders between them: the book holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from engine.trading.model import ZERO
from engine.trading.portfolio import Portfolio
from tests.engine.test_headless import env
from tests.trading.test_crash import (
    FAST_ENGINE,
    STRATEGY,
    book,
    deploy,
    orders_match_their_fills,
    start,
)
from tests.trading.test_integrity import rows

KILLS = 20


def omc(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "omc_tui.cli", "--sim", "--speed", "600", "--db", db_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env(tmp_path), **FAST_ENGINE},
    )
    return done.returncode, done.stdout + done.stderr


def test_twenty_kills_with_orders_between_leave_a_sound_book(db_url: str, tmp_path: Path) -> None:
    deploy(db_url)
    eth: Decimal | None = None  # the last price ETH filled at
    for kill in range(KILLS):
        proc = start(db_url, tmp_path)
        try:
            # A command from another process while the engine trades: market, limit, cancel.
            step = kill % 3
            if step == 0 or eth is None:
                code, out = omc(db_url, tmp_path, "order", "buy", "ETH", "0.01", "--json")
                assert code in (0, 1), out  # 1: the risk guard may refuse it
                result = json.loads(out)
                if result["fills"]:
                    eth = Decimal(result["fills"][0]["price"])
            elif step == 1:
                below = str((eth * Decimal("0.95")).quantize(Decimal("0.01")))
                code, out = omc(db_url, tmp_path, "order", "buy", "ETH", "0.01", "--limit", below)
                assert code in (0, 1), out
            else:
                code, out = omc(db_url, tmp_path, "orders", "--open", "--json")
                resting = [o["client_id"] for o in json.loads(out)]
                if resting:
                    assert omc(db_url, tmp_path, "cancel", resting[0])[0] == 0
            time.sleep(0.2 + 0.05 * kill)  # land somewhere different in the engine's work
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    proc = start(db_url, tmp_path)
    try:
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0

    orders, fills = book(db_url)
    ids = [f.fill_id for f in fills]
    assert len(ids) == len(set(ids)), "a fill was stored twice"
    orders_match_their_fills(orders, fills)
    # Replay in recorded order: holdings never negative, cash = start + every fill.
    start_cash = Decimal("10000")
    portfolio = Portfolio.replay(fills, {"AUD": start_cash})
    assert portfolio.cash["AUD"] == start_cash + sum((f.cash_delta for f in fills), ZERO)
    assert portfolio.cash["AUD"] >= ZERO
    # No bar traded twice: a strategy order's client id is its bar, decided once.
    decided = Counter(
        cid
        for (cid,) in rows(db_url, "SELECT client_id FROM risk_decisions")
        if cid and cid.startswith("strat-")
    )
    assert decided and max(decided.values()) == 1
    assert any(o.strategy == STRATEGY and o.filled for o in orders), "the strategy never traded"
    code, out = omc(db_url, tmp_path, "book", "check", "--json")
    assert code == 0 and json.loads(out)["consistent"], out
