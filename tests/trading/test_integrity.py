"""The book survives anything: two commands at once, a kill at every step, a clock sent back,
and a book made inconsistent on purpose — real processes, on both databases."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.simtime import _file
from engine.trading.integrity import CRASH_AT
from ledgers.database import Database

CASH = "1000"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OMC_")}
    return {
        **clean,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OMC_TRADING__STARTING_CASH": CASH,
        "OMC_TRADING__MAX_POSITION_PCT": "100",
        "OMC_TRADING__MAX_ORDER_NOTIONAL": "100000",
        **extra,
    }


def _argv(db_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "omc_tui.cli", "--sim", "--db", db_url, *args]


def omc(db_url: str, tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    done = subprocess.run(
        _argv(db_url, *args), capture_output=True, text=True, timeout=120, env=_env(tmp_path, **env)
    )
    return done.returncode, done.stdout, done.stderr


def at_once(db_url: str, tmp_path: Path, *commands: tuple[str, ...]) -> list[tuple[int, str]]:
    procs = [
        subprocess.Popen(
            _argv(db_url, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
        )
        for args in commands
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out or err))
    return results


def rows(db_url: str, sql: str) -> list[tuple]:
    async def go() -> list[tuple]:
        db = Database(db_url)
        try:
            async with db.engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(sa.text(sql))]
        finally:
            await db.dispose()

    return asyncio.run(go())


def execute(db_url: str, *statements: str) -> None:
    async def go() -> None:
        db = Database(db_url)
        try:
            async with db.engine.begin() as conn:
                for sql in statements:
                    await conn.execute(sa.text(sql))
        finally:
            await db.dispose()

    asyncio.run(go())


def price_of_btc(db_url: str, tmp_path: Path) -> Decimal:
    code, out, err = omc(db_url, tmp_path, "order", "buy", "BTC", "0.0001", "--json")
    assert code == 0, err
    return Decimal(json.loads(out)["fills"][0]["price"])


def book_is_sound(db_url: str, tmp_path: Path) -> None:
    code, out, _ = omc(db_url, tmp_path, "book", "check", "--json")
    assert code == 0 and json.loads(out)["consistent"], out
    code, out, _ = omc(db_url, tmp_path, "pnl", "--json")
    assert code == 0 and Decimal(json.loads(out)["cash"]) >= 0


def test_two_overdrawing_buys_at_once_one_is_refused_for_funds(db_url: str, tmp_path: Path) -> None:
    price = price_of_btc(db_url, tmp_path)
    qty = str((Decimal(650) / price).quantize(Decimal("0.0001")))
    results = at_once(
        db_url,
        tmp_path,
        ("order", "buy", "BTC", qty, "--json"),
        ("order", "buy", "BTC", qty, "--json"),
    )
    outcomes = sorted(json.loads(out)["rule"] for _, out in results)
    assert outcomes == ["insufficient_funds", "ok"], results
    assert sorted(code for code, _ in results) == [0, 1]
    book_is_sound(db_url, tmp_path)


def test_the_same_client_id_from_two_processes_is_one_order(db_url: str, tmp_path: Path) -> None:
    assert omc(db_url, tmp_path, "book", "check")[0] == 0  # an existing, empty book
    args = ("order", "buy", "BTC", "0.0001", "--client-id", "twice-1", "--json")
    results = at_once(db_url, tmp_path, args, args)
    assert [code for code, _ in results] == [0, 0], results
    states = {json.loads(out)["order"]["state"] for _, out in results}
    assert states == {"filled"}  # both callers are told the order's real state
    assert rows(db_url, "SELECT count(*) FROM orders WHERE client_id = 'twice-1'") == [(1,)]
    assert rows(db_url, "SELECT count(*) FROM risk_decisions WHERE client_id = 'twice-1'") == [(1,)]
    assert rows(db_url, "SELECT count(*) FROM fills WHERE client_id = 'twice-1'") == [(1,)]


@pytest.mark.parametrize("step", ["decision", "order", "fills", "portfolio"])
def test_every_crash_point_leaves_a_book_that_replays_and_a_resend_that_behaves(
    db_url: str, tmp_path: Path, step: str
) -> None:
    args = ("order", "buy", "BTC", "0.0001", "--client-id", f"crash-{step}", "--json")
    code, _, _ = omc(db_url, tmp_path, *args, **{CRASH_AT: step})
    assert code == -9  # killed right at that step
    stored = rows(db_url, f"SELECT state FROM orders WHERE client_id = 'crash-{step}'")
    # Decision, order and fills are one transaction: all of it is stored, or none.
    assert stored == ([] if step != "portfolio" else [("filled",)])
    code, out, err = omc(db_url, tmp_path, *args)
    assert code == 0, err
    assert json.loads(out)["order"]["state"] == "filled"
    assert rows(db_url, f"SELECT count(*) FROM fills WHERE client_id = 'crash-{step}'") == [(1,)]
    decisions = f"SELECT count(*) FROM risk_decisions WHERE client_id = 'crash-{step}'"
    assert rows(db_url, decisions) == [(1,)]
    book_is_sound(db_url, tmp_path)


def test_a_clock_sent_back_never_stamps_a_sell_before_its_buy(db_url: str, tmp_path: Path) -> None:
    code, out, err = omc(db_url, tmp_path, "order", "buy", "BTC", "0.001", "--json")
    assert code == 0, err
    bought = json.loads(out)["fills"][0]["ts"]
    # A kill -9 loses the remembered simulated time: it points 50 minutes back.
    back = datetime.fromisoformat(bought) - timedelta(minutes=50)
    saved = json.loads(_file().read_text())  # this test's own data directory
    assert saved
    _file().write_text(json.dumps({key: back.isoformat() for key in saved}))
    code, out, err = omc(db_url, tmp_path, "order", "sell", "BTC", "0.001", "--json")
    assert code == 0, err
    sold = json.loads(out)["fills"][0]["ts"]
    assert datetime.fromisoformat(sold) >= datetime.fromisoformat(bought)
    book_is_sound(db_url, tmp_path)


def test_an_inconsistent_book_opens_halted_and_repair_fixes_what_is_safe(
    db_url: str, tmp_path: Path
) -> None:
    assert omc(db_url, tmp_path, "order", "buy", "BTC", "0.001")[0] == 0
    assert omc(db_url, tmp_path, "order", "sell", "BTC", "0.001")[0] == 0
    # What the soak left behind: the sell recorded before the buy it sells, and a decision
    # whose order was never stored.
    (buy,), (sell,) = rows(db_url, "SELECT seq FROM fills ORDER BY seq")
    execute(
        db_url,
        f"UPDATE fills SET seq = {sell + 100} WHERE seq = {buy}",
        f"UPDATE fills SET seq = {buy} WHERE seq = {sell}",
        f"UPDATE fills SET seq = {sell} WHERE seq = {sell + 100}",
        "INSERT INTO risk_decisions (at, mode, book, client_id, symbol, side, quantity, "
        "origin, allowed, rule, message) VALUES ('2026-12-01 00:00:00.000000', 'paper', "
        "'paper:sim', 'orphan-1', 'BTC/AUD', 'buy', '0.001', 'manual', true, 'ok', 'allowed')"
        if "sqlite" in db_url
        else "INSERT INTO risk_decisions (at, mode, book, client_id, symbol, side, quantity, "
        "origin, allowed, rule, message) VALUES ('2026-12-01 00:00:00+00', 'paper', "
        "'paper:sim', 'orphan-1', 'BTC/AUD', 'buy', 0.001, 'manual', true, 'ok', 'allowed')",
    )
    code, out, err = omc(db_url, tmp_path, "order", "buy", "BTC", "0.001", "--json")
    assert code == 1 and json.loads(out)["rule"] == "book_attention", out + err
    code, out, _ = omc(db_url, tmp_path, "fills", "--json")  # reads still work
    assert code == 0 and len(json.loads(out)) == 2
    code, out, _ = omc(db_url, tmp_path, "book", "check", "--json")
    kinds = {p["kind"] for p in json.loads(out)["problems"]}
    assert code == 1 and kinds == {"unreplayable", "orphan_decision"}, out
    code, out, _ = omc(db_url, tmp_path, "book", "repair")
    assert code == 0 and "re-sequenced 2 fills" in out and "orphan-1" in out, out
    book_is_sound(db_url, tmp_path)
    code, out, _ = omc(
        db_url, tmp_path, "order", "buy", "BTC", "0.001", "--client-id", "orphan-1", "--json"
    )
    assert code == 1 and json.loads(out)["order"]["state"] == "rejected"  # never trades now
    assert omc(db_url, tmp_path, "order", "buy", "BTC", "0.001")[0] == 0
