"""``omc keys add | list | remove | rotate``: the vault of model and venue API keys.

The passphrase comes from ``OMC_VAULT_PASSPHRASE`` or is typed on the terminal; a key (and
rotate's new passphrase) is typed without echo, or read from stdin when it is not a terminal
(``echo KEY | omc keys add openai``). Listing needs no passphrase and never shows a secret.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from pydantic import SecretStr

    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    keys = common.group(
        sub, "keys", "the vault: model and venue API keys, encrypted", "keys_command"
    )
    add = common.command(
        keys, "add", keys_add, "store a key (typed, or read from stdin)", json=True
    )
    add.add_argument("name", help="openai, anthropic, gemini, coinspot.api_key, …")
    add.add_argument(
        "--kind",
        choices=["model", "venue"],
        help="default: venue for VENUE.api_key and VENUE.api_secret, model for anything else",
    )
    add.add_argument("--base-url", metavar="URL", help="an OpenAI-compatible endpoint's URL")
    common.command(keys, "list", keys_list, "names, kinds and dates; never a secret", json=True)
    remove = common.command(keys, "remove", keys_remove, "delete a key", json=True)
    remove.add_argument("name")
    common.command(
        keys, "rotate", keys_rotate, "re-encrypt every key under a new passphrase", json=True
    )


def keys_add(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine import vault

    with _said():
        name, kind, base_url = vault.key_fields(args.name, kind=args.kind, base_url=args.base_url)
        new = not common.with_db(settings, vault.exists)
        secret = vault.passphrase(confirm=new)
        key = _typed(f"key for {name}")

        async def work(db: Any) -> tuple[Any, bool]:
            opened = await (vault.Vault.create if new else vault.Vault.open)(db, secret)
            replaced = name in opened.names()
            return await opened.add(name, key, kind=kind, base_url=base_url), replaced

        async def through(engine: Any) -> tuple[Any, bool]:
            replaced = name in {k.name for k in await engine.keys()}
            added = await engine.key_add(
                name,
                key.get_secret_value(),
                secret.get_secret_value(),
                kind=kind,
                base_url=base_url,
            )
            return added, replaced

        info, replaced = _written(settings, work, through)
    if args.json:
        common.dump({**common.plain(info), "replaced": replaced})
    else:
        print(f"{info.name} ({info.kind}) {'replaced' if replaced else 'added'} in the vault")
    return 0


def keys_list(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine import vault

    stored = common.with_db(settings, vault.stored_keys)
    if args.json:
        common.dump({"keys": stored})
        return 0
    common.table(
        ["NAME", "KIND", "ADDED", "ROTATED", "BASE URL"],
        [
            [k.name, k.kind, common.when(k.added_at), common.when(k.rotated_at), k.base_url or ""]
            for k in stored
        ],
    )
    return 0


def keys_remove(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine import vault

    with _said():
        name = vault.key_name(args.name)
        _need_vault(settings)
        secret = vault.passphrase()

        async def work(db: Any) -> Any:
            return await (await vault.Vault.open(db, secret)).remove(name)

        async def through(engine: Any) -> Any:
            return await engine.key_remove(name, secret.get_secret_value())

        info = _written(settings, work, through)
    if args.json:
        common.dump({"name": info.name, "removed": True})
    else:
        print(f"{info.name} removed from the vault")
    return 0


def keys_rotate(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine import vault

    with _said():
        _need_vault(settings)
        current = vault.passphrase("Current vault passphrase: ")
        new = _typed("new vault passphrase", confirm=True)

        async def work(db: Any) -> int:
            return await (await vault.Vault.open(db, current)).rotate(new)

        async def through(engine: Any) -> int:
            return await engine.key_rotate(current.get_secret_value(), new.get_secret_value())

        count = _written(settings, work, through)
    if args.json:
        common.dump({"rotated": count})
        return 0
    print(f"{count} key{'' if count == 1 else 's'} re-encrypted under the new passphrase")
    if vault.env_passphrase() is not None:
        print(f"{vault.PASSPHRASE_ENV} still holds the old passphrase: change it where it is set")
    return 0


def _written(settings: config.Settings, work: Any, through: Any) -> Any:
    """A write to the vault: on the database when no engine owns it, else through the engine
    that does (the desk's, say), so ``omc keys`` works while the desk is open."""
    try:
        return common.with_db(settings, work, exclusive=True)
    except common.OwnerListening:
        return common.with_engine(settings, through, any_book=True)


def _need_vault(settings: config.Settings) -> None:
    """Before asking for any passphrase: there is a vault to open."""
    from engine import vault

    if not common.with_db(settings, vault.exists):
        raise common.UsageError(vault.NO_VAULT)


def _typed(what: str, *, confirm: bool = False) -> SecretStr:
    """Typed on the terminal without echo, or the first line of stdin (surrounding whitespace
    dropped) when stdin is not a terminal."""
    from pydantic import SecretStr

    from engine import vault

    if sys.stdin.isatty():
        return vault.ask_secret(f"{what[0].upper()}{what[1:]}: ", confirm=confirm)
    line = sys.stdin.readline().strip()
    if not line:
        raise common.UsageError(f"no {what} on stdin; nothing changed")
    return SecretStr(line)


@contextlib.contextmanager
def _said() -> Iterator[None]:
    """The vault's errors as the runner's: bad input (a wrong passphrase too) exits 2."""
    from engine.vault import VaultDamaged, VaultError

    try:
        yield
    except VaultDamaged as exc:
        raise common.CommandFailed(str(exc)) from None
    except VaultError as exc:
        raise common.UsageError(str(exc)) from None
