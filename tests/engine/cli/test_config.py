"""omc config: the effective config, errors that name where a value came from, the key map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.cli.shell import run


def test_config_show_json_masks_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "postgresql://omc:hunter2@db/omc"\n[sim]\nseed = 11\n')
    code, out, _ = run(capsys, "--config", str(path), "config", "show", "--json")
    assert code == 0 and "hunter2" not in out
    data = json.loads(out)
    assert (
        data["sim"]["seed"] == 11
        and data["database"]["url"] == "postgresql+asyncpg://omc:***@db/omc"
    )


def test_malformed_config_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[market\n")
    code, _, err = run(capsys, "--config", str(path), "config", "show")
    assert code == 2 and str(path) in err


@pytest.mark.parametrize("flag", ["--config", "OMC_CONFIG"])
def test_a_bad_value_in_the_file_is_blamed_on_the_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[sim]\nspeed = 0\n")
    if flag == "OMC_CONFIG":
        monkeypatch.setenv("OMC_CONFIG", str(path))
        code, _, err = run(capsys, "config", "show")
        assert f"config file {path} (named by OMC_CONFIG)" in err
    else:
        code, _, err = run(capsys, "--config", str(path), "config", "show")
        assert f"config file {path}:" in err
    assert code == 2 and "'sim.speed'" in err and "command line" not in err


def test_a_bad_value_is_blamed_on_the_variable_or_the_flag_that_gave_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_SIM__SPEED", "0")
    code, _, err = run(capsys, "--config", str(tmp_path / "none.toml"), "config", "show")
    assert code == 2 and err.startswith("omc: environment variable OMC_SIM__SPEED:")
    monkeypatch.delenv("OMC_SIM__SPEED")
    code, _, err = run(capsys, "config", "show", "--speed", "0")
    assert code == 2 and err.startswith("omc: command line (--speed):")


def refuse_to_open_the_desk(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(self: object) -> None:
        raise AssertionError("the desk started with a key map it should have refused")

    monkeypatch.setattr("omc_tui.app.DeskApp.run", run)


def keymap(tmp_path: Path, entries: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(f"[desk.keymap]\n{entries}\n")
    return path


@pytest.mark.parametrize("argv", [(), ("config", "show")], ids=["desk", "config show"])
def test_an_unknown_action_in_the_key_map_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    refuse_to_open_the_desk(monkeypatch)
    path = keymap(tmp_path, '"chart.timeframes" = "z"')
    code, _, err = run(capsys, "--config", str(path), "--sim", *argv)
    assert code == 2 and str(path) in err
    assert "unknown action 'chart.timeframes'" in err and "chart.timeframe," in err
    assert "desk.quit" in err  # the known ids are listed


@pytest.mark.parametrize("argv", [(), ("config", "show")], ids=["desk", "config show"])
def test_a_key_another_action_uses_is_refused_naming_both(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    refuse_to_open_the_desk(monkeypatch)
    path = keymap(tmp_path, '"chart.timeframe" = "q"')  # Textual would silently drop quit
    code, _, err = run(capsys, "--config", str(path), "--sim", *argv)
    assert code == 2 and "chart.timeframe onto 'q', which desk.quit uses" in err


def test_keys_moved_together_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = keymap(tmp_path, '"chart.timeframe" = "q"\n"desk.quit" = "ctrl+q"\n"desk.pnl" = "p"')
    code, out, err = run(capsys, "--config", str(path), "config", "show", "--json")
    assert code == 0, err
    assert json.loads(out)["desk"]["keymap"]["desk.quit"] == "ctrl+q"
