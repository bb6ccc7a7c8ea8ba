"""``omc engine``: who owns the database and where it listens, and the attach token."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    group = common.group(sub, "engine", "the engine that owns the database", "engine_command")
    common.command(
        group, "status", engine_status, "owner, address, leader, standbys and clients", json=True
    )
    common.command(group, "token", engine_token, "the token that attaches to this machine's engine")


def engine_status(args: argparse.Namespace, settings: config.Settings) -> int:
    import asyncio

    from engine.trading.books import book_label
    from ledgers.urls import mask_url

    url = settings.database_url()
    status = asyncio.run(_status(settings))
    if status is None:
        if args.json:
            common.dump({"database": mask_url(url), "owner": None})
        else:
            print(f"no engine owns {mask_url(url)}: a command takes it for its own duration")
        return 0
    if args.json:
        common.dump(status)
        return 0
    print(f"database  {status.database}")
    print(f"owner     {status.role} at {status.address or '(not listening)'}")
    print(f"book      {book_label(status.book)} ({status.data} data)")
    print(f"clients   {status.clients} attached")
    for m in status.members:
        print(f"{m.role:<9} pid {m.pid} on {m.host} {m.address} since {m.started}".rstrip())
    return 0


async def _status(settings: config.Settings) -> Any:
    """The owner's own account, or None when no engine holds the database."""
    from engine.service.lease import lease_for
    from engine.service.protocol import Unreachable
    from engine.service.remote import RemoteEngine
    from engine.service.token import engine_token

    url = settings.database_url()

    async def nothing(db: Any) -> None:
        return None

    await common._on_db(url, nothing, upgrade=True)
    lease = lease_for(url)
    try:
        if await lease.try_acquire():
            return None
        owner = await lease.owner()
    finally:
        await lease.release()
    if owner is None or not owner.address:
        raise common.CommandFailed("a command holds the database right now; try again")
    remote = RemoteEngine(owner.address, engine_token(settings), reconnect=False, events=False)
    try:
        await remote.start()
        return await remote.service_status()
    except Unreachable as exc:
        raise common.CommandFailed(f"{exc} (it owns the database: {owner.who})") from None
    finally:
        await remote.stop()


def engine_token(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.service.token import engine_token as token

    print(token(settings))
    return 0
