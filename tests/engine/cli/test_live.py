"""omc live: arming needs live mode, the venue's keys and the typed phrase."""

from __future__ import annotations

import json

import pytest

from tests.engine.cli.shell import run


def test_live_mode_says_why_it_cannot_trade(
    capsys: pytest.CaptureFixture[str], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_TRADING__MODE", "live")
    code, _, err = run(capsys, "--sim", "--db", db_url, "positions")
    assert code == 1 and "venue's market data" in err
    code, _, err = run(capsys, "--db", db_url, "positions")
    assert code == 1 and "needs API keys" in err and err.count("\n") == 1
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
    monkeypatch.setenv("OMC_TRADING__API_KEY", "k-123456")
    monkeypatch.setenv("OMC_TRADING__API_SECRET", "s-abcdef")
    code, _, err = run(capsys, "--db", db_url, "live", "arm", "--confirm", "arm live")
    assert code == 1 and "not armed: type 'ARM LIVE' exactly" in err
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run(capsys, "--db", db_url, "live", "arm")
    assert code == 2 and "--confirm" in err
    code, out, _ = run(capsys, "--db", db_url, "live", "arm", "--confirm", "ARM LIVE", "--json")
    assert code == 0 and json.loads(out)["armed"] is True
    code, out, _ = run(capsys, "--db", db_url, "live", "disarm", "--json")
    assert json.loads(out)["armed"] is False


def test_arming_without_keys_says_which_are_missing(
    capsys: pytest.CaptureFixture[str], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_TRADING__MODE", "live")
    code, _, err = run(capsys, "--db", db_url, "live", "arm", "--confirm", "ARM LIVE")
    assert code == 1 and "not armed" in err
    assert "api_key and api_secret are not set" in err and "[trading]" in err
    assert "OMC_TRADING__API_KEY and OMC_TRADING__API_SECRET" in err
    monkeypatch.setenv("OMC_TRADING__API_KEY", "k-123456")
    code, _, err = run(capsys, "--db", db_url, "live", "arm", "--confirm", "ARM LIVE")
    assert code == 1 and "api_secret is not set" in err and "API_KEY" not in err
    code, out, _ = run(capsys, "--db", db_url, "live", "status", "--json")
    assert code == 0 and json.loads(out)["armed"] is False
