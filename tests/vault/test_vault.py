"""The vault on both databases: round trip, wrong passphrase, tampering, atomic rotation, and the
live trader's keys."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from engine import config, vault
from engine.trading.host import live_broker, venue_keys
from engine.trading.trader import TradingError
from engine.vault import Vault, VaultDamaged, VaultInputError, VaultLocked
from ledgers.database import Database
from ledgers.schema import VaultKeyRow, VaultRow

PASS = SecretStr("correct horse battery")
NEW = SecretStr("a new and longer passphrase")
SECRETS = {
    "openai": "sk-openai-0001",
    "coinspot.api_key": "ck-0002",
    "coinspot.api_secret": "cs-0003",
    "local": "lk-0004",
}
LOCAL_URL = "http://127.0.0.1:8000/v1"
_KEYS = VaultKeyRow.__table__
_LOCK = VaultRow.__table__


async def _filled(db: Database) -> Vault:
    opened = await Vault.create(db, PASS)
    for name, secret in SECRETS.items():
        base_url = LOCAL_URL if name == "local" else None
        await opened.add(name, SecretStr(secret), base_url=base_url)
    return opened


async def _stored(db: Database) -> list[tuple[Any, ...]]:
    """Every stored byte of the vault, to show that something changed nothing."""
    async with db.engine.connect() as conn:
        keys = await conn.execute(select(_KEYS).order_by(_KEYS.c.name))
        lock = await conn.execute(select(_LOCK))
        return [tuple(row) for row in [*keys, *lock]]


async def _sealed(db: Database, name: str) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(_KEYS).where(_KEYS.c.name == name))).one()


async def _set(db: Database, name: str, **values: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(update(_KEYS).where(_KEYS.c.name == name).values(**values))


def _opens_all(opened: Vault) -> None:
    assert {name: opened.get(name).get_secret_value() for name in opened.names()} == SECRETS


async def test_keys_go_in_and_come_out(database: Database) -> None:
    assert not await vault.exists(database)
    await _filled(database)
    assert await vault.exists(database)

    opened = await Vault.open(database, PASS)
    assert opened.names() == sorted(SECRETS)
    _opens_all(opened)
    assert opened.get("OpenAI").get_secret_value() == SECRETS["openai"]
    kinds = {k.name: (k.kind, k.base_url, k.rotated_at) for k in opened.keys()}
    assert kinds == {
        "coinspot.api_key": ("venue", None, None),
        "coinspot.api_secret": ("venue", None, None),
        "local": ("model", LOCAL_URL, None),
        "openai": ("model", None, None),
    }
    assert await vault.stored_keys(database) == opened.keys()  # no passphrase needed to list
    secret = opened.get("openai")
    assert SECRETS["openai"] not in f"{secret!r} {secret} {opened!r}"

    await opened.add("openai", SecretStr("sk-openai-replaced"))
    again = await Vault.open(database, PASS)
    assert again.get("openai").get_secret_value() == "sk-openai-replaced"
    assert len(again.names()) == len(SECRETS)

    assert (await again.remove("openai")).name == "openai"
    assert "openai" not in (await Vault.open(database, PASS)).names()
    with pytest.raises(VaultInputError, match="no key named openai"):
        await again.remove("openai")
    with pytest.raises(VaultInputError, match="no key named openai"):
        again.get("openai")


async def test_a_wrong_passphrase_opens_nothing_and_changes_nothing(database: Database) -> None:
    await _filled(database)
    before = await _stored(database)
    with pytest.raises(VaultLocked, match="^the passphrase does not open the vault$"):
        await Vault.open(database, SecretStr("not the passphrase"))
    with pytest.raises(VaultInputError, match="already has a vault"):
        await Vault.create(database, SecretStr("not the passphrase"))
    assert await _stored(database) == before


async def test_a_new_vault_refuses_a_short_passphrase(database: Database) -> None:
    with pytest.raises(VaultInputError, match="at least 8 characters"):
        await Vault.create(database, SecretStr("short"))
    assert not await vault.exists(database)


async def test_bad_names_kinds_and_urls_are_refused(database: Database) -> None:
    opened = await Vault.create(database, PASS)
    for name in ("", "has space", "-leading", "x" * 65, "ünïcode"):
        with pytest.raises(VaultInputError, match="is not a key name"):
            await opened.add(name, SecretStr("k"))
    with pytest.raises(VaultInputError, match="kind"):
        await opened.add("openai", SecretStr("k"), kind="other")
    with pytest.raises(VaultInputError, match="for a model key"):
        await opened.add("coinspot.api_key", SecretStr("k"), base_url=LOCAL_URL)
    for url in ("ftp://example.com", "localhost:8000", "http://exa mple.com"):
        with pytest.raises(VaultInputError, match="not an http"):
            await opened.add("local", SecretStr("k"), base_url=url)
    with pytest.raises(VaultInputError, match="no key was given"):
        await opened.add("openai", SecretStr(""))
    assert await vault.stored_keys(database) == []


async def test_a_tampered_key_is_detected(database: Database) -> None:
    await _filled(database)
    altered = bytearray((await _sealed(database, "openai")).ciphertext)
    altered[0] ^= 1
    await _set(database, "openai", ciphertext=bytes(altered))
    await _set(database, "local", base_url="http://127.0.0.1:9999/v1")  # sent elsewhere

    reopened = await Vault.open(database, PASS)
    for name in ("openai", "local"):
        with pytest.raises(VaultDamaged, match=f"the stored key {name} does not open"):
            reopened.get(name)
    assert reopened.get("coinspot.api_key").get_secret_value() == SECRETS["coinspot.api_key"]
    with pytest.raises(VaultDamaged):  # nothing is re-sealed from a key that does not open
        await reopened.rotate(NEW)
    assert (await Vault.open(database, PASS)).get("coinspot.api_secret").get_secret_value()


async def test_ciphertexts_swapped_between_names_do_not_open(database: Database) -> None:
    await _filled(database)
    key = await _sealed(database, "coinspot.api_key")
    secret = await _sealed(database, "coinspot.api_secret")
    await _set(database, "coinspot.api_key", nonce=secret.nonce, ciphertext=secret.ciphertext)
    await _set(database, "coinspot.api_secret", nonce=key.nonce, ciphertext=key.ciphertext)

    reopened = await Vault.open(database, PASS)
    for name in ("coinspot.api_key", "coinspot.api_secret"):
        with pytest.raises(VaultDamaged, match="moved from another name"):
            reopened.get(name)


@pytest.mark.parametrize("fail_on", [3, len(SECRETS) + 1], ids=["mid-keys", "at-verifier"])
async def test_a_crash_mid_rotation_leaves_the_old_passphrase_working(
    database: Database, monkeypatch: pytest.MonkeyPatch, fail_on: int
) -> None:
    await _filled(database)
    opened = await Vault.open(database, PASS)
    before = await _stored(database)
    seal, sealed = vault._seal, 0

    def crashing(*args: Any) -> tuple[bytes, bytes]:
        # Each key is sealed and written before the next: by the third seal two rows are
        # rewritten; the last seal is the verifier's, after every key.
        nonlocal sealed
        sealed += 1
        if sealed == fail_on:
            raise RuntimeError("power cut")
        return seal(*args)

    monkeypatch.setattr(vault, "_seal", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        await opened.rotate(NEW)
    monkeypatch.setattr(vault, "_seal", seal)

    assert sealed == fail_on
    assert await _stored(database) == before
    _opens_all(await Vault.open(database, PASS))
    with pytest.raises(VaultLocked):
        await Vault.open(database, NEW)

    assert await opened.rotate(NEW) == len(SECRETS)  # the same vault rotates once it can
    rotated = await Vault.open(database, NEW)
    _opens_all(rotated)
    assert all(k.rotated_at is not None for k in rotated.keys())
    with pytest.raises(VaultLocked):
        await Vault.open(database, PASS)


async def test_a_vault_opened_before_a_rotation_cannot_write(database: Database) -> None:
    await _filled(database)
    early, late = await Vault.open(database, PASS), await Vault.open(database, PASS)
    await late.rotate(NEW)
    before = await _stored(database)
    with pytest.raises(VaultLocked, match="changed since it was opened"):
        await early.add("gemini", SecretStr("g-1"))
    with pytest.raises(VaultLocked, match="changed since it was opened"):
        await early.remove("openai")
    assert await _stored(database) == before


async def test_the_cost_is_stored_with_the_vault(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _filled(database)
    made_with = vault.SCRYPT_COST
    monkeypatch.setattr(vault, "SCRYPT_COST", (2**11, 8, 1))
    opened = await Vault.open(database, PASS)  # opens with the cost it was made with
    await opened.rotate(NEW)  # and takes today's cost on rotation
    async with database.engine.connect() as conn:
        lock = (await conn.execute(select(_LOCK))).one()
    assert (lock.scrypt_n, lock.scrypt_r, lock.scrypt_p) == (2**11, 8, 1) != made_with
    assert len(lock.salt) == 16 and len(lock.nonce) == 12


# -- the live trader's keys ------------------------------------------------------------------


def _live(**trading: str) -> config.Settings:
    return config.load(None, trading={"mode": "live", **trading})


async def test_live_trading_takes_its_keys_from_the_vault(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await _filled(database)
    configured = _live(api_key="cfg-key", api_secret="cfg-secret")
    monkeypatch.setenv(vault.PASSPHRASE_ENV, PASS.get_secret_value())
    with caplog.at_level(logging.WARNING):
        keys = await venue_keys(configured, database)
    assert keys is not None
    assert [k.get_secret_value() for k in keys] == [
        SECRETS["coinspot.api_key"],
        SECRETS["coinspot.api_secret"],
    ]
    assert caplog.records == []
    assert await venue_keys(config.load(None), database) is None  # paper trading needs none


async def test_a_locked_vault_falls_back_to_the_configured_keys_with_a_warning(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await _filled(database)
    configured = _live(api_key="cfg-key", api_secret="cfg-secret")
    with caplog.at_level(logging.WARNING):
        keys = await venue_keys(configured, database)
    assert keys is not None and keys[0].get_secret_value() == "cfg-key"
    assert "stay locked (OMC_VAULT_PASSPHRASE is not set)" in caplog.text
    assert "move them into the vault: omc keys add coinspot.api_key" in caplog.text

    with pytest.raises(TradingError, match="OMC_VAULT_PASSPHRASE is not set"):
        await venue_keys(_live(), database)
    monkeypatch.setenv(vault.PASSPHRASE_ENV, "not the passphrase")
    with pytest.raises(TradingError, match="does not open the vault"):
        await venue_keys(_live(), database)
    assert "cfg-secret" not in caplog.text and SECRETS["openai"] not in caplog.text


async def test_configured_keys_still_work_with_a_warning(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        keys = await venue_keys(_live(api_key="cfg-key", api_secret="cfg-secret"), database)
    assert keys is not None and keys[1].get_secret_value() == "cfg-secret"
    assert "move them into the vault: omc keys add coinspot.api_key" in caplog.text

    assert await venue_keys(_live(), database) is None
    with pytest.raises(TradingError, match="needs API keys: omc keys add coinspot.api_key"):
        live_broker(_live(), lambda: datetime.now(UTC), None)
