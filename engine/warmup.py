"""Start-up help for the desk: load the simulator's modules on a thread while Textual loads."""

from __future__ import annotations

import importlib
import threading


def preload_simulator() -> None:
    """Import numpy and the simulator in the background (their extension loading overlaps)."""
    threading.Thread(
        target=importlib.import_module,
        args=("ledgers.sources.sim",),
        daemon=True,
        name="omc-preload",
    ).start()
