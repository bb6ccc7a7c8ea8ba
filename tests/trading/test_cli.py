"""The trading commands as a script uses them: --json, exit codes, one book across commands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from omc_tui.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def omc(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "--sim", "--db", db_url, *argv)


def test_an_order_from_the_command_line_moves_the_book(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    code, out, err = omc(capsys, db_url, "order", "buy", "btc", "0.01", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["accepted"] and result["order"]["state"] == "filled"
    assert result["order"]["symbol"] == "BTC/AUD"
    price = Decimal(result["fills"][0]["price"])

    code, out, _ = omc(capsys, db_url, "positions", "--json")
    positions = json.loads(out)
    assert code == 0 and [p["symbol"] for p in positions] == ["BTC/AUD"]
    assert Decimal(positions[0]["quantity"]) == Decimal("0.01")
    fee = Decimal(result["fills"][0]["fee"])
    assert Decimal(positions[0]["cost"]) == price * Decimal("0.01") + fee

    code, out, _ = omc(capsys, db_url, "fills", "--json")
    assert [f["fill_id"] for f in json.loads(out)] == [result["fills"][0]["fill_id"]]
    code, out, _ = omc(capsys, db_url, "pnl", "--json")
    pnl = json.loads(out)
    assert Decimal(pnl["cash"]) == Decimal("10000") - price * Decimal("0.01") - fee
    code, out, _ = omc(capsys, db_url, "lots", "--json")
    assert Decimal(json.loads(out)[0]["quantity"]) == Decimal("0.01")


def test_a_refused_order_exits_1_with_the_rule_and_a_repeat_is_not_resent(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.0000000001")
    assert code == 1
    assert "steps of 0.00001" in out
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "abc")
    assert code == 1 and "quantity must be a number" in out + _
    code, out, err = omc(capsys, db_url, "order", "sell", "BTC", "0.01", "--json")
    assert code == 1 and json.loads(out)["rule"] == "insufficient_funds"

    args = ("order", "buy", "ETH", "0.1", "--client-id", "mine-1", "--json")
    first = json.loads(omc(capsys, db_url, *args)[1])
    code, out, _ = omc(capsys, db_url, *args)
    again = json.loads(out)
    assert code == 0 and again["rule"] == "duplicate"
    assert again["order"] == first["order"]
    code, out, _ = omc(capsys, db_url, "fills", "--json")
    assert len(json.loads(out)) == 1


def test_the_kill_switch_from_the_command_line(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    assert omc(capsys, db_url, "kill", "on")[0] == 0
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.01", "--json")
    assert code == 1 and json.loads(out)["rule"] == "kill_switch"
    code, out, _ = omc(capsys, db_url, "kill", "status", "--json")
    assert json.loads(out)["kill_switch"] is True
    assert omc(capsys, db_url, "kill", "off")[0] == 0
    assert omc(capsys, db_url, "order", "buy", "BTC", "0.01")[0] == 0


def test_orders_rest_and_cancel(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.002", "--json")
    price = Decimal(json.loads(out)["fills"][0]["price"])
    below = (price * Decimal("0.95")).quantize(Decimal("1"))
    code, out, err = omc(
        capsys, db_url, "order", "buy", "BTC", "0.005", "--limit", str(below), "--json"
    )
    assert code == 0, out
    resting = json.loads(out)["order"]
    assert resting["state"] == "open"
    code, out, _ = omc(capsys, db_url, "orders", "--open", "--json")
    assert [o["client_id"] for o in json.loads(out)] == [resting["client_id"]]
    code, out, _ = omc(capsys, db_url, "cancel", resting["client_id"], "--json")
    assert code == 0 and json.loads(out)["state"] == "cancelled"
    assert omc(capsys, db_url, "cancel")[0] == 2  # neither an id nor --all


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
    assert code == 1 and "known: breakout, ma_cross, rsi" in err
    code, _, err = omc(capsys, db_url, "backtest", "ma_cross", "--symbol", "BTC", "--param", "x")
    assert code == 2


def test_tax_report_csv(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    omc(capsys, db_url, "order", "buy", "BTC", "0.01")
    omc(capsys, db_url, "order", "sell", "BTC", "0.004")
    out_file = tmp_path / "tax.csv"
    from datetime import UTC, datetime

    from engine.trading.tax import financial_year  # the current FY holds today's sale

    now = datetime.now(UTC)
    fy = now.year + 1 if now >= financial_year(now.year + 1)[0] else now.year
    code, _, err = omc(capsys, db_url, "tax-report", "--fy", str(fy), "-o", str(out_file))
    assert code == 0, err
    lines = out_file.read_text().splitlines()
    assert (
        lines[0] == "asset,acquired,disposed,quantity,cost_base,proceeds,gain,held_over_12_months"
    )
    assert len(lines) == 2 and lines[1].startswith("BTC,") and lines[1].endswith(",no")
    code, out, _ = omc(capsys, db_url, "tax-report", "--fy", str(fy - 1), "--json")
    assert json.loads(out)["rows"] == []


def test_live_mode_says_why_it_cannot_trade(
    capsys: pytest.CaptureFixture[str], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_TRADING__MODE", "live")
    code, _, err = omc(capsys, db_url, "positions")
    assert code == 1 and "not the simulator" in err
    code, _, err = run(capsys, "--db", db_url, "positions")
    assert code == 1 and "needs API keys" in err
    # With keys but no venue to reach, nothing trades and the reason is the venue's.
    monkeypatch.setenv("OMC_TRADING__API_KEY", "k-123456")
    monkeypatch.setenv("OMC_TRADING__API_SECRET", "s-abcdef")
    code, _, err = run(capsys, "--db", db_url, "order", "buy", "BTC", "0.01")
    assert code == 1 and "live trading cannot start" in err
    assert "s-abcdef" not in err


def test_arming_live_from_the_command_line(
    capsys: pytest.CaptureFixture[str], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "--db", db_url, "live", "arm", "--confirm", "ARM LIVE")
    assert code == 1 and "trades on paper" in err
    monkeypatch.setenv("OMC_TRADING__MODE", "live")
    code, _, err = run(capsys, "--db", db_url, "live", "arm", "--confirm", "arm live")
    assert code == 1 and "not armed" in err
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run(capsys, "--db", db_url, "live", "arm")
    assert code == 2 and "--confirm" in err
    code, out, _ = run(capsys, "--db", db_url, "live", "arm", "--confirm", "ARM LIVE", "--json")
    assert code == 0 and json.loads(out)["armed"] is True
    code, out, _ = run(capsys, "--db", db_url, "live", "disarm", "--json")
    assert json.loads(out)["armed"] is False


def test_a_limit_order_with_an_expiry(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.002", "--json")
    price = Decimal(json.loads(out)["fills"][0]["price"])
    below = str((price * Decimal("0.95")).quantize(Decimal("1")))
    args = ("order", "buy", "BTC", "0.002", "--limit", below, "--expires", "2h", "--json")
    code, out, err = omc(capsys, db_url, *args)
    assert code == 0, out + err
    order = json.loads(out)["order"]
    created = datetime.fromisoformat(order["created_at"])
    lives = datetime.fromisoformat(order["expires_at"]) - created
    assert abs(lives - timedelta(hours=2)) < timedelta(seconds=1)  # the engine's clock runs
    code, _, err = omc(capsys, db_url, "order", "buy", "BTC", "0.002", "--expires", "2h")
    assert code == 1 and "only a limit order can expire" in err
    code, _, err = omc(
        capsys, db_url, "order", "buy", "BTC", "1", "--limit", below, "--expires", "soon"
    )
    assert code == 2 and "--expires" in err
