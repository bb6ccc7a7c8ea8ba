"""In-process publish/subscribe with per-subscriber coalescing of state-like events."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from engine.events import Event


class Subscription:
    """One subscriber's inbox: an ordered queue plus latest-per-key coalesced state events."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque()
        self._latest: dict[tuple[Any, ...], Event] = {}
        self._wake = asyncio.Event()
        self.closed = False

    def put(self, event: Event) -> None:
        key = event.coalesce_key
        if key is None:
            self._queue.append(event)
        else:
            self._latest[key] = event
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._latest)

    async def batch(self) -> list[Event]:
        """Everything waiting, oldest ordered events first then the newest state per key."""
        while not self._queue and not self._latest:
            if self.closed:
                return []
            self._wake.clear()
            await self._wake.wait()
        out = list(self._queue)
        self._queue.clear()
        out.extend(self._latest.values())
        self._latest.clear()
        return out

    async def __aiter__(self) -> AsyncIterator[Event]:
        while not self.closed:
            for event in await self.batch():
                yield event

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        self._bus._subscribers.discard(self)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subscribers.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        for sub in self._subscribers:
            sub.put(event)

    def publish_many(self, events: list[Event]) -> None:
        for sub in self._subscribers:
            for event in events:
                sub.put(event)

    async def stream(self) -> AsyncIterator[Event]:
        """Every event from now on, for one reader, until the bus closes."""
        sub = self.subscribe()
        try:
            async for event in sub:
                yield event
        finally:
            sub.close()

    def close(self) -> None:
        for sub in list(self._subscribers):
            sub.close()
