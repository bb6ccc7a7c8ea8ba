"""The shared HTTP policy: retries, Retry-After, rate limits, errors and health."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy, retry_after
from tests.ledgers.collector_faults import Sleeps, policy


def counting(responses: list[httpx.Response | Exception]):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = responses[min(len(calls) - 1, len(responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


async def test_retries_transient_failures_then_succeeds() -> None:
    handler, calls = counting(
        [httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200, json={"ok": 1})]
    )
    sleeps = Sleeps()
    http = policy(handler, sleeps)
    assert await http.get_json("src", "https://example.test/a") == {"ok": 1}
    assert len(calls) == 3 and sleeps.waits == [0.5, 1.0]
    await http.aclose()


async def test_gives_up_after_the_retries_with_the_last_error() -> None:
    handler, calls = counting([httpx.Response(502)])
    http = policy(handler, retries=2)
    with pytest.raises(SourceError, match=r"src: HTTP 502 .*after 3 attempts") as err:
        await http.get_json("src", "https://example.test/a?key=secret")
    assert err.value.transient and len(calls) == 3
    assert "secret" not in str(err.value)  # query strings (tokens) stay out of messages
    await http.aclose()


async def test_retry_after_is_honoured_and_a_long_one_gives_up_at_once() -> None:
    handler, _ = counting(
        [httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=[])]
    )
    sleeps = Sleeps()
    http = policy(handler, sleeps)
    assert await http.get_json("src", "https://example.test/") == []
    assert sleeps.waits == [3.0]
    handler, calls = counting([httpx.Response(429, headers={"Retry-After": "3600"})])
    http = policy(handler, Sleeps())
    with pytest.raises(SourceError, match="wait 3600s"):
        await http.get_json("src", "https://example.test/")
    assert len(calls) == 1
    await http.aclose()


async def test_client_errors_are_not_retried() -> None:
    handler, calls = counting([httpx.Response(404)])
    http = policy(handler)
    with pytest.raises(SourceError, match="HTTP 404") as err:
        await http.get_text("src", "https://example.test/missing")
    assert not err.value.transient and len(calls) == 1
    await http.aclose()


async def test_malformed_json_is_a_source_error() -> None:
    handler, _ = counting([httpx.Response(200, text="<html>")])
    http = policy(handler)
    with pytest.raises(SourceError, match="malformed body"):
        await http.get_json("src", "https://example.test/")
    await http.aclose()


async def test_rate_limit_spaces_requests() -> None:
    handler, _ = counting([httpx.Response(200, json={})])
    sleeps = Sleeps()
    http = HttpPolicy(transport=httpx.MockTransport(handler), sleep=sleeps)
    http.limit("slow", 2.0)
    for _ in range(3):
        await http.get_json("slow", "https://example.test/")
    # The fake sleep does not advance time: requests are booked 0.5 s apart from the first.
    assert len(sleeps.waits) == 2
    assert 0.4 < sleeps.waits[0] <= 0.5 and 0.9 < sleeps.waits[1] <= 1.0
    await http.aclose()


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    response = httpx.Response(429, headers={"Retry-After": "Fri, 20 Nov 2026 09:30:45 GMT"})
    assert retry_after(response, now) == 45.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"}), now) is None


def test_health_moves_between_ok_degraded_and_down() -> None:
    http = HttpPolicy()
    assert http.health("x").status == "starting"
    http.mark_failed("x", "boom")
    assert http.health("x").status == "down"
    assert http.mark_ok("x") and http.health("x").status == "ok"
    http.mark_failed("x", "blip")
    assert http.health("x").status == "degraded" and http.health("x").error == "blip"
    http.mark_failed("x", "again")
    assert http.health("x").status == "down"


async def test_requests_carry_our_user_agent() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["User-Agent"])
        return httpx.Response(200, json={})

    http = HttpPolicy(
        transport=httpx.MockTransport(handler), user_agent="OMC test admin@example.test"
    )
    await http.get_json("src", "https://example.test/")
    assert seen == ["OMC test admin@example.test"]
    await http.aclose()
