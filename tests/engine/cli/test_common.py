"""The contract every command keeps: global options anywhere, sentences, exit codes, paths."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.cli.shell import run, run_process

CLASS_NAME = ("Error:", "Exception:", "Unavailable:", "Failed:", "Traceback")


def plain_sentence(err: str) -> bool:
    lines = err.strip().splitlines()
    return (
        len(lines) == 1 and lines[0].startswith("omc: ") and not any(c in err for c in CLASS_NAME)
    )


def test_global_options_work_after_the_command(sqlite_url: str) -> None:
    code, out, err = run_process("order", "buy", "BTC/AUD", "0.01", "--sim", "--db", sqlite_url)
    assert code == 0, err
    assert "filled" in out and err == ""
    code, out, err = run_process("positions", "--json", "--db", sqlite_url, "--sim")
    assert code == 0, err
    assert [p["symbol"] for p in json.loads(out)] == ["BTC/AUD"]


def test_a_global_option_before_the_command_is_not_undone_after_it(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    # The command's copy of --db must not reset the value typed before the command.
    code, out, _ = run(capsys, "--db", sqlite_url, "db", "current", "--json")
    assert code == 0 and json.loads(out)["database"].endswith(str(tmp_path / "omc.db"))
    code, out, _ = run(capsys, "db", "--db", sqlite_url, "current", "--json")
    assert code == 0 and json.loads(out)["database"].endswith(str(tmp_path / "omc.db"))
    code, out, _ = run(capsys, "--json", "--db", sqlite_url, "ledger", "stats")
    assert code == 0 and isinstance(json.loads(out), list)


def test_json_where_a_command_has_none_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    code, _, err = run(capsys, "--json", "db", "upgrade", "--db", sqlite_url)
    assert code == 2 and "omc db upgrade has no --json output" in err


def test_a_trading_failure_is_said_once(sqlite_url: str) -> None:
    # The engine's log line used to reach the terminal beside the command's own message.
    code, _, err = run_process(
        "positions", "--db", sqlite_url, "--sim", env={"OMC_TRADING__MODE": "live"}
    )
    assert code == 1 and plain_sentence(err), err
    assert err.count("venue's market data") == 1


def test_offline_without_sim_names_the_venue_and_the_way_out(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    code, out, err = run(capsys, "order", "buy", "BTC", "0.01", "--db", sqlite_url)
    assert code == 1 and out == "" and plain_sentence(err), err
    assert "cannot reach the venue coinspot" in err and "--sim uses the simulated market" in err
    assert "market.instruments" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ("order", "buy", "BTC", "abc"),
        ("order", "buy", "BTC", "-1"),
        ("order", "buy", "B T C", "1"),
        ("order", "buy", "BTC", "0.01", "--limit", "cheap"),
        ("order", "buy", "BTC", "0.01", "--limit", "0"),
        ("order", "buy", "BTC", "0.01", "--limit", "100", "--expires", "soon"),
        ("order", "buy", "BTC", "0.01", "--expires", "2h"),
        ("backtest", "ma_cross", "--symbol", "BTC", "--from", "yesterday"),
        ("backtest", "ma_cross", "--symbol", "BTC", "--param", "fast"),
        ("backtest", "ma_cross", "--symbol", "BTC", "--param", "fast=quick"),
        ("backtest", "nope", "--symbol", "BTC"),
        ("backtest", "ma_cross", "--symbol", "BTC", "--timeframe", "2m"),
        ("backtest", "ma_cross", "--symbol", "BTC", "--fee", "2"),
        ("deploy", "bt-1", "--allocation", "0"),
        ("orders", "--limit", "0"),
        ("tax-report", "--fy", "25"),
        ("export", "human", "--since", "last week"),
        ("positions", "--speed", "fast"),
    ],
)
def test_bad_input_of_any_kind_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, argv: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, *argv, "--sim", "--db", sqlite_url)
    assert code == 2, err
    assert "Traceback" not in err and not any(c in err for c in CLASS_NAME[:4])


def test_a_refusal_by_the_risk_guard_is_a_failure(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    code, out, _ = run(capsys, "order", "sell", "BTC", "0.01", "--sim", "--db", sqlite_url)
    assert code == 1 and "rejected" in out and "0 BTC available" in out


def test_an_unreachable_database_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://nobody:hunter2@127.0.0.1:1/none"
    for argv in (("ledger", "stats"), ("positions",), ("live", "status")):
        code, _, err = run(capsys, *argv, "--db", url)
        assert code == 1 and plain_sentence(err), err
        assert "cannot reach the database postgresql://nobody:***@127.0.0.1:1/none" in err
        assert "hunter2" not in err


def test_a_database_that_cannot_be_opened_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    garbage = tmp_path / "not-a.db"
    garbage.write_text("this is no database\n" * 100)
    code, _, err = run(capsys, "ledger", "stats", "--db", f"sqlite:///{garbage}")
    assert code == 1 and plain_sentence(err), err
    assert f"cannot open the database {garbage}" in err


def test_an_absolute_path_takes_four_slashes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    absolute = tmp_path / "abs"
    absolute.mkdir()
    # sqlite:///tmp/… is relative: it used to create ./tmp/… without a word.
    three = f"sqlite://{absolute}/x.db"  # "sqlite://" + "/tmp/…/abs/x.db": three slashes
    code, _, err = run(capsys, "ledger", "stats", "--db", three)
    relative = Path(str(absolute).lstrip("/"))
    assert code == 2 and f"the directory {relative} (in {tmp_path})" in err
    assert f"write four slashes: sqlite:///{absolute}/x.db" in err
    assert not (tmp_path / relative).exists()
    code, _, err = run(capsys, "ledger", "stats", "--db", f"sqlite:///{absolute}/x.db")
    assert code == 0 and (absolute / "x.db").exists()
    code, _, err = run(capsys, "ledger", "stats", "--db", f"sqlite:///{tmp_path}/missing/x.db")
    assert code == 2 and f"the directory {tmp_path / 'missing'} " in err
    assert "four slashes" not in err and not (tmp_path / "missing").exists()


def test_the_default_data_directory_is_still_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = Path(os.environ["XDG_DATA_HOME"]) / "omc"
    assert not (data / "omc.db").exists()
    code, _, err = run(capsys, "ledger", "stats")
    assert code == 0, err
    assert (data / "omc.db").exists()


def test_help_names_the_four_slash_form() -> None:
    code, out, _ = run_process("--help")
    assert code == 0 and "sqlite:////" in out and "before or after the command" in out
    code, out, _ = run_process("positions", "--help")
    assert code == 0 and "sqlite:////" in out


def test_an_unforeseen_failure_is_one_sentence_and_the_details_go_to_the_log(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(db: object) -> None:
        raise KeyError("candles")

    monkeypatch.setattr("ledgers.queries.ledger_stats", broken)
    code, _, err = run(capsys, "ledger", "stats", "--db", sqlite_url)
    log = Path(os.environ["XDG_DATA_HOME"]) / "omc" / "omc-cli.log"
    assert code == 1 and plain_sentence(err), err
    assert err == f"omc: omc ledger stats failed unexpectedly: 'candles' (details in {log})\n"
    assert "Traceback" in log.read_text() and "KeyError" in log.read_text()


def test_a_reader_that_goes_away_stops_the_command_in_silence(tmp_path: Path) -> None:
    # `omc config show | head -1`: the reader may close before anything is written. Its write
    # end is all the command gets here, its read end already closed: every write fails.
    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMC_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "omc_tui.cli", "config", "show"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env,
            cwd=Path(__file__).resolve().parents[3],
        )
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""


def test_a_command_starts_without_the_garbage_collector_and_gets_it_back() -> None:
    from engine.cli import common

    try:
        common.hold_collector(0.05)
        assert not gc.isenabled()
        deadline = time.monotonic() + 5
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.isenabled()  # a command still running collects as usual
    finally:
        gc.enable()


def test_the_omc_script_holds_the_collector_for_a_command_not_the_desk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib.metadata import entry_points

    from engine.cli import common
    from omc_tui import cli

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "omc"]
    assert script.value == "omc_tui.cli:entry"
    seen: dict[tuple[str, ...], bool] = {}

    def main(argv: list[str]) -> int:
        seen[tuple(argv)] = gc.isenabled()
        gc.enable()
        return 0

    monkeypatch.setattr(cli, "main", main)
    monkeypatch.setattr(common, "hold_collector", lambda: gc.disable())
    try:
        for argv in (["--sim"], ["--sim", "positions", "--json"], []):
            monkeypatch.setattr(sys, "argv", ["omc", *argv])
            assert cli.entry() == 0
    finally:
        gc.enable()
    assert seen == {("--sim",): True, ("--sim", "positions", "--json"): False, (): True}
