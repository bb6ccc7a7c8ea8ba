"""Start-up help for the desk: the simulator's modules load on the thread that starts the engine."""

from __future__ import annotations

import importlib


def load_simulator() -> None:
    """Import numpy and the simulator now (on a thread that can wait for them)."""
    importlib.import_module("ledgers.sources.sim")
