"""The engine's stand-in while it loads after the desk's first frame.

The desk paints at once from the last session's frame; what it asks of the engine meanwhile
(a chart, a screen's data, an order) waits for the engine and then goes to it. Sync questions
are answered from the frame: nothing is invented.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from engine.api import EngineAPI, Snapshot
from engine.events import Event, ModeEvent


class EngineStarting:
    def __init__(self, frame: Snapshot | None) -> None:
        self.frame = frame or Snapshot(
            mode=ModeEvent("", "", "local", ""),
            now=datetime.now(UTC),
            quote_currency="",
            watchlist=(),
            jobs=(),
            feeds=(),
        )
        self.engine: EngineAPI | None = None
        self._there = asyncio.Event()

    def attach(self, engine: EngineAPI) -> None:
        self.engine = engine
        self._there.set()

    def snapshot(self) -> Snapshot:
        return self.engine.snapshot() if self.engine is not None else self.frame

    def now(self) -> datetime:
        return self.engine.now() if self.engine is not None else self.frame.now

    async def events(self) -> AsyncIterator[Event]:
        await self._there.wait()
        assert self.engine is not None
        async for event in self.engine.events():
            yield event

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        """Every other part of the EngineAPI is a command: it waits for the engine."""
        if name.startswith("_"):
            raise AttributeError(name)
        if self.engine is not None:
            return getattr(self.engine, name)  # type: ignore[no-any-return]

        async def when_started(*args: Any, **kwargs: Any) -> Any:
            await self._there.wait()
            return await getattr(self.engine, name)(*args, **kwargs)

        return when_started


class StartRefused(Exception):
    """The engine cannot start as configured (a config error, exit 2) or cannot be had (owned
    elsewhere, unreachable: exit 1): the desk closes and says why."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code
