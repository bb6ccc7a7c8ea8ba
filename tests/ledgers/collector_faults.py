"""The fault matrix every collector must survive: timeout, 429 with Retry-After, 5xx,
malformed body and a missing field. Each ends in ``SourceError`` and no records.

Use it with a handler that serves the collector's good fixtures::

    @pytest.mark.parametrize("fault", FAULTS)
    async def test_faults(fault):
        await assert_survives(fault, make_collector(), good_handler)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from ledgers.sources.base import SourceError
from ledgers.sources.collector import Collector
from ledgers.sources.http import HttpPolicy

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
FAULTS = ["timeout", "429", "5xx", "malformed", "missing_field"]

Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    """Records the waits the policy asks for instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def policy(handler: Handler, sleeps: Sleeps | None = None, retries: int = 2) -> HttpPolicy:
    return HttpPolicy(
        transport=httpx.MockTransport(handler), retries=retries, sleep=sleeps or Sleeps()
    )


def drop_first_field(body: bytes) -> bytes:
    """Remove one required field from a JSON fixture: the first key of the first object found."""
    data = json.loads(body)

    def strip(node: object) -> bool:
        if isinstance(node, dict) and node:
            for key in list(node):
                if isinstance(node[key], dict | list) and strip(node[key]):
                    return True
            node.pop(next(iter(node)))
            return True
        if isinstance(node, list):
            return any(strip(item) for item in node)
        return False

    strip(data)
    return json.dumps(data).encode()


def faulty(
    fault: str, good: Handler, mangle: Callable[[bytes], bytes] = drop_first_field
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if fault == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if fault == "429":
            return httpx.Response(429, headers={"Retry-After": "7"}, request=request)
        if fault == "5xx":
            return httpx.Response(503, text="Service Unavailable", request=request)
        response = good(request)
        if fault == "malformed":
            return httpx.Response(200, text="<html>502 Bad Gateway</html>", request=request)
        if fault == "missing_field":
            return httpx.Response(
                response.status_code,
                content=mangle(response.content),
                headers=response.headers,
                request=request,
            )
        raise ValueError(fault)

    return handler


async def assert_survives(
    fault: str,
    collector: Collector,
    good: Handler,
    mangle: Callable[[bytes], bytes] = drop_first_field,
) -> SourceError:
    """Run ``collector`` against ``fault``; it must raise SourceError (so nothing is written)."""
    sleeps = Sleeps()
    http = policy(faulty(fault, good, mangle), sleeps)
    try:
        with pytest.raises(SourceError) as caught:
            await collector.collect(http, NOW)
    finally:
        await http.aclose()
    if fault == "429":
        assert 7.0 in sleeps.waits  # Retry-After was honoured
    return caught.value
