"""The vault through the engine that owns the database: the desk's "Settings & keys" and
``omc keys`` on another terminal write it there, and no secret comes back."""

from __future__ import annotations

import asyncio
import io
import json
import sys

import pytest

from engine.service.remote import RemoteEngine
from engine.vault import VaultError
from tests.engine.cli.shell import run
from tests.service.test_attach import attached, owner

SECRET = "sk-test-attached-7f3e21"
PASSPHRASE = "a passphrase for attached keys"
NEW = "another, longer passphrase"


async def test_keys_are_written_through_an_attached_engine_and_never_read_back(
    db_url: str,
) -> None:
    engine = await owner(db_url)
    remote: RemoteEngine = await attached(engine)
    try:
        assert await remote.keys() == []
        added = await remote.key_add("openai", SECRET, PASSPHRASE)
        assert (added.name, added.kind, added.rotated_at) == ("openai", "model", None)
        listed = await remote.keys()
        assert [k.name for k in listed] == ["openai"] and SECRET not in repr(listed)

        with pytest.raises(VaultError, match="passphrase"):  # the engine's own error type
            await remote.key_add("anthropic", "sk-other", "not the passphrase")
        assert [k.name for k in await remote.keys()] == ["openai"]  # nothing changed
        with pytest.raises(VaultError):
            await remote.key_remove("openai", "not the passphrase")

        assert await remote.key_rotate(PASSPHRASE, NEW) == 1
        with pytest.raises(VaultError):
            await remote.key_remove("openai", PASSPHRASE)  # the old one opens nothing now
        removed = await remote.key_remove("openai", NEW)
        assert removed.name == "openai" and await remote.keys() == []

        shown = await remote.settings_view()
        assert shown["lab"]["budget"] == "1.00" and "***" not in json.dumps(shown["lab"])
        assert shown["database"]["url"]  # masked by the engine, there to read
    finally:
        await remote.stop()
        await engine.stop()


async def test_omc_keys_goes_through_the_owning_engine(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, ``omc keys add`` was refused while the desk (an owner) was open."""
    engine = await owner(db_url)
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", PASSPHRASE)
    try:
        monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
        code, out, err = await asyncio.to_thread(
            run, capsys, "--db", db_url, "keys", "add", "openai", "--json"
        )
        assert code == 0, err
        assert json.loads(out)["name"] == "openai" and SECRET not in out + err
        assert [k.name for k in await engine.keys()] == ["openai"]  # the owner wrote it

        code, out, err = await asyncio.to_thread(
            run, capsys, "--db", db_url, "keys", "remove", "openai", "--json"
        )
        assert code == 0, err
        assert await engine.keys() == []
        monkeypatch.setenv("OMC_VAULT_PASSPHRASE", "the wrong passphrase")
        monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
        code, out, err = await asyncio.to_thread(
            run, capsys, "--db", db_url, "keys", "add", "openai", "--json"
        )
        assert code == 2 and "passphrase" in err and SECRET not in out + err
        assert await engine.keys() == []
    finally:
        await engine.stop()
