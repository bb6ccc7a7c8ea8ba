"""The ``omc`` parser: the global options, then one command group per module."""

from __future__ import annotations

import argparse

from engine.cli import (
    book,
    common,
    config,
    db,
    export,
    keys,
    lab,
    ledger,
    live,
    owner,
    quality,
    research,
    trading,
)

GROUPS = (db, ledger, quality, export, config, trading, book, research, lab, live, owner, keys)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="omc",
        description="Oh My Coins: a keyboard-driven terminal trading desk. "
        "With no command, opens the desk. Global options work before or after the command.",
        parents=[common.global_options()],
        epilog="Offline, --sim uses the simulated market; without it, commands that trade or "
        "backtest need the venue (and its stored candles). An absolute SQLite path takes four "
        "slashes: --db sqlite:////home/me/omc.db.",
    )
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    return p
