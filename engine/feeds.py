"""Health of each data feed: ok, degraded or down, with the last error and the retry backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.events import FeedEvent

MAX_BACKOFF_SECONDS = 300.0


@dataclass
class FeedHealth:
    name: str
    interval: float
    simulated: bool = False
    status: str = "starting"
    error: str | None = None
    last_ok: datetime | None = None
    retry_at: datetime | None = None
    failures: int = 0

    def ok(self, now: datetime) -> FeedEvent | None:
        """Mark a success; returns an event when the state changed."""
        changed = self.status != "ok"
        self.status, self.error, self.retry_at, self.failures = "ok", None, None, 0
        self.last_ok = now
        return self.event(now) if changed else None

    def failed(self, error: str, now: datetime, transient: bool = True) -> tuple[FeedEvent, float]:
        """Mark a failure; returns the event and how long to wait before retrying.

        The first transient failure after a success degrades the feed; a second in a row, or a
        permanent one, marks it down. The wait doubles from the poll interval up to 5 minutes.
        """
        self.failures += 1
        self.error = error
        self.status = "degraded" if transient and self.failures == 1 and self.last_ok else "down"
        wait = min(MAX_BACKOFF_SECONDS, self.interval * 2 ** (self.failures - 1))
        self.retry_at = now + timedelta(seconds=wait)
        return self.event(now), wait

    def event(self, now: datetime) -> FeedEvent:
        return FeedEvent(self.name, self.status, now, self.error, self.retry_at, self.simulated)
