"""Glass-ledger collectors, DeFiLlama and EVM JSON-RPC, served from fixtures in the documented
shapes (see tests/fixtures/*/SOURCE.md)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgers.intel import GlassMetric
from ledgers.sources.base import SourceError
from ledgers.sources.glass import DefiLlamaCollector, EvmGasCollector
from tests.ledgers.collector_faults import FAULTS, NOW, Sleeps, assert_survives, policy

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOUR = datetime(2026, 11, 20, 9, tzinfo=UTC)  # NOW floored to the hour

Handler = Callable[[httpx.Request], httpx.Response]
Edit = Callable[[Any], None]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def reply(request: httpx.Request, data: Any) -> httpx.Response:
    # json.dumps, unlike httpx's json=, lets a NaN through, as a faulty server might send it.
    return httpx.Response(
        200,
        content=json.dumps(data).encode(),
        headers={"Content-Type": "application/json"},
        request=request,
    )


def by_key(rows: tuple[GlassMetric, ...]) -> dict[tuple[str, str], float]:
    values = {(r.entity, r.metric): r.value for r in rows}
    assert len(values) == len(rows)  # one row per entity and metric
    return values


# --- DeFiLlama ------------------------------------------------------------------------------

LLAMA = {
    "protocols": "defillama/protocols.json",
    "fees": "defillama/overview_fees.json",
    "revenue": "defillama/overview_revenue.json",
    "chains": "defillama/chains.json",
    "stablecoins": "defillama/stablecoins.json",
}


def llama_route(request: httpx.Request) -> str | None:
    path = request.url.path
    if path.endswith("/overview/fees"):
        return "revenue" if request.url.params.get("dataType") == "dailyRevenue" else "fees"
    for suffix, key in (
        ("/protocols", "protocols"),
        ("/v2/chains", "chains"),
        ("/stablecoins", "stablecoins"),
    ):
        if path.endswith(suffix):
            return key
    return None


def llama(edits: dict[str, Edit] | None = None) -> Handler:
    """Serve the DeFiLlama fixtures, each optionally edited; anything else is a 404."""

    def handler(request: httpx.Request) -> httpx.Response:
        key = llama_route(request)
        if key is None:
            return httpx.Response(404, request=request)
        data = load(LLAMA[key])
        if edits and key in edits:
            edits[key](data)
        return reply(request, data)

    return handler


def entry(items: list[dict[str, Any]], field: str, value: str) -> dict[str, Any]:
    return next(item for item in items if item.get(field) == value)


async def collect_llama(handler: Handler, **kwargs: Any) -> tuple[GlassMetric, ...]:
    http = policy(handler)
    try:
        return (await DefiLlamaCollector(**kwargs).collect(http, NOW)).glass
    finally:
        await http.aclose()


async def test_defillama_rows_from_the_fixtures(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="omc.glass"):
        rows = await collect_llama(llama())

    assert {r.source for r in rows} == {"defillama"}
    assert {r.ts for r in rows} == {HOUR}
    assert all(r.ts.tzinfo is UTC for r in rows)
    values = by_key(rows)
    # Aave and Uniswap are parents: their versions (aave-v3 + aave-v2, …) are summed.
    aave_before = 31204518377.5 / (1 - 0.0052) + 412876340.2 / (1 - 0.019)
    aave_tvl = 31204518377.5 + 412876340.2
    assert values.pop(("aave", "tvl_change_1d_pct")) == pytest.approx(
        (aave_tvl / aave_before - 1) * 100
    )
    assert values == {
        ("aave", "tvl_usd"): aave_tvl,
        ("lido", "tvl_usd"): 24817352019.42,
        ("lido", "tvl_change_1d_pct"): 1.27,
        ("uniswap", "tvl_usd"): 2386104552.7 + 1190233861.3,  # no change: v2's is null
        ("eigenlayer", "tvl_usd"): 12503880112.0,  # change_1d null: no change row
        ("aave", "fees_24h_usd"): 3107442 + 40211,
        ("lido", "fees_24h_usd"): 2918337,
        ("uniswap", "fees_24h_usd"): 1877264 + 512083,
        ("eigenlayer", "fees_24h_usd"): 301221,
        ("aave", "revenue_24h_usd"): 421918 + 5120,
        ("lido", "revenue_24h_usd"): 291834,
        ("uniswap", "revenue_24h_usd"): 0.0,  # v3 reports 0, v2 has no figure
        ("ethereum", "chain_tvl_usd"): 66123409981.52,
        ("solana", "chain_tvl_usd"): 9870231145.3,
        ("tron", "chain_tvl_usd"): 5412337090.1,
        ("bsc", "chain_tvl_usd"): 6023118724.9,
        ("arbitrum", "chain_tvl_usd"): 2744910277.6,
        # USD pegs only: EURC (peggedEUR) is left out.
        ("all", "stablecoin_supply_usd"): 183402217516.91
        + 75290443120.05
        + 7301552200.4
        + 4662010113.7,
        ("usdt", "stablecoin_supply_usd"): 183402217516.91,
        ("usdc", "stablecoin_supply_usd"): 75290443120.05,
    }
    # makerdao is configured by default but not in the fixture's listing: skipped, and said so.
    assert "'makerdao'" in caplog.text


async def test_defillama_requests_the_documented_endpoints() -> None:
    seen: list[httpx.Request] = []
    good = llama()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return good(request)

    await collect_llama(handler)
    lite = "excludeTotalDataChart=true&excludeTotalDataChartBreakdown=true"
    assert [str(r.url) for r in seen] == [
        "https://api.llama.fi/protocols",
        f"https://api.llama.fi/overview/fees?{lite}",
        f"https://api.llama.fi/overview/fees?{lite}&dataType=dailyRevenue",
        "https://api.llama.fi/v2/chains",
        "https://stablecoins.llama.fi/stablecoins?includePrices=false",
    ]
    assert {r.method for r in seen} == {"GET"}


async def test_defillama_stamps_the_utc_hour_whatever_the_zone_of_now() -> None:
    http = policy(llama())
    sydney = NOW.astimezone(timezone(timedelta(hours=11)))  # 20:30 local, same instant
    rows = (await DefiLlamaCollector(protocols=("lido",), chains=()).collect(http, sydney)).glass
    await http.aclose()
    assert {(r.ts, r.ts.tzinfo) for r in rows} == {(HOUR, UTC)}


async def test_defillama_base_urls_are_configurable() -> None:
    hosts: list[str] = []
    good = llama()

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(f"{request.url.host}{request.url.path}")
        return good(request)

    await collect_llama(
        handler, base_url="https://llama.internal/api/", stablecoins_url="https://stables.internal"
    )
    assert hosts[0] == "llama.internal/api/protocols"
    assert hosts[-1] == "stables.internal/stablecoins"


async def test_defillama_matches_names_and_skips_what_is_not_listed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unslug_eigenlayer(data: Any) -> None:
        del entry(data["protocols"], "name", "EigenLayer")["slug"]

    with caplog.at_level(logging.WARNING, logger="omc.glass"):
        rows = await collect_llama(
            llama({"fees": unslug_eigenlayer}),
            protocols=("EigenLayer", "no-such-protocol"),
            chains=("Ethereum", "Dogechain"),
        )
    values = by_key(rows)
    assert values[("eigenlayer", "fees_24h_usd")] == 301221  # matched on the name
    assert ("ethereum", "chain_tvl_usd") in values
    assert not any(entity in ("no-such-protocol", "dogechain") for entity, _ in values)
    assert "'no-such-protocol'" in caplog.text and "'Dogechain'" in caplog.text


async def test_defillama_paces_itself_once_per_policy() -> None:
    sleeps = Sleeps()
    http = policy(llama(), sleeps)
    collector = DefiLlamaCollector()
    await collector.collect(http, NOW)
    # Five requests at 2 a second: the four after the first wait their turn (the fake sleep
    # does not advance time, so the waits grow by half a second each).
    assert len(sleeps.waits) == 4 and 0.4 < sleeps.waits[0] <= 0.5
    await collector.collect(http, NOW)
    assert len(sleeps.waits) == 9  # the pace carried on; it was not reset by a second limit()
    await http.aclose()


def drop_tvl(body: bytes) -> bytes:
    """Remove every ``tvl`` (required by /protocols, the first request) from a fixture."""
    data = json.loads(body)
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                item.pop("tvl", None)
    return json.dumps(data).encode()


@pytest.mark.parametrize("fault", FAULTS)
async def test_defillama_survives_the_fault_matrix(fault: str) -> None:
    error = await assert_survives(fault, DefiLlamaCollector(), llama(), mangle=drop_tvl)
    if fault == "missing_field":
        assert "GET /protocols" in str(error) and "'tvl'" in str(error)


def _set(key: str, value: Any, field: str, match: str, where: str | None = None) -> Edit:
    def edit(data: Any) -> None:
        items = data[where] if where else data
        item = entry(items, field, match)
        if value is ...:
            del item[key]
        else:
            item[key] = value

    return edit


BAD_BODIES = [
    ("protocols", _set("tvl", ..., "slug", "lido"), ["GET /protocols", "'tvl'", "'lido'"]),
    ("protocols", _set("tvl", float("nan"), "slug", "lido"), ["'tvl'", "finite"]),
    ("protocols", _set("tvl", -1.0, "slug", "aave-v2"), ["'tvl'", "'aave-v2'", "negative"]),
    ("protocols", _set("tvl", "24817352019", "slug", "lido"), ["'tvl'", "expected a number"]),
    ("protocols", _set("tvl", True, "slug", "lido"), ["'tvl'", "expected a number"]),
    ("protocols", _set("change_1d", "up", "slug", "lido"), ["'change_1d'", "'lido'"]),
    ("protocols", _set("slug", ..., "name", "Curve DEX"), ["GET /protocols", "'slug'"]),
    ("protocols", lambda d: d.append(None), ["GET /protocols", "expected an object"]),
    ("fees", lambda d: d.pop("protocols"), ["GET /overview/fees:", "'protocols'", "missing"]),
    (
        "revenue",
        _set("total24h", "291834", "slug", "lido", "protocols"),
        ["GET /overview/fees?dataType=dailyRevenue", "'total24h'", "'lido'"],
    ),
    ("fees", _set("total24h", -5, "slug", "aave-v3", "protocols"), ["'total24h'", "negative"]),
    ("fees", _set("name", None, "slug", "tether", "protocols"), ["'name'", "null"]),
    ("chains", _set("tvl", ..., "name", "Ethereum"), ["GET /v2/chains", "'tvl'", "'Ethereum'"]),
    ("chains", _set("tvl", None, "name", "BSC"), ["GET /v2/chains", "'tvl'", "null"]),
    (
        "stablecoins",
        lambda d: d["peggedAssets"][0]["circulating"].pop("peggedUSD"),
        ["GET /stablecoins", "'peggedUSD'", "USDT"],
    ),
    ("stablecoins", _set("circulating", None, "symbol", "USDC", "peggedAssets"), ["'circulating'"]),
    ("stablecoins", _set("pegType", ..., "symbol", "DAI", "peggedAssets"), ["'pegType'"]),
    (
        "stablecoins",
        lambda d: d["peggedAssets"].pop(1),
        ["GET /stablecoins", "'peggedAssets'", "no USDC"],
    ),
    ("stablecoins", lambda d: d.clear(), ["GET /stablecoins", "'peggedAssets'", "missing"]),
]


@pytest.mark.parametrize(("endpoint", "edit", "words"), BAD_BODIES)
async def test_defillama_rejects_a_bad_field_naming_endpoint_and_field(
    endpoint: str, edit: Edit, words: list[str]
) -> None:
    with pytest.raises(SourceError) as caught:
        await collect_llama(llama({endpoint: edit}))
    for word in words:
        assert word in str(caught.value)


async def test_defillama_rejects_a_body_of_the_wrong_shape() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if llama_route(request) == "chains":
            return reply(request, {"message": "upstream error"})
        return llama()(request)

    with pytest.raises(SourceError, match=r"GET /v2/chains: the body is an object"):
        await collect_llama(handler)


async def test_collectors_refuse_a_naive_now() -> None:
    http = policy(llama())
    with pytest.raises(ValueError, match="timezone-aware"):
        await DefiLlamaCollector().collect(http, datetime(2026, 11, 20, 9, 30))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        await EvmGasCollector().collect(http, datetime(2026, 11, 20, 9, 30))  # noqa: DTZ001
    await http.aclose()


# --- EVM JSON-RPC ---------------------------------------------------------------------------

A = "https://rpc-a.example"
B = "https://rpc-b.example/v3/SECRETKEY"  # a keyed endpoint: the key must stay out of errors
C = "https://rpc-c.example"
GAS_GWEI = 0x4C9035A9 / 1e9  # batch.json
HEIGHT = 0x16C17D4


def batch(request: httpx.Request) -> httpx.Response:
    return reply(request, load("evm/batch.json"))


def with_result(method_id: int, result: Any) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        data = load("evm/batch.json")
        data[method_id - 1]["result"] = result
        return reply(request, data)

    return handler


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("read timed out", request=request)


def fixed(name: str) -> Handler:
    return lambda request: reply(request, load(name))


def per_host(handlers: dict[str, Handler], seen: list[str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if seen is not None:
            seen.append(host)
        return handlers[host](request)

    return handler


async def collect_evm(collector: EvmGasCollector, handler: Handler) -> tuple[GlassMetric, ...]:
    http = policy(handler)
    try:
        return (await collector.collect(http, NOW)).glass
    finally:
        await http.aclose()


async def test_evm_rows_from_the_fixture() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return batch(request)

    rows = await collect_evm(EvmGasCollector(), handler)
    assert rows == (
        GlassMetric("evm:ethereum", "ethereum", "gas_price_gwei", NOW, 1.284519337),
        GlassMetric("evm:ethereum", "ethereum", "block_height", NOW, 23_861_204.0),
    )
    assert rows[0].value == GAS_GWEI and rows[1].value == HEIGHT
    assert rows[0].ts.tzinfo is UTC
    # One JSON-RPC 2.0 batch POSTed to the first endpoint.
    (request,) = requests
    assert request.method == "POST"
    assert str(request.url) == "https://ethereum-rpc.publicnode.com"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_gasPrice", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
    ]


async def test_evm_matches_batch_replies_by_id_in_any_order() -> None:
    rows = await collect_evm(
        EvmGasCollector(endpoints=(A,), chain="base"),
        lambda request: reply(request, load("evm/batch.json")[::-1]),
    )
    assert [(r.source, r.entity, r.metric, r.value) for r in rows] == [
        ("evm:base", "base", "gas_price_gwei", GAS_GWEI),
        ("evm:base", "base", "block_height", float(HEIGHT)),
    ]


FIRST_ENDPOINT_FAILURES = {
    "timeout": timeout,
    "http 500": lambda request: httpx.Response(500, request=request),
    "json-rpc error": fixed("evm/batch_errors.json"),
    "batch refused": fixed("evm/batch_refused.json"),
    "html body": lambda request: httpx.Response(200, text="<html>busy</html>", request=request),
    "not hex": with_result(1, "1284519337"),
    "not a string": with_result(2, 23861204),
    "empty hex": with_result(2, "0x"),
    "absurd gas": with_result(1, hex(100_001 * 10**9)),
    "missing result": lambda request: reply(request, [{"jsonrpc": "2.0", "id": 1}]),
}


@pytest.mark.parametrize("failure", FIRST_ENDPOINT_FAILURES)
async def test_evm_fails_over_to_the_next_endpoint(failure: str) -> None:
    collector = EvmGasCollector(endpoints=(A, B, C))
    seen: list[str] = []
    handler = per_host(
        {"rpc-a.example": FIRST_ENDPOINT_FAILURES[failure], "rpc-b.example": batch}, seen
    )
    rows = await collect_evm(collector, handler)
    assert by_key(rows) == {
        ("ethereum", "gas_price_gwei"): GAS_GWEI,
        ("ethereum", "block_height"): HEIGHT,
    }
    assert seen[-1] == "rpc-b.example" and "rpc-c.example" not in seen
    assert collector.preferred == B


async def test_evm_all_endpoints_failing_lists_each_error() -> None:
    collector = EvmGasCollector(endpoints=(A, B, C))
    handler = per_host(
        {
            "rpc-a.example": timeout,
            "rpc-b.example": fixed("evm/batch_errors.json"),
            "rpc-c.example": with_result(1, hex(200_000 * 10**9)),
        }
    )
    with pytest.raises(SourceError) as caught:
        await collect_evm(collector, handler)
    message = str(caught.value)
    assert message.startswith("evm:ethereum: all 3 endpoints failed: ")
    assert "rpc-a.example: timed out" in message
    assert "rpc-b.example: eth_gasPrice: JSON-RPC error -32005: request rate exceeded" in message
    assert "rpc-c.example: malformed reply: eth_gasPrice 200000 gwei is absurd" in message
    assert "SECRETKEY" not in message
    assert caught.value.transient
    assert collector.preferred == A  # nothing answered: no change


async def test_evm_http_errors_name_the_host_not_the_keyed_path() -> None:
    collector = EvmGasCollector(endpoints=(B,))
    with pytest.raises(SourceError) as caught:
        await collect_evm(collector, lambda request: httpx.Response(503, request=request))
    assert "rpc-b.example: HTTP 503 from rpc-b.example" in str(caught.value)
    assert "SECRETKEY" not in str(caught.value)


async def test_evm_sticks_to_the_last_good_endpoint_and_keeps_the_order_for_failover() -> None:
    collector = EvmGasCollector(endpoints=(A, B, C))
    seen: list[str] = []
    handlers = {"rpc-a.example": timeout, "rpc-b.example": batch, "rpc-c.example": batch}
    await collect_evm(collector, per_host(handlers, seen))
    assert collector.preferred == B

    seen.clear()
    handlers["rpc-a.example"] = batch  # A has recovered, but B is still tried first
    await collect_evm(collector, per_host(handlers, seen))
    assert seen == ["rpc-b.example"]

    seen.clear()
    handlers["rpc-b.example"] = fixed("evm/batch_errors.json")
    await collect_evm(collector, per_host(handlers, seen))
    assert seen == ["rpc-b.example", "rpc-a.example"]  # then the configured order: A before C
    assert collector.preferred == A


def drop_result(body: bytes) -> bytes:
    """Remove the ``result`` of the first reply in a batch (what the collector needs)."""
    data = json.loads(body)
    data[0].pop("result")
    return json.dumps(data).encode()


@pytest.mark.parametrize("fault", FAULTS)
async def test_evm_survives_the_fault_matrix(fault: str) -> None:
    error = await assert_survives(fault, EvmGasCollector(endpoints=(A, C)), batch, drop_result)
    assert "rpc-a.example" in str(error) and "rpc-c.example" in str(error)
    if fault == "missing_field":
        assert "eth_gasPrice has no result" in str(error)


def test_evm_needs_an_endpoint() -> None:
    with pytest.raises(ValueError, match="at least one endpoint"):
        EvmGasCollector(endpoints=())


async def test_evm_ignores_replies_it_did_not_ask_for() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        data = load("evm/batch.json")
        return reply(request, [{"jsonrpc": "2.0", "id": [1], "result": "0x1"}, "junk", *data])

    rows = await collect_evm(EvmGasCollector(endpoints=(A,)), handler)
    assert [r.value for r in rows] == [GAS_GWEI, float(HEIGHT)]


# --- EVM endpoints that refuse batches ------------------------------------------------------

SINGLE_REPLIES = {
    "eth_gasPrice": "evm/single_gas_price.json",
    "eth_blockNumber": "evm/single_block_number.json",
}


def no_batches(refusal: Handler, single: Handler | None = None) -> Handler:
    """An endpoint that answers a batch with ``refusal`` and single calls with ``single``
    (by default the fixture for the method asked)."""

    def handler(request: httpx.Request) -> httpx.Response:
        call = json.loads(request.content)
        if isinstance(call, list):
            return refusal(request)
        if single is not None:
            return single(request)
        return reply(request, load(SINGLE_REPLIES[call["method"]]))

    return handler


def sent(requests: list[httpx.Request]) -> list[str]:
    """What each request asked: ``batch`` or the method of a single call."""
    calls = [json.loads(r.content) for r in requests]
    return ["batch" if isinstance(c, list) else c["method"] for c in calls]


BATCH_REFUSALS = {
    "error object": fixed("evm/batch_not_supported.json"),
    "invalid request": fixed("evm/batch_refused.json"),
    "http 405": lambda request: httpx.Response(405, text="Method Not Allowed", request=request),
    "http 400": lambda request: httpx.Response(
        400, json=load("evm/batch_not_supported.json"), request=request
    ),
}


@pytest.mark.parametrize("refusal", BATCH_REFUSALS)
async def test_evm_falls_back_to_single_calls_where_batches_are_refused(refusal: str) -> None:
    collector = EvmGasCollector(endpoints=(A, B))
    requests: list[httpx.Request] = []
    endpoint = no_batches(BATCH_REFUSALS[refusal])

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return endpoint(request)

    http = policy(handler)
    try:
        first = await collector.collect(http, NOW)
        assert sent(requests) == ["batch", "eth_gasPrice", "eth_blockNumber"]
        requests.clear()
        second = await collector.collect(http, NOW + timedelta(minutes=1))
    finally:
        await http.aclose()

    for rows in (first.glass, second.glass):
        assert by_key(rows) == {
            ("ethereum", "gas_price_gwei"): GAS_GWEI,
            ("ethereum", "block_height"): HEIGHT,
        }
    # Remembered: the next cycle goes straight to single calls, and stays on the endpoint.
    assert sent(requests) == ["eth_gasPrice", "eth_blockNumber"]
    assert {r.url.host for r in requests} == {"rpc-a.example"} and collector.preferred == A
    assert json.loads(requests[0].content) == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_gasPrice",
        "params": [],
    }


async def test_evm_single_calls_are_remembered_per_endpoint() -> None:
    collector = EvmGasCollector(endpoints=(A, B))
    requests: list[httpx.Request] = []
    handlers = {
        "rpc-a.example": no_batches(fixed("evm/batch_not_supported.json")),
        "rpc-b.example": batch,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handlers[request.url.host](request)

    http = policy(handler, retries=0)
    try:
        await collector.collect(http, NOW)
        handlers["rpc-a.example"] = timeout  # A, now on single calls, goes down
        requests.clear()
        rows = (await collector.collect(http, NOW)).glass
    finally:
        await http.aclose()
    assert [(r.url.host, call) for r, call in zip(requests, sent(requests), strict=True)] == [
        ("rpc-a.example", "eth_gasPrice"),
        ("rpc-b.example", "batch"),  # B never refused one
    ]
    assert by_key(rows)[("ethereum", "block_height")] == HEIGHT and collector.preferred == B


@pytest.mark.parametrize(
    "single",
    {
        "refused as well": fixed("evm/batch_refused.json"),
        "unauthorised": lambda request: httpx.Response(401, request=request),
        "a list": fixed("evm/batch.json"),  # where one object was expected
    }.items(),
    ids=lambda item: item[0],
)
async def test_evm_endpoint_failing_single_calls_too_fails_over(
    single: tuple[str, Handler],
) -> None:
    collector = EvmGasCollector(endpoints=(A, B))
    seen: list[str] = []
    handlers = {
        "rpc-a.example": no_batches(fixed("evm/batch_not_supported.json"), single[1]),
        "rpc-b.example": batch,
    }
    rows = await collect_evm(collector, per_host(handlers, seen))
    assert by_key(rows)[("ethereum", "gas_price_gwei")] == GAS_GWEI
    assert seen == ["rpc-a.example", "rpc-a.example", "rpc-b.example"]
    assert collector.preferred == B

    # A's single calls never worked, so it is not marked: after B fails, A gets a batch again.
    requests: list[httpx.Request] = []
    handlers["rpc-b.example"] = fixed("evm/batch_errors.json")

    def record(request: httpx.Request) -> httpx.Response:
        if request.url.host == "rpc-a.example":
            requests.append(request)
        return handlers[request.url.host](request)

    with pytest.raises(SourceError):
        await collect_evm(collector, record)
    assert sent(requests)[0] == "batch"


async def test_evm_endpoints_refusing_every_call_fail_for_good_and_say_why() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(405, text="Method Not Allowed", request=request)

    with pytest.raises(SourceError) as caught:
        await collect_evm(EvmGasCollector(endpoints=(A, B)), refuse)
    message = str(caught.value)
    assert not caught.value.transient
    assert (
        "rpc-b.example: HTTP 405 from rpc-b.example "
        "(after the batch was refused: HTTP 405 from rpc-b.example)"
    ) in message
    assert "SECRETKEY" not in message
