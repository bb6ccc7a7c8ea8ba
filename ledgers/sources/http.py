"""One HTTP policy for every collector: timeouts, retries with backoff that honour Retry-After,
per-source rate limits, and a health state per source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ledgers.clock import Clock, WallClock
from ledgers.sources.base import SourceError

USER_AGENT = "OhMyCoins/0.1 (+https://github.com/oh-my-coins)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class SourceHealth:
    """ok, degraded (a failure after a success) or down (failing), with the last error."""

    name: str
    status: str = "starting"
    error: str | None = None
    last_ok: datetime | None = None
    failures: int = 0

    def ok(self, now: datetime) -> bool:
        """Record a success; True when the state changed."""
        changed = self.status != "ok"
        self.status, self.error, self.failures, self.last_ok = "ok", None, 0, now
        return changed

    def failed(self, error: str) -> None:
        self.failures += 1
        self.error = error
        self.status = "degraded" if self.failures == 1 and self.last_ok else "down"


class _Bucket:
    """At most ``per_second`` requests a second, spaced evenly (no bursts to trip a limiter)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self, sleep: Sleep) -> None:
        async with self.lock:
            now = time.monotonic()
            if self.next_at > now:
                await sleep(self.next_at - now)
                now = self.next_at
            self.next_at = now + self.interval


class HttpPolicy:
    """Shared by all collectors; each request names its source for limits and health."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        user_agent: str = USER_AGENT,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": user_agent},
            follow_redirects=True,
        )
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._clock = clock or WallClock()
        self._buckets: dict[str, _Bucket] = {}
        self._health: dict[str, SourceHealth] = {}

    def limit(self, source: str, per_second: float) -> None:
        """Cap ``source`` at ``per_second`` requests a second."""
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._buckets[source] = _Bucket(per_second)

    def health(self, source: str) -> SourceHealth:
        return self._health.setdefault(source, SourceHealth(source))

    def healths(self) -> list[SourceHealth]:
        return list(self._health.values())

    def mark_ok(self, source: str) -> bool:
        return self.health(source).ok(self._clock.now())

    def mark_failed(self, source: str, error: str) -> None:
        self.health(source).failed(error)

    async def request(
        self,
        source: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        data: Any = None,
    ) -> httpx.Response:
        """Send with retries: timeouts, connection errors, 429 and 5xx are retried with
        exponential backoff (or the server's Retry-After); other 4xx fail at once."""
        bucket = self._buckets.get(source)
        error = "no attempt made"
        for attempt in range(self.retries + 1):
            if bucket is not None:
                await bucket.wait(self._sleep)
            delay = self.backoff * 2**attempt
            try:
                response = await self.client.request(
                    method, url, params=params, headers=headers, json=json, data=data
                )
            except httpx.TimeoutException:
                error = f"timed out after {self.timeout:g}s"
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status not in RETRY_STATUSES:
                    raise SourceError(
                        f"{source}: HTTP {status} from {_short(url)}", transient=False
                    )
                error = f"HTTP {status} from {_short(url)}"
                wait = retry_after(response, self._clock.now())
                if wait is not None:
                    if wait > self.max_backoff:
                        raise SourceError(
                            f"{source}: {error}; server asks to wait {wait:.0f}s", transient=True
                        )
                    delay = wait
            if attempt < self.retries:
                await self._sleep(min(delay, self.max_backoff))
        raise SourceError(f"{source}: {error} (after {self.retries + 1} attempts)", transient=True)

    async def get_json(self, source: str, url: str, **kwargs: Any) -> Any:
        return _json(source, url, await self.request(source, "GET", url, **kwargs))

    async def post_json(self, source: str, url: str, payload: Any, **kwargs: Any) -> Any:
        response = await self.request(source, "POST", url, json=payload, **kwargs)
        return _json(source, url, response)

    async def get_text(self, source: str, url: str, **kwargs: Any) -> str:
        return (await self.request(source, "GET", url, **kwargs)).text

    async def aclose(self) -> None:
        await self.client.aclose()


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Seconds the server asks us to wait (delta-seconds or an HTTP date), if it says."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _json(source: str, url: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise SourceError(f"{source}: malformed body from {_short(url)} (not JSON)") from None


def _short(url: str) -> str:
    return url.split("?", 1)[0]
