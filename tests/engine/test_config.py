"""Configuration: file < environment < command line, and errors that say where and what."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine import config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    s = config.load(tmp_path / "missing.toml")
    assert s.market.venue == "coinspot" and s.market.quote == "AUD"
    assert len(s.market.watchlist) == 12 and all(x.endswith("/AUD") for x in s.market.watchlist)
    assert s.database_url().startswith("sqlite+aiosqlite:///") and s.database_url().endswith(
        "omc.db"
    )


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        '[sim]\nseed = 1\nspeed = 2.0\nsymbols = 30\n[market]\nwatchlist = ["btc", "eth-aud"]\n',
    )
    monkeypatch.setenv("OMC_SIM__SPEED", "10")
    monkeypatch.setenv("OMC_SIM__SEED", "5")
    s = config.load(path, sim={"seed": 9})
    assert s.sim.symbols == 30  # file
    assert s.sim.speed == 10.0  # environment over file
    assert s.sim.seed == 9  # flag over environment
    assert s.market.watchlist == ["BTC/AUD", "ETH/AUD"]


def test_environment_lists_maps_and_sections_take_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[sim]\nseed = 1\nsymbols = 30\n[sources]\nenabled = false\n")
    monkeypatch.setenv("OMC_MARKET__WATCHLIST", '["sol", "eth-aud"]')
    monkeypatch.setenv("OMC_SOURCES__INTERVALS", '{"rss": 60}')
    monkeypatch.setenv("OMC_SIM", '{"seed": 3, "speed": 4}')
    monkeypatch.setenv("omc_sim__speed", "8")  # any case; a key said alone wins over its section
    monkeypatch.setenv("OMC_TRADING__STARTING_CASH", "2500.10")
    s = config.load(path)
    assert s.market.watchlist == ["SOL/AUD", "ETH/AUD"]
    assert s.sources.intervals == {"rss": 60.0} and s.sources.enabled is False  # merged
    assert (s.sim.seed, s.sim.speed, s.sim.symbols) == (3, 8.0, 30)
    assert s.trading.starting_cash == Decimal("2500.10")


def test_environment_names_outside_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_REQUIRE_PG", "1")  # not a section: someone else's variable
    monkeypatch.setenv("OMC_", "x")
    assert config.load(tmp_path / "none.toml").sim.seed == 7
    monkeypatch.setenv("OMC_SIM__SEEDS", "5")
    with pytest.raises(config.ConfigError) as err:
        config.load(tmp_path / "none.toml")
    assert "environment variable OMC_SIM__SEEDS" in str(err.value)
    assert "unknown key 'sim.seeds'" in str(err.value) and "seed" in str(err.value)
    monkeypatch.delenv("OMC_SIM__SEEDS")
    monkeypatch.setenv("OMC_MARKET__WATCHLIST", "BTC/AUD,ETH/AUD")
    with pytest.raises(config.ConfigError, match="OMC_MARKET__WATCHLIST: expected JSON"):
        config.load(tmp_path / "none.toml")


def test_omc_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[sim]\nseed = 42\n")
    monkeypatch.setenv("OMC_CONFIG", str(path))
    assert config.load().sim.seed == 42
    monkeypatch.setenv("OMC_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(config.ConfigError, match="nope.toml.*does not exist"):
        config.load()


def test_malformed_file_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[market\nvenue = 1\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    assert str(path) in str(err.value) and "line 1" in str(err.value)


def test_unknown_key_names_file_key_and_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "[market]\nvenu = 'kraken'\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert str(path) in message and "'market.venu'" in message and "venue" in message


def test_bad_value_names_key_value_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, "[sim]\nspeed = -3\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert (
        str(path) in message
        and "'sim.speed'" in message
        and "-3" in message
        and "greater than 0" in message
    )


def test_bad_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_SIM__SPEED", "fast")
    with pytest.raises(config.ConfigError, match="OMC_SIM__SPEED.*'sim.speed'"):
        config.load(tmp_path / "none.toml")


def test_bad_db_url_says_what_form_it_takes(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load(tmp_path / "none.toml", database={"url": "mysql://x/y"})
    assert "command line" in str(err.value) and "sqlite:///PATH" in str(err.value)


def test_bad_symbol_in_watchlist(tmp_path: Path) -> None:
    path = write(tmp_path, '[market]\nwatchlist = ["BTC/AUD", "B T C"]\n')
    with pytest.raises(config.ConfigError, match="BASE/QUOTE"):
        config.load(path)


def test_effective_config_masks_the_database_password(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://omc:hunter2@db.internal/omc"\n')
    data = config.effective(config.load(path), path)
    text = json.dumps(data)
    assert "hunter2" not in text and "***" in text
    assert data["config_file"] == str(path) and data["config_file_exists"] is True


def test_values_convert_as_the_file_and_environment_give_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "[trading]\nstarting_cash = 0.1\nmax_open_orders = 7.0\n[alerts]\nsmtp_starttls = false\n",
    )
    monkeypatch.setenv("OMC_SIM__ENABLED", "yes")
    monkeypatch.setenv("OMC_ALERTS__SMTP_PORT", "2525")
    monkeypatch.setenv("OMC_ALERTS__SMTP_PASSWORD", "hunter2")
    s = config.load(path)
    assert s.trading.starting_cash == Decimal("0.1")  # the number as written, not the float's
    assert s.trading.max_open_orders == 7 and isinstance(s.trading.max_open_orders, int)
    assert s.sim.enabled is True and s.alerts.smtp_starttls is False
    assert s.alerts.smtp_port == 2525
    assert s.alerts.smtp_password is not None
    assert s.alerts.smtp_password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s) and "hunter2" not in json.dumps(config.effective(s, path))


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("[trading]\nmode = 'paper-ish'\n", "'trading.mode' (got 'paper-ish'): Input should be"),
        ("[trading]\nmax_open_orders = 2.5\n", "'trading.max_open_orders'"),
        ("[trading]\nstarting_cash = 'lots'\n", "valid decimal"),
        ("[trading]\nstarting_cash = 'NaN'\n", "finite number"),
        ("[sim]\nenabled = 'maybe'\n", "valid boolean"),
        ("[sim]\nspeed = true\n", "'sim.speed' (got True)"),
        ("[market]\nvenue = 1\n", "valid string"),
        ("[market]\nwatchlist = ['BTC/AUD', 5]\n", "'market.watchlist.1'"),
        ("[market]\nbook_depth = 501\n", "less than or equal to 500"),
        ("[sources]\nintervals = {rss = 0}\n", "intervals must be positive seconds: rss"),
        ("market = 5\n", "'market' (got 5): expected a table of keys"),
        ("[nonsense]\nx = 1\n", "unknown key 'nonsense'; known keys here: market, sim"),
    ],
)
def test_each_bad_value_is_named_with_what_it_should_be(
    tmp_path: Path, toml: str, said: str
) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load(write(tmp_path, toml))
    assert said in str(err.value)


def test_a_key_set_later_is_checked_as_one_read(tmp_path: Path) -> None:
    from engine.sections import Invalid, Secret

    s = config.load(tmp_path / "none.toml")
    s.sim.speed = "5"  # type: ignore[assignment]
    assert s.sim.speed == 5.0
    s.service.token = "abc"  # type: ignore[assignment]
    assert isinstance(s.service.token, Secret) and s.service.token.get_secret_value() == "abc"
    for key, value in (("speed", -1), ("spede", 2.0)):
        with pytest.raises(Invalid):
            setattr(s.sim, key, value)
    assert s.sim.speed == 5.0  # a refused value leaves the key as it was


def test_settings_travel_whole_to_the_labs_worker(tmp_path: Path) -> None:
    import pickle

    path = write(tmp_path, "[lab]\nmodel = 'openai/gpt-4o-mini'\n[service]\ntoken = 't0k'\n")
    s = config.load(path, sim={"enabled": True})
    back = pickle.loads(pickle.dumps(s))
    assert back == s and back.file == path and back.lab.model == "openai/gpt-4o-mini"
    assert back.service.token is not None and back.service.token.get_secret_value() == "t0k"
    back.sim.speed = 3.0
    assert back != s and s.sim.speed == 1.0  # a copy, not the same sections
