"""The ``omc`` parser: the global options, then one command group per module.

A command typed on the line needs only its own group's parser: building all twelve (forty
subparsers, each with a copy of the global options) is a start-up cost every script would pay.
``COMMANDS`` says which module adds each top-level command; a test holds it to what the
modules add.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from engine.cli import common

GROUPS = (
    "db",
    "ledger",
    "quality",
    "export",
    "config",
    "trading",
    "book",
    "research",
    "lab",
    "live",
    "owner",
    "keys",
)

# Top-level command -> the module (of ``GROUPS``) that adds it.
COMMANDS = {
    "db": "db",
    "ledger": "ledger",
    "quality": "quality",
    "export": "export",
    "config": "config",
    "order": "trading",
    "cancel": "trading",
    "positions": "trading",
    "orders": "trading",
    "fills": "trading",
    "pnl": "trading",
    "lots": "trading",
    "kill": "trading",
    "tax-report": "trading",
    "book": "book",
    "backtest": "research",
    "strategies": "research",
    "promote": "research",
    "deploy": "research",
    "undeploy": "research",
    "lab": "lab",
    "live": "live",
    "engine": "owner",
    "keys": "keys",
}

_HELP = {"-h", "--help"}


def parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: only the typed command's group when one is typed (and no
    help is asked before it); every group otherwise, for help and for a word it does not know."""
    groups = GROUPS
    typed = _command(argv) if argv is not None else None
    if typed in COMMANDS:
        groups = (COMMANDS[typed],)
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
    for name in groups:
        importlib.import_module(f"engine.cli.{name}").add_commands(sub)
    return p


def _command(argv: Sequence[str]) -> str | None:
    """The first word of ``argv`` that is not a global option or its value; None when help
    comes first (``omc --help positions`` lists every command)."""
    value_next = False
    for token in argv:
        if value_next:
            value_next = False
        elif token in _HELP:
            return None
        elif token.startswith("-"):
            value_next = token in common.VALUED and "=" not in token
        else:
            return token
    return None
