"""omc keys through the omc entry point: stdin and the terminal, exit codes, --json, the live
trader's keys, and no secret anywhere — not in output, logs or the database's bytes."""

from __future__ import annotations

import asyncio
import getpass
import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.config import data_dir
from ledgers.database import Database
from ledgers.schema import VaultKeyRow, VaultRow
from tests.engine.cli.shell import run

SECRET = "sk-test-SECRET-1234"
PASSPHRASE = "correct horse battery"
NEW_PASSPHRASE = "a new and longer passphrase"

Omc = Callable[..., tuple[int, str, str]]


@pytest.fixture
def omc(capsys: pytest.CaptureFixture[str], db_url: str, monkeypatch: pytest.MonkeyPatch) -> Omc:
    """``omc --db URL ARGV``, with ``stdin`` piped in when given; stdin is not a terminal."""
    monkeypatch.setattr(sys, "stdin", io.StringIO())

    def command(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return run(capsys, "--db", db_url, *argv)

    return command


@pytest.fixture
def terminal(omc: Omc, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make stdin a terminal where the returned list's answers are typed, one per prompt."""
    answers: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": answers.pop(0))
    return answers


def _listed(omc: Omc) -> list[dict[str, object]]:
    code, out, err = omc("keys", "list", "--json")
    assert code == 0, err
    return json.loads(out)["keys"]  # type: ignore[no-any-return]


def test_keys_from_stdin_end_to_end(omc: Omc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    assert omc("keys", "add", "openai", stdin=SECRET + "\n") == (
        0,
        "openai (model) added in the vault\n",
        "",
    )
    code, out, _ = omc("keys", "add", "coinspot.api_key", "--json", stdin="ck-1\n")
    added = json.loads(out)
    assert code == 0 and added["kind"] == "venue" and added["replaced"] is False
    assert set(added) == {"name", "kind", "base_url", "added_at", "rotated_at", "replaced"}
    url = "http://127.0.0.1:8000/v1"
    code, _, err = omc("keys", "add", "Local", "--base-url", url, stdin="lk-1")
    assert code == 0, err
    code, out, _ = omc("keys", "add", "openai", stdin="sk-other\n")
    assert (code, out) == (0, "openai (model) replaced in the vault\n")

    keys = _listed(omc)
    assert [(k["name"], k["kind"], k["base_url"]) for k in keys] == [
        ("coinspot.api_key", "venue", None),
        ("local", "model", url),
        ("openai", "model", None),
    ]
    code, out, _ = omc("keys", "list")
    assert code == 0 and out.startswith("NAME              KIND   ADDED")

    code, out, _ = omc("keys", "remove", "local", "--json")
    assert code == 0 and json.loads(out) == {"name": "local", "removed": True}
    code, out, _ = omc("keys", "rotate", "--json", stdin=NEW_PASSPHRASE + "\n")
    assert code == 0 and json.loads(out) == {"rotated": 2}
    assert all(k["rotated_at"] for k in _listed(omc))

    code, _, err = omc("keys", "remove", "openai")
    assert (code, err) == (2, "omc: the passphrase does not open the vault\n")
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", NEW_PASSPHRASE)
    assert omc("keys", "remove", "openai") == (0, "openai removed from the vault\n", "")
    code, out, _ = omc("keys", "rotate", stdin=PASSPHRASE)
    assert code == 0 and out.startswith("1 key re-encrypted under the new passphrase\n")
    assert "OMC_VAULT_PASSPHRASE still holds the old passphrase" in out


def test_a_wrong_passphrase_exits_2_and_changes_nothing(
    omc: Omc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    assert omc("keys", "add", "openai", stdin="sk-1")[0] == 0
    before = _listed(omc)
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", "not the passphrase")
    for argv, stdin in (
        (("keys", "add", "anthropic"), "sk-2"),
        (("keys", "remove", "openai"), ""),
        (("keys", "rotate"), NEW_PASSPHRASE),
    ):
        assert omc(*argv, stdin=stdin) == (
            2,
            "",
            "omc: the passphrase does not open the vault\n",
        ), argv
    assert _listed(omc) == before


def test_bad_input_exits_2_with_one_sentence(omc: Omc, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = omc("keys", "rotate")
    assert (code, err) == (2, "omc: there is no vault yet: omc keys add NAME makes one\n")
    code, _, err = omc("keys", "add", "openai", stdin="sk-1")
    assert code == 2 and "set OMC_VAULT_PASSPHRASE" in err and err.count("\n") == 1
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", "short")
    code, _, err = omc("keys", "add", "openai", stdin="sk-1")
    assert code == 2 and "at least 8 characters" in err
    assert _listed(omc) == []

    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    for argv, stdin, said in (
        (("keys", "add", "has space"), "sk-1", "is not a key name"),
        (("keys", "add", "openai"), "\n", "no key for openai on stdin"),
        (("keys", "add", "coinspot.api_key", "--base-url", "http://x"), "k", "for a model key"),
        (("keys", "add", "local", "--base-url", "localhost:8000"), "k", "not an http"),
        (("keys", "remove", "nothing"), "", "there is no vault yet"),
    ):
        code, out, err = omc(*argv, stdin=stdin)
        assert (code, out) == (2, ""), argv
        assert said in err and err.count("\n") == 1 and "Error" not in err, err
    assert omc("keys", "add", "openai", stdin="sk-1")[0] == 0
    code, _, err = omc("keys", "remove", "nothing")
    assert code == 2 and "no key named nothing" in err
    code, _, err = omc("keys", "rotate", stdin="short")
    assert code == 2 and "at least 8 characters" in err
    code, _, err = omc("keys", "add", "openai", "--kind", "other", stdin="sk-1")
    assert code == 2 and "invalid choice" in err


def test_keys_typed_on_the_terminal(omc: Omc, terminal: list[str]) -> None:
    terminal += [PASSPHRASE, "not the same"]
    code, _, err = omc("keys", "add", "openai")
    assert (code, err) == (2, "omc: the two entries differ; nothing changed\n")
    assert _listed(omc) == []

    terminal += [PASSPHRASE, PASSPHRASE, SECRET]  # a new vault asks for its passphrase twice
    assert omc("keys", "add", "openai")[0] == 0
    terminal += [PASSPHRASE, "sk-2"]
    assert omc("keys", "add", "anthropic")[0] == 0
    terminal += [PASSPHRASE, NEW_PASSPHRASE, NEW_PASSPHRASE]
    code, out, _ = omc("keys", "rotate")
    assert code == 0 and out == "2 keys re-encrypted under the new passphrase\n"
    terminal += [NEW_PASSPHRASE]
    assert omc("keys", "remove", "anthropic")[0] == 0
    assert terminal == []


def test_no_secret_reaches_output_logs_or_the_database(
    omc: Omc,
    terminal: list[str],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # every statement and its parameters
    said: list[str] = []

    def omc_said(*argv: str, stdin: str | None = None) -> int:
        code, out, err = omc(*argv, stdin=stdin)
        said.extend((out, err))
        return code

    terminal += [PASSPHRASE, PASSPHRASE, SECRET]
    assert omc_said("keys", "add", "openai") == 0
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    assert omc_said("keys", "add", "gemini", "--json", stdin=SECRET + "-B\n") == 0
    assert omc_said("keys", "list") == 0
    assert omc_said("keys", "list", "--json") == 0
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", "not the passphrase")
    assert omc_said("keys", "add", "anthropic", stdin=SECRET + "-C\n") == 2
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    assert omc_said("keys", "rotate", "--json", stdin=NEW_PASSPHRASE) == 0
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", NEW_PASSPHRASE)
    assert omc_said("keys", "remove", "gemini") == 0

    logs = [p.read_text() for p in data_dir().rglob("*.log")]
    # The capture and the command's log file both saw the writes, parameters and all.
    assert "INSERT INTO vault_keys" in caplog.text and "INSERT INTO vault_keys" in "".join(logs)
    for text in (*said, caplog.text, *logs):
        assert not _shares_part_of(SECRET, text)

    (sealed,) = asyncio.run(_stored_bytes(db_url))
    assert len(sealed) == len(SECRET) + 16 and SECRET.encode() not in sealed  # ciphertext, tag
    if db_url.startswith("sqlite"):  # the file itself, write-ahead log included
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("omc.db*"))
        assert sealed in stored and SECRET.encode() not in stored


def _shares_part_of(secret: str, text: str, width: int = 6) -> bool:
    """Whether ``text`` holds any ``width`` characters in a row of ``secret``."""
    return any(secret[i : i + width] in text for i in range(len(secret) - width + 1))


async def _stored_bytes(url: str) -> list[bytes]:
    """The ciphertexts the database holds, after checking every other column is not secret."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            keys = (await conn.execute(select(VaultKeyRow.__table__))).all()
            lock = (await conn.execute(select(VaultRow.__table__))).one()
    finally:
        await db.dispose()
    for row in [*keys, lock]:
        assert SECRET not in repr(tuple(row)) and SECRET.encode() not in repr(tuple(row)).encode()
    return [row.ciphertext for row in keys]


def test_the_live_trader_takes_the_vaults_keys(omc: Omc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    assert omc("keys", "add", "coinspot.api_key", stdin="ck-123456")[0] == 0
    assert omc("keys", "add", "coinspot.api_secret", stdin=SECRET)[0] == 0
    monkeypatch.setenv("OMC_TRADING__MODE", "live")

    # No keys in the configuration: the vault's arm live trading, and the engine takes them to
    # the venue (which is out of reach offline, so nothing trades).
    code, out, err = omc("live", "arm", "--confirm", "ARM LIVE", "--json")
    assert code == 0 and json.loads(out)["armed"] is True, err
    code, _, err = omc("order", "buy", "BTC", "0.01")
    assert code == 1 and "live trading cannot start" in err and SECRET not in err

    monkeypatch.delenv("OMC_VAULT_PASSPHRASE")
    code, _, err = omc("order", "buy", "BTC", "0.01")
    assert code == 1 and err.count("\n") == 1
    assert "cannot open the vault's coinspot keys: OMC_VAULT_PASSPHRASE is not set" in err
