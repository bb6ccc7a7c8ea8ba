"""A full collection cycle of every real source against local fixtures.

Every collector runs at once on one event loop (the worst case for the loop), served through
httpx.MockTransport from tests/fixtures, and writes to SQLite. Reports wall time, rows/s and
the event loop's lag during the cycle; then the desk's tick-to-screen latency is measured
again with collection cycles running back to back in the same process.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from engine import config
from engine.intel import live_collectors
from ledgers.database import Database
from ledgers.market import Instrument
from ledgers.sources.http import HttpPolicy
from ledgers.store import LedgerStore
from tests.conftest import FROZEN

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_for(request: httpx.Request) -> Path:
    host, path = request.url.host, request.url.path
    if host == "api.llama.fi":
        if path == "/overview/fees":
            revenue = request.url.params.get("dataType") == "dailyRevenue"
            return (
                FIXTURES
                / "defillama"
                / ("overview_revenue.json" if revenue else "overview_fees.json")
            )
        return (
            FIXTURES
            / "defillama"
            / {"/protocols": "protocols.json", "/v2/chains": "chains.json"}[path]
        )
    if host == "stablecoins.llama.fi":
        return FIXTURES / "defillama" / "stablecoins.json"
    if request.method == "POST" and host == "hub.snapshot.org":
        return FIXTURES / "snapshot" / "proposals.json"
    if request.method == "POST":
        return FIXTURES / "evm" / "batch.json"
    if host == "api.alternative.me":
        return FIXTURES / "feargreed" / "fng.json"
    if host == "data.sec.gov":
        return FIXTURES / "sec" / path.rsplit("/", 1)[1]
    if host == "coinspot.zendesk.com":
        page = request.url.params.get("page", "1")
        return FIXTURES / "coinspot_help" / f"articles_page{min(int(page), 2)}.json"
    if host == "www.reddit.com":
        return FIXTURES / "reddit" / "hot_CryptoCurrency.json"
    if "cointelegraph" in host:
        return FIXTURES / "rss" / "cointelegraph.xml"
    if "decrypt" in host:
        return FIXTURES / "rss" / "decrypt_atom.xml"
    return FIXTURES / "rss" / "coindesk.xml"


def handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=fixture_for(request).read_bytes(), request=request)


async def instruments() -> list[Instrument]:
    return [Instrument("coinspot", s, s.split("/")[0], "AUD") for s in config.DEFAULT_WATCHLIST]


async def cycle(store: LedgerStore) -> tuple[int, list[str]]:
    """One run of every collector, concurrently; returns rows written and the failures."""
    settings = config.load(Path("/nonexistent/omc.toml"))
    http = HttpPolicy(transport=httpx.MockTransport(handler))
    collectors = live_collectors(settings, instruments)

    async def one(c) -> int:
        return await store.write_collected(await c.collect(http, FROZEN))

    results = await asyncio.gather(*(one(c) for c in collectors), return_exceptions=True)
    await http.aclose()
    rows = sum(r for r in results if isinstance(r, int))
    failures = [
        f"{c.name}: {r}"
        for c, r in zip(collectors, results, strict=True)
        if isinstance(r, BaseException)
    ]
    return rows, failures


async def lag_probe(stop: asyncio.Event, lags: list[float], period: float = 0.005) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        lags.append((time.perf_counter() - t - period) * 1000)


async def measure() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'c.db'}")
        await db.upgrade()
        store = LedgerStore(db)
        await cycle(store)  # warm imports and parsers once
        stop, lags = asyncio.Event(), []
        probe = asyncio.create_task(lag_probe(stop, lags))
        t0 = time.perf_counter()
        rows, failures = await cycle(store)
        wall = time.perf_counter() - t0
        stop.set()
        await probe
        await db.dispose()
    lags.sort()
    return {
        "figure": "collection_cycle",
        "collectors_failed": failures,
        "rows": rows,
        "wall_s": round(wall, 3),
        "rows_per_s": round(rows / wall),
        "loop_lag_ms_p99": round(lags[int(len(lags) * 0.99)], 2) if lags else None,
        "loop_lag_ms_max": round(max(lags), 2) if lags else None,
        "loop_lag_ms_median": round(statistics.median(lags), 2) if lags else None,
    }


def run() -> list[dict[str, object]]:
    from tests.bench import tick_latency

    out = [asyncio.run(measure())]

    async def cycles() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bg.db'}")
            await db.upgrade()
            try:
                while True:
                    await cycle(LedgerStore(db))
            finally:
                await db.dispose()

    during = tick_latency.run(background=cycles)[0]
    during["figure"] = "tick_to_screen_ms_during_collection"
    out.append(during)
    return out
