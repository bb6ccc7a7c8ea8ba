"""The EngineAPI's vault and settings for an in-process engine (mixed into ``LocalEngine``).

The engine that owns the database is the one that writes its vault, so the desk's "Settings &
keys" screen and ``omc keys`` on another terminal go through it. Secrets and passphrases come
in as arguments and go no further than the vault: nothing here logs, returns or keeps them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from engine.api import KeyView

if TYPE_CHECKING:
    from engine.config import Settings
    from ledgers.database import Database


class KeyCommands:
    db: Database | None
    settings: Settings
    _ready: asyncio.Event

    async def settings_view(self) -> dict[str, Any]:
        from engine.config import effective

        return effective(self.settings, self.settings.file)

    async def keys(self) -> list[KeyView]:
        from engine import vault

        return [_view(k) for k in await vault.stored_keys(await self._vault_db())]

    async def key_add(
        self,
        name: str,
        secret: str,
        passphrase: str,
        *,
        kind: str | None = None,
        base_url: str | None = None,
    ) -> KeyView:
        """Store a key (replacing one of that name); the first key makes the vault, sealed
        with ``passphrase``."""
        from pydantic import SecretStr

        from engine import vault

        name, kind, base_url = vault.key_fields(name, kind=kind, base_url=base_url)
        db = await self._vault_db()
        opened = await (vault.Vault.open if await vault.exists(db) else vault.Vault.create)(
            db, SecretStr(passphrase)
        )
        return _view(await opened.add(name, SecretStr(secret), kind=kind, base_url=base_url))

    async def key_remove(self, name: str, passphrase: str) -> KeyView:
        from pydantic import SecretStr

        from engine import vault

        opened = await self._open_vault(SecretStr(passphrase))
        return _view(await opened.remove(vault.key_name(name)))

    async def key_rotate(self, passphrase: str, new_passphrase: str) -> int:
        """Re-seal every key under ``new_passphrase`` in one transaction; how many moved."""
        from pydantic import SecretStr

        opened = await self._open_vault(SecretStr(passphrase))
        return await opened.rotate(SecretStr(new_passphrase))

    async def _vault_db(self) -> Database:
        await self._ready.wait()
        assert self.db is not None
        return self.db

    async def _open_vault(self, secret: Any) -> Any:
        from engine import vault

        db = await self._vault_db()
        if not await vault.exists(db):
            raise vault.VaultInputError(vault.NO_VAULT)
        return await vault.Vault.open(db, secret)


def _view(info: Any) -> KeyView:
    return KeyView(info.name, info.kind, info.base_url, info.added_at, info.rotated_at)
