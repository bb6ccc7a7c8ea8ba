"""omc backtest, strategies, promote, deploy and undeploy as a script uses them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.engine.cli.shell import run


def omc(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "--sim", "--db", db_url, *argv)


def test_backtest_promote_deploy(
    capsys: pytest.CaptureFixture[str], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = omc(
        capsys,
        db_url,
        "backtest",
        "ma_cross",
        "--symbol",
        "BTC",
        "--timeframe",
        "1h",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--json",
    )
    assert code == 0, err
    view = json.loads(out)
    assert view["strategy"] == "ma_cross" and view["params"] == {"fast": 5, "slow": 20}
    assert view["bars"] > 100 and "sharpe" in view["metrics"]
    if not view["gate_passed"]:
        code, _, err = omc(capsys, db_url, "promote", view["id"])
        assert code == 1 and "governance gate" in err
    # With a gate that anything passes, a human may promote and deploy.
    monkeypatch.setenv("OMC_TRADING__GATE_MIN_TRADES", "0")
    monkeypatch.setenv("OMC_TRADING__GATE_MIN_SHARPE", "-1000")
    monkeypatch.setenv("OMC_TRADING__GATE_MAX_DRAWDOWN_PCT", "100")
    code, out, _ = omc(capsys, db_url, "backtest", "rsi", "--symbol", "ETH", "--json")
    passed = json.loads(out)
    assert passed["gate_passed"]
    code, _, err = omc(capsys, db_url, "deploy", passed["id"])
    assert code == 1 and "not promoted" in err
    assert omc(capsys, db_url, "promote", passed["id"])[0] == 0
    code, out, _ = omc(capsys, db_url, "deploy", passed["id"], "--allocation", "500", "--json")
    deployed = json.loads(out)
    assert deployed["name"] == "rsi:ETH/AUD:1h" and deployed["active"]
    assert Decimal(deployed["allocation"]) == Decimal("500")
    code, out, _ = omc(capsys, db_url, "undeploy", "rsi:ETH/AUD:1h", "--json")
    assert json.loads(out)["active"] is False
    code, _, err = omc(capsys, db_url, "backtest", "nope", "--symbol", "BTC")
    assert code == 2 and "known: breakout, ma_cross, rsi" in err
    code, _, err = omc(capsys, db_url, "backtest", "ma_cross", "--symbol", "BTC", "--param", "x")
    assert code == 2


def test_without_candles_on_the_venue_it_says_where_they_are(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    # A run on the simulated market stores its history; the venue's has none.
    assert omc(capsys, db_url, "strategies")[0] == 0
    code, _, err = run(capsys, "--db", db_url, "backtest", "ma_cross", "--symbol", "BTC/AUD")
    assert code == 1 and "got 0 bars" not in err
    assert err.startswith("omc: no 1h candles for BTC/AUD from coinspot; the simulated market has ")
    assert err.rstrip().endswith("— add --sim")
    stored = int(err.split("the simulated market has ")[1].split()[0].replace(",", ""))
    assert stored > 100


def test_with_no_candles_anywhere_it_points_at_the_simulator(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    code, _, err = run(capsys, "--db", db_url, "backtest", "rsi", "--symbol", "ETH", "--json")
    assert code == 1 and "no 1h candles for ETH/AUD from coinspot" in err
    assert "--sim backtests on the simulated market" in err


def test_with_the_simulator_it_points_back_at_the_venue(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    from ledgers.database import Database
    from ledgers.market import Candle
    from ledgers.store import LedgerStore

    async def seed() -> None:
        db = Database(db_url)
        await db.upgrade()
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        await LedgerStore(db).upsert_candles(
            [
                Candle("coinspot", "ZZZ/AUD", "1d", t0 + timedelta(days=i), 1, 2, 0.5, 1.5, 9)
                for i in range(3)
            ]
        )
        await db.dispose()

    asyncio.run(seed())
    code, _, err = omc(
        capsys, db_url, "backtest", "ma_cross", "--symbol", "ZZZ", "--timeframe", "1d"
    )
    assert code == 1
    assert "no 1d candles for ZZZ/AUD from the simulated market; coinspot has 3" in err
    assert "without --sim" in err
