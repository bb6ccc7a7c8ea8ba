"""``omc``: open the desk on a local engine; a command runs the scripting CLI (``engine.cli``)."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import TYPE_CHECKING

from engine.cli import common
from engine.cli.parser import parser

if TYPE_CHECKING:
    from engine.config import Settings


def main(argv: list[str] | None = None) -> int:
    args = common.parse(parser(), argv)
    check = functools.partial(_check_keymap, args.config)
    if args.command == "config":  # the config it shows must be one the desk can start with
        return common.run(args, check=check)
    if args.command:
        return common.run(args)
    if args.json:
        return _fail("--json needs a command, e.g. omc positions --json", 2)
    return _open_desk(args)


def _open_desk(args: argparse.Namespace) -> int:
    from engine import config

    try:
        settings = common.load_settings(args)
        _check_keymap(args.config, settings)
    except (config.ConfigError, common.UsageError) as exc:
        return _fail(str(exc), 2)
    if settings.sim.enabled:
        from engine.warmup import preload_simulator

        preload_simulator()
    from engine.local import LocalEngine
    from engine.logs import configure
    from omc_tui.app import DeskApp

    # Log lines would scribble over the screen: the desk logs to a file in the data directory.
    configure(settings.engine.log_level, config.data_dir() / "omc-desk.log")

    # Scheduling and storage start a moment after the first prices paint (see LocalEngine).
    app = DeskApp(LocalEngine(settings, storage_delay=0.3), settings.desk)
    app.run()
    return app.return_code or 0


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
    sys.exit(main())
