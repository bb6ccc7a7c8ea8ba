"""``omc``: open the desk on a local engine; a command runs the scripting CLI (``engine.cli``)."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine.config import Settings

_VALUED = common.VALUED | {"--attach", "--token"}  # the desk's options that take a value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if _opens_the_desk(argv):  # the desk's start need not build every command's parser
        desk = argparse.ArgumentParser(prog="omc", parents=[common.global_options()])
        desk.add_argument("--attach", metavar="URL", help="open the desk on a remote engine")
        desk.add_argument("--token", metavar="T", help="the remote engine's attach token")
        return _open_desk(common.parse(desk, argv))
    from engine.cli.parser import parser

    args = common.parse(parser(argv), argv)
    check = functools.partial(_check_keymap, args.config)
    if args.command == "config":  # the config it shows must be one the desk can start with
        return common.run(args, check=check)
    if args.command:
        return common.run(args)
    if args.json:
        return _fail("--json needs a command, e.g. omc positions --json", 2)
    return _open_desk(args)


def entry() -> int:
    """The ``omc`` console script: ``main`` on this process's arguments; a command starts
    with the garbage collector held (``common.hold_collector``)."""
    argv = sys.argv[1:]
    if not _opens_the_desk(argv):
        common.hold_collector()
    return main(argv)


def _opens_the_desk(argv: list[str]) -> bool:
    """Only global options (``--sim``, ``--speed N``, ``--db URL``, ``--config PATH``)."""
    value_next = False
    for token in argv:
        if value_next:
            value_next = False
        elif token.split("=", 1)[0] in _VALUED:
            value_next = "=" not in token
        elif token != "--sim":
            return False
    return not value_next


def _open_desk(args: argparse.Namespace) -> int:
    """Paint the desk's first frame, then load the engine behind it (see ``first_frame``)."""
    from omc_tui import first_frame
    from omc_tui.app import DeskApp
    from omc_tui.starting import EngineStarting, StartRefused

    try:
        _check_keymap_file(args.config)  # a key map that would lose a key stops us here
    except common.UsageError as exc:
        return _fail(str(exc), 2)
    key = first_frame.frame_key(bool(args.sim), args.db)
    app = DeskApp(
        EngineStarting(first_frame.load(key)),
        starter=functools.partial(_start_engine, args),
        frame_key=key,
        follow_database=not getattr(args, "attach", None),
    )
    app.run()
    if isinstance(app.refused, StartRefused):
        return _fail(str(app.refused), app.refused.code)
    return app.return_code or 0


def _start_engine(args: argparse.Namespace) -> tuple[Any, Any]:
    """The engine and the desk's settings; runs on a thread once the first frame is painted."""
    from engine import config
    from omc_tui.starting import StartRefused

    try:
        settings = common.load_settings(args)
        _check_keymap(args.config, settings)
    except (config.ConfigError, common.UsageError) as exc:
        raise StartRefused(str(exc)) from None
    from engine.logs import configure

    # Log lines would scribble over the screen: the desk logs to a file in the data directory.
    configure(settings.engine.log_level, config.data_dir() / "omc-desk.log")
    remote = _remote_engine(getattr(args, "attach", None), getattr(args, "token", None), settings)
    if remote is not None:
        return remote, settings.desk
    from engine.service.owner import OwningEngine

    if settings.sim.enabled:
        from engine.warmup import load_simulator

        load_simulator()  # numpy and the simulator, here on this thread, off the event loop
    # The desk's engine owns the database and listens on loopback, so a command typed in
    # another terminal reaches the book the desk shows. Scheduling and storage start a moment
    # after the first prices paint (see LocalEngine).
    engine = OwningEngine(settings, listen=settings.service.listen, storage_delay=0.3)
    return engine, settings.desk


def _remote_engine(attach: str | None, token: str | None, settings: Settings) -> Any:
    """A RemoteEngine for ``--attach``, or for the engine that already owns the database."""
    import asyncio

    from engine.service.remote import RemoteEngine, attach_url
    from engine.service.token import engine_token
    from omc_tui.starting import StartRefused

    if attach:
        try:
            attach_url(attach)
        except ValueError as exc:
            raise StartRefused(str(exc)) from None
        if token is None and settings.service.token is not None:
            token = settings.service.token.get_secret_value()
        if token is None:
            raise StartRefused(
                "--attach needs --token (or OMC_SERVICE__TOKEN): see omc engine token"
            )
        return RemoteEngine(attach, token)
    owner = asyncio.run(_listening_owner(settings))
    if owner is None:
        return None
    return RemoteEngine(owner.address, token or engine_token(settings))


async def _listening_owner(settings: Settings) -> Any:
    """The engine that owns the configured database and listens, if one runs."""
    import asyncio

    from engine.service.lease import lease_for

    lease = lease_for(settings.database_url())
    try:
        # An engine that has the lease but has not said where it listens yet is starting:
        # wait a moment for its address rather than start a second engine that must wait.
        for _ in range(150):
            if await lease.try_acquire():
                return None
            owner = await lease.owner()
            if owner is not None and owner.address:
                return owner
            await asyncio.sleep(0.1)
        return None
    except Exception:  # a database that cannot be asked is the local engine's to report
        return None
    finally:
        await lease.release()


def _check_keymap_file(config_file: str | None) -> None:
    """The config file's key map, read without the settings machinery: refused before the
    desk opens if it names an unknown action or takes another action's key."""
    import tomllib

    from engine.paths import config_path
    from omc_tui.actions import KeymapError, check_keymap

    path = config_path(config_file)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise common.UsageError(f"config file {path}: {exc}") from None
    keymap = data.get("desk", {}).get("keymap", {}) if isinstance(data.get("desk"), dict) else {}
    if not isinstance(keymap, dict):
        return  # the settings' own check says what is wrong with it
    try:
        check_keymap({str(k): str(v) for k, v in keymap.items()})
    except KeymapError as exc:
        raise common.UsageError(f"config file {path}: {exc}") from None


def _check_keymap(config_file: str | None, settings: Settings) -> None:
    """Refuse a key map that names an unknown action or would take a key from another one."""
    from engine.config import config_path
    from omc_tui.actions import KeymapError, check_keymap

    try:
        check_keymap(settings.desk.keymap)
    except KeymapError as exc:
        raise common.UsageError(f"config file {config_path(config_file)}: {exc}") from None


def _fail(message: str, code: int) -> int:
    print(f"omc: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(entry())
