"""The engine over attach: an order's round trip, 50 clients on the quote stream, and the
desk's tick-to-screen when attached.

- ``attach_order``: the engine in its own process (``omc-engine --sim`` on SQLite, and on
  PostgreSQL when ``OMC_TEST_PG_URL`` is set); this process places market orders through
  ``RemoteEngine`` and times each round trip (target p99 < 5 ms). Timing starts once the
  engine has settled (its first collection of every ledger written, a few seconds after it
  starts): the figure is the steady state a trader sees, not the start-up rush.
- ``attach_clients``: an owning engine in this process publishes 2,000 quotes/s while a second
  process holds 50 attached clients reading them; the engine's event-loop lag is measured
  (target p99 < 20 ms).
- ``attach_tick``: ``tick_latency`` with the desk on a ``RemoteEngine`` (target p99 ≤ 16 ms).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.bench.tick_latency import percentile

ORDERS = 1000
SETTLE_SECONDS = 5.0
CLIENTS = 50
QUOTES_PER_S = 2000
SECONDS = 8.0


def _env(tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("OMC_")}
    return {
        **keep,
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "cfg"),
        "OMC_SERVICE__LISTEN": "127.0.0.1:0",
        "OMC_SERVICE__TOKEN": "bench",
        "OMC_SOURCES__ENABLED": "false",
        "OMC_TRADING__MAX_ORDERS_PER_MINUTE": "100000",
        "OMC_TRADING__MAX_OPEN_ORDERS": "100000",
        "OMC_TRADING__STARTING_CASH": "100000000",
    }


def _address(log: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("{") and '"msg": "listening"' in line:
                found = json.loads(line)["event"]["address"]
                if any('"msg": "leader"' in x for x in log.read_text().splitlines()):
                    return str(found)
        time.sleep(0.1)
    raise RuntimeError(f"the engine never listened:\n{log.read_text()[-2000:]}")


def order_round_trip() -> list[dict[str, object]]:
    """On SQLite, and on PostgreSQL too when ``OMC_TEST_PG_URL`` is set."""
    figures = _round_trip("sqlite")
    if os.environ.get("OMC_TEST_PG_URL"):
        figures += _round_trip("postgresql")
    return figures


def _round_trip(kind: str) -> list[dict[str, object]]:
    from engine.service.remote import RemoteEngine
    from tests.conftest import _pg_database

    databases = _pg_database(os.environ["OMC_TEST_PG_URL"]) if kind == "postgresql" else None
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        log = tmp / "engine.log"
        url = next(databases) if databases else f"sqlite+aiosqlite:///{tmp / 'b.db'}"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine.headless", "--sim", "--db", url],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_env(tmp),
            )
        try:
            address = _address(log)

            async def go() -> list[float]:
                remote = RemoteEngine(address, "bench")
                await remote.start()
                try:
                    await asyncio.sleep(SETTLE_SECONDS)
                    for _ in range(20):  # warm up: the first orders load rules and the book
                        await remote.place_order("BTC/AUD", "buy", "0.0001")
                    times = []
                    for i in range(ORDERS):
                        side = "buy" if i % 2 == 0 else "sell"
                        t0 = time.perf_counter()
                        result = await remote.place_order("BTC/AUD", side, "0.0001")
                        times.append(time.perf_counter() - t0)
                        assert result.accepted, result.message
                    t0 = time.perf_counter()
                    for _ in range(ORDERS):
                        await remote.trading()
                    read = (time.perf_counter() - t0) / ORDERS
                finally:
                    await remote.stop()
                return [*times, read]

            *times, read = asyncio.run(go())
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            if databases:
                next(databases, None)
    ms = [t * 1000 for t in times]
    return [
        {
            "figure": "attach_order_round_trip_ms",
            "p50": round(percentile(ms, 0.50), 2),
            "p99": round(percentile(ms, 0.99), 2),
            "max": round(max(ms), 2),
            "orders": len(ms),
            "database": kind,
            "target_p99": 5.0,
        },
        {"figure": "attach_book_read_ms_mean", "value": round(read * 1000, 2), "database": kind},
    ]


_CLIENTS_SCRIPT = """
import asyncio, sys, time
from engine.service.remote import RemoteEngine
async def main(address, n, seconds):
    clients = [RemoteEngine(address, "bench") for _ in range(n)]
    await asyncio.gather(*(c.start() for c in clients))
    subs = [c.bus.subscribe() for c in clients]
    counts = [0] * n
    async def read(i):
        while True:
            counts[i] += len(await subs[i].batch())
    readers = [asyncio.create_task(read(i)) for i in range(n)]
    print("attached", flush=True)
    await asyncio.sleep(seconds)
    print(sum(counts), flush=True)
    for r in readers: r.cancel()
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


def many_clients() -> list[dict[str, object]]:
    from engine import config
    from engine.events import QuoteEvent
    from engine.service.owner import OwningEngine

    async def go(tmp: Path) -> dict[str, object]:
        s = config.load(
            tmp / "none.toml",
            sim={"enabled": True},
            database={"url": f"sqlite:///{tmp / 'b.db'}"},
        )
        s.sources.enabled = False
        s.service.listen = "127.0.0.1:0"
        from pydantic import SecretStr

        s.service.token = SecretStr("bench")
        engine = OwningEngine(s, listen=s.service.listen, schedule=False)
        await engine.start()
        await engine.wait_ready()
        clients = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CLIENTS_SCRIPT,
            engine.address,
            str(CLIENTS),
            str(SECONDS + 1),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "XDG_DATA_HOME": str(tmp / "data")},
        )
        assert clients.stdout is not None
        await clients.stdout.readline()  # attached
        base = {r.symbol: r.quote for r in engine.snapshot().watchlist if r.quote}
        symbols = list(base)
        rng = random.Random(1)
        lags: list[float] = []
        interval = 0.01
        per_slot = QUOTES_PER_S * interval
        t_end = time.perf_counter() + SECONDS
        next_at = time.perf_counter()
        carry = 0.0
        published = 0
        while time.perf_counter() < t_end:
            carry += per_slot
            n = int(carry)
            carry -= n
            for _ in range(n):
                sym = rng.choice(symbols)
                q: QuoteEvent = base[sym]  # type: ignore[assignment]
                q = replace(q, last=q.last * (1 + rng.uniform(-1e-3, 1e-3)))
                base[sym] = q
                engine.bus.publish(q)
                published += 1
            next_at += interval
            before = time.perf_counter()
            await asyncio.sleep(max(0.0, next_at - before))
            # How late the loop woke us: the lag any job or order would have seen.
            lags.append(max(0.0, time.perf_counter() - max(next_at, before)))
        received = int((await clients.stdout.readline()) or b"0")
        await clients.wait()
        await engine.stop()
        ms = [x * 1000 for x in lags]
        return {
            "figure": "engine_loop_lag_ms_with_50_clients",
            "p50": round(percentile(ms, 0.50), 2),
            "p99": round(percentile(ms, 0.99), 2),
            "max": round(max(ms), 2),
            "clients": CLIENTS,
            "quotes_published_per_s": round(published / SECONDS),
            "events_received_by_clients": received,
            "target_p99": 20.0,
        }

    with tempfile.TemporaryDirectory() as folder:
        return [asyncio.run(go(Path(folder)))]


def attached_tick() -> list[dict[str, object]]:
    from tests.bench import tick_latency

    figure = asyncio.run(tick_latency.measure(attached=True))
    return [{**figure, "figure": "attached_tick_to_screen_ms"}]
