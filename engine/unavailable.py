"""``EngineUnavailable``, apart from the seam's many types (``engine.api`` re-exports it): the
lease raises it, and a command that only reads who owns the database loads nothing more."""

from __future__ import annotations


class EngineUnavailable(Exception):
    """The engine cannot be started or reached (owned elsewhere, unreachable): says why."""
