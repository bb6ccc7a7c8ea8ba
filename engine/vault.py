"""The vault: model and venue API keys, encrypted at rest in the engine's own database.

Each key is sealed with AES-256-GCM under a key that scrypt derives from the owner's passphrase
(the salt and the cost are stored with the vault). Every seal takes a fresh random 96-bit nonce
and binds the key's name and base URL as associated data, so a ciphertext moved to another name,
or a base URL pointed elsewhere, no longer opens. A sealed known value, the verifier, tells a
wrong passphrase apart from a damaged key. Names, kinds, base URLs and dates are not secret:
listing them needs no passphrase.

A venue's live-trading keys are named ``VENUE.api_key`` and ``VENUE.api_secret``
(``coinspot.api_key``); model keys take the provider's name (``openai``, ``anthropic``).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import SecretStr
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledgers.database import Database, begin_immediate
from ledgers.schema import VaultKeyRow, VaultRow

PASSPHRASE_ENV = "OMC_VAULT_PASSPHRASE"
KINDS = ("model", "venue")
MIN_PASSPHRASE = 8
SCRYPT_COST = (2**17, 8, 1)  # n, r, p: OWASP's minimum for scrypt (128 MiB, under a second)

_SALT_BYTES = 16
_NONCE_BYTES = 12  # GCM's 96-bit nonce
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VENUE_KEY = re.compile(r"[a-z0-9]+\.api_(key|secret)")
_VERIFIER = b"omc vault verifier"
_VERIFIER_AAD = b"omc-vault-verifier"

NO_VAULT = "there is no vault yet: omc keys add NAME makes one"

_LOCK = VaultRow.__table__
_KEYS = VaultKeyRow.__table__


class VaultError(Exception):
    """The vault cannot do what was asked; the message is a sentence for the user."""


class VaultInputError(VaultError):
    """Bad input: a name, a passphrase or a URL that cannot be used, or a key that is not there."""


class VaultLocked(VaultInputError):
    """The passphrase does not open the vault."""


class VaultDamaged(VaultError):
    """A stored key does not open under the right passphrase: it was altered or moved."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the vault says about a key without opening it."""

    name: str
    kind: str
    base_url: str | None
    added_at: datetime
    rotated_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Sealed:
    info: KeyInfo
    nonce: bytes
    ciphertext: bytes


# -- names and passphrases -------------------------------------------------------------------


def key_name(raw: str) -> str:
    """A key's name as stored: lower case letters, digits, ``.``, ``-`` and ``_``."""
    name = raw.strip().lower()
    if not _NAME.fullmatch(name):
        raise VaultInputError(
            f"{raw!r} is not a key name: use up to 64 letters, digits, '.', '-' or '_' "
            "(such as openai or coinspot.api_key)"
        )
    return name


def default_kind(name: str) -> str:
    """``venue`` for ``VENUE.api_key`` and ``VENUE.api_secret``, ``model`` for anything else."""
    return "venue" if _VENUE_KEY.fullmatch(name) else "model"


def key_fields(
    name: str, *, kind: str | None = None, base_url: str | None = None
) -> tuple[str, str, str | None]:
    """The name, kind and base URL a key is stored with; ``VaultInputError`` if one is bad."""
    name = key_name(name)
    kind = kind or default_kind(name)
    if kind not in KINDS:
        raise VaultInputError(f"a key's kind is {' or '.join(KINDS)}, not {kind!r}")
    return name, kind, None if base_url is None else _base_url(base_url, kind)


def venue_key_names(venue: str) -> tuple[str, str]:
    """The names a venue's live-trading API key and secret take in the vault."""
    return f"{venue}.api_key", f"{venue}.api_secret"


def env_passphrase() -> SecretStr | None:
    """The passphrase in ``OMC_VAULT_PASSPHRASE``: how a headless engine opens the vault."""
    value = os.environ.get(PASSPHRASE_ENV)
    return SecretStr(value) if value else None


def ask_secret(prompt: str, *, confirm: bool = False) -> SecretStr:
    """A secret typed on the terminal without echo (twice with ``confirm``)."""
    if not sys.stdin.isatty():
        raise VaultInputError("no terminal to type it on")
    typed = getpass.getpass(prompt)
    if not typed:
        raise VaultInputError("nothing was typed; nothing changed")
    if confirm and getpass.getpass("Again, to confirm: ") != typed:
        raise VaultInputError("the two entries differ; nothing changed")
    return SecretStr(typed)


def passphrase(prompt: str = "Vault passphrase: ", *, confirm: bool = False) -> SecretStr:
    """The vault's passphrase: ``OMC_VAULT_PASSPHRASE`` when set, else typed on the terminal
    (twice with ``confirm``, for a new vault)."""
    from_env = env_passphrase()
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise VaultInputError(f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal")
    return ask_secret(prompt, confirm=confirm)


# -- reading without the passphrase ----------------------------------------------------------


async def exists(db: Database) -> bool:
    """Whether this database has a vault (made with its first key)."""
    async with db.engine.connect() as conn:
        return (await conn.execute(select(_LOCK.c.id))).first() is not None


async def stored_keys(db: Database) -> list[KeyInfo]:
    """Every key's name, kind, base URL and dates, by name; no secret is opened."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(_KEYS).order_by(_KEYS.c.name))
        return [_info(row) for row in rows]


async def venue_keys(db: Database, venue: str) -> tuple[SecretStr, SecretStr] | None:
    """The venue's API key and secret, opened with ``OMC_VAULT_PASSPHRASE`` (never asked for);
    None when the vault does not hold both. Raises ``VaultError`` when it cannot open them."""
    names = venue_key_names(venue)
    held = {k.name for k in await stored_keys(db)}
    if not held.issuperset(names):
        return None
    secret = env_passphrase()
    if secret is None:
        raise VaultLocked(f"{PASSPHRASE_ENV} is not set")
    opened = await Vault.open(db, secret)
    return opened.get(names[0]), opened.get(names[1])


# -- the opened vault ------------------------------------------------------------------------


class Vault:
    """An opened vault: its keys' names and details, and each secret when asked for by name."""

    def __init__(self, db: Database, cipher: AESGCM, sealed: dict[str, _Sealed]) -> None:
        self.db = db
        self._cipher = cipher
        self._sealed = sealed

    @classmethod
    async def open(cls, db: Database, secret: SecretStr) -> Vault:
        """The vault of ``db`` opened with its passphrase; ``VaultLocked`` if it is wrong."""
        async with db.engine.connect() as conn:
            lock = (await conn.execute(select(_LOCK))).first()
            if lock is None:
                raise VaultInputError(NO_VAULT)
            rows = (await conn.execute(select(_KEYS))).all()
        cipher = await _derive(secret, lock.salt, (lock.scrypt_n, lock.scrypt_r, lock.scrypt_p))
        if not _opens(cipher, lock):
            raise VaultLocked("the passphrase does not open the vault")
        return cls(db, cipher, {row.name: _sealed(row) for row in rows})

    @classmethod
    async def create(cls, db: Database, secret: SecretStr) -> Vault:
        """A new, empty vault in ``db`` under this passphrase."""
        _check_new(secret)
        salt = os.urandom(_SALT_BYTES)
        cipher = await _derive(secret, salt, SCRYPT_COST)
        async with _transaction(db) as conn:
            if (await conn.execute(select(_LOCK.c.id))).first() is not None:
                raise VaultInputError("this database already has a vault")
            values = _lock_values(cipher, salt)
            await conn.execute(insert(_LOCK).values(id=1, created_at=_now(), **values))
        return cls(db, cipher, {})

    def names(self) -> list[str]:
        return sorted(self._sealed)

    def keys(self) -> list[KeyInfo]:
        return [self._sealed[name].info for name in self.names()]

    def get(self, name: str) -> SecretStr:
        """The secret stored under ``name``; ``VaultInputError`` if there is none."""
        name = key_name(name)
        sealed = self._sealed.get(name)
        if sealed is None:
            raise VaultInputError(f"the vault holds no key named {name} (omc keys list)")
        return SecretStr(self._unseal(sealed).decode())

    async def add(
        self,
        name: str,
        secret: SecretStr,
        *,
        kind: str | None = None,
        base_url: str | None = None,
    ) -> KeyInfo:
        """Store ``secret`` under ``name``, replacing any key of that name."""
        name, kind, base_url = key_fields(name, kind=kind, base_url=base_url)
        value = secret.get_secret_value()
        if not value:
            raise VaultInputError(f"no key was given for {name}; nothing changed")
        nonce, ciphertext = _seal(self._cipher, value.encode(), _aad(name, base_url))
        info = KeyInfo(name, kind, base_url, _now(), None)
        row = {
            "kind": kind,
            "base_url": base_url,
            "nonce": nonce,
            "ciphertext": ciphertext,
            "added_at": info.added_at,
            "rotated_at": None,
        }
        async with _transaction(self.db) as conn:
            await self._still_open(conn)
            await conn.execute(delete(_KEYS).where(_KEYS.c.name == name))
            await conn.execute(insert(_KEYS).values(name=name, **row))
        self._sealed[name] = _Sealed(info, nonce, ciphertext)
        return info

    async def remove(self, name: str) -> KeyInfo:
        """Delete the key stored under ``name``."""
        name = key_name(name)
        async with _transaction(self.db) as conn:
            await self._still_open(conn)
            query = select(_KEYS).where(_KEYS.c.name == name).with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                raise VaultInputError(f"the vault holds no key named {name} (omc keys list)")
            await conn.execute(delete(_KEYS).where(_KEYS.c.name == name))
        self._sealed.pop(name, None)
        return _info(row)

    async def rotate(self, new: SecretStr) -> int:
        """Re-seal every key and the verifier under a new passphrase, in one transaction: until
        it commits, the current passphrase opens everything. Returns how many keys moved."""
        _check_new(new)
        salt = os.urandom(_SALT_BYTES)
        cipher = await _derive(new, salt, SCRYPT_COST)
        now = _now()
        resealed: dict[str, _Sealed] = {}
        async with _transaction(self.db) as conn:
            await self._still_open(conn)
            rows = (await conn.execute(select(_KEYS).with_for_update())).all()
            for row in rows:
                aad = _aad(row.name, row.base_url)
                nonce, ciphertext = _seal(cipher, self._unseal(_sealed(row)), aad)
                await conn.execute(
                    update(_KEYS)
                    .where(_KEYS.c.name == row.name)
                    .values(nonce=nonce, ciphertext=ciphertext, rotated_at=now)
                )
                info = _info(row)
                resealed[row.name] = _Sealed(
                    KeyInfo(info.name, info.kind, info.base_url, info.added_at, now),
                    nonce,
                    ciphertext,
                )
            await conn.execute(update(_LOCK).values(rotated_at=now, **_lock_values(cipher, salt)))
        self._cipher, self._sealed = cipher, resealed
        return len(resealed)

    def _unseal(self, sealed: _Sealed) -> bytes:
        info = sealed.info
        try:
            return self._cipher.decrypt(
                sealed.nonce, sealed.ciphertext, _aad(info.name, info.base_url)
            )
        except InvalidTag:
            raise VaultDamaged(
                f"the stored key {info.name} does not open: it was altered, or moved from "
                "another name; add it again"
            ) from None

    async def _still_open(self, conn: AsyncConnection) -> None:
        """Inside a write: the stored vault is the one this passphrase opened (no rotation since),
        locked against other writers until the transaction ends."""
        lock = (await conn.execute(select(_LOCK).with_for_update())).first()
        if lock is None or not _opens(self._cipher, lock):
            raise VaultLocked("the vault changed since it was opened (rotated?): open it again")


# -- sealing ---------------------------------------------------------------------------------


async def _derive(secret: SecretStr, salt: bytes, cost: tuple[int, int, int]) -> AESGCM:
    """The AES-256 key for this passphrase; scrypt takes most of a second, off the event loop."""
    n, r, p = cost

    def derive() -> AESGCM:
        kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
        return AESGCM(kdf.derive(secret.get_secret_value().encode()))

    return await asyncio.to_thread(derive)


def _seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce, cipher.encrypt(nonce, plaintext, aad)


def _aad(name: str, base_url: str | None) -> bytes:
    # Neither a name nor a checked URL holds a NUL, so no two keys share associated data.
    return b"\0".join((b"omc-vault-key", name.encode(), (base_url or "").encode()))


def _opens(cipher: AESGCM, lock: Any) -> bool:
    try:
        return cipher.decrypt(lock.nonce, lock.verifier, _VERIFIER_AAD) == _VERIFIER
    except InvalidTag:
        return False


def _lock_values(cipher: AESGCM, salt: bytes) -> dict[str, Any]:
    n, r, p = SCRYPT_COST
    nonce, verifier = _seal(cipher, _VERIFIER, _VERIFIER_AAD)
    return {
        "salt": salt,
        "scrypt_n": n,
        "scrypt_r": r,
        "scrypt_p": p,
        "nonce": nonce,
        "verifier": verifier,
    }


def _check_new(secret: SecretStr) -> None:
    if len(secret.get_secret_value()) < MIN_PASSPHRASE:
        raise VaultInputError(
            f"a vault passphrase needs at least {MIN_PASSPHRASE} characters; nothing changed"
        )


def _base_url(raw: str, kind: str) -> str:
    if kind != "model":
        raise VaultInputError("--base-url is for a model key (an OpenAI-compatible endpoint)")
    url = raw.strip()
    parts = urlsplit(url)
    printable = url.isprintable() and " " not in url
    if parts.scheme not in ("http", "https") or not parts.netloc or not printable:
        raise VaultInputError(f"{raw!r} is not an http:// or https:// URL")
    if len(url) > 300:
        raise VaultInputError("a base URL holds at most 300 characters")
    return url


# -- rows ------------------------------------------------------------------------------------


@asynccontextmanager
async def _transaction(db: Database) -> AsyncIterator[AsyncConnection]:
    """A write transaction holding the database's write lock (SQLite) from its first statement;
    it commits on leaving and rolls back on any error."""
    async with db.engine.connect() as conn, conn.begin():
        await begin_immediate(conn)
        yield conn


def _info(row: Any) -> KeyInfo:
    return KeyInfo(row.name, row.kind, row.base_url, row.added_at, row.rotated_at)


def _sealed(row: Any) -> _Sealed:
    return _Sealed(_info(row), row.nonce, row.ciphertext)


def _now() -> datetime:
    return datetime.now(UTC)
