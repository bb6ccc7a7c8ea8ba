"""Tick-to-screen latency with 200 symbols at 10 updates/s each (target p99 ≤ 16 ms).

The desk runs headless in-process on a simulated engine; quotes are published on the engine's
bus stamped with ``perf_counter`` and the watchlist records the delay when it renders the row.
Only rows on screen are rendered, which is what reaches a user.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from engine import config
from engine.events import QuoteEvent
from engine.local import LocalEngine
from omc_tui.app import DeskApp
from omc_tui.widgets.watchlist import Watchlist

SYMBOLS = 200
RATE = 10  # updates per second per symbol
SECONDS = 5.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    background: Callable[[], Awaitable[None]] | None = None,
    *,
    attached: bool = False,
    prepare: Callable[[LocalEngine], Awaitable[None]] | None = None,
) -> dict[str, object]:
    """``attached``: the desk on a RemoteEngine, the engine listening in this process.
    ``prepare`` runs on the ready engine before anything is measured; ``background`` runs
    while it is."""
    with tempfile.TemporaryDirectory() as tmp:
        s = config.load(
            Path(tmp) / "none.toml",
            sim={"enabled": True, "symbols": SYMBOLS},
            database={"url": f"sqlite:///{Path(tmp) / 'b.db'}"},
        )
        s.market.watchlist = config.DEFAULT_WATCHLIST + [
            f"SIM{i:03d}/AUD" for i in range(13, SYMBOLS + 1)
        ]
        desk_engine: object
        if attached:
            from pydantic import SecretStr

            from engine.service.owner import OwningEngine
            from engine.service.remote import RemoteEngine

            s.service.token = SecretStr("bench")
            engine: LocalEngine = OwningEngine(s, listen="127.0.0.1:0", schedule=False)
            await engine.start()
            desk_engine = RemoteEngine(engine.address, "bench")  # type: ignore[attr-defined]
        else:
            engine = LocalEngine(s, schedule=False)
            desk_engine = engine
        app = DeskApp(desk_engine, s.desk)  # type: ignore[arg-type]
        async with app.run_test(size=(160, 48)) as pilot:
            await engine.wait_ready()
            if prepare is not None:
                await prepare(engine)
            await pilot.pause(0.5)
            watchlist = app.query_one(Watchlist)
            base = {r.symbol: r.quote for r in engine.snapshot().watchlist if r.quote}
            symbols = list(base)
            rng = random.Random(1)
            extra = asyncio.create_task(background()) if background else None
            await asyncio.sleep(0.2 if background else 0)
            watchlist.latencies = []
            cpu0, wall0 = time.process_time(), time.perf_counter()
            interval = 0.01
            per_slot = SYMBOLS * RATE * interval
            published = 0
            t_end = time.perf_counter() + SECONDS
            next_at = time.perf_counter()
            carry = 0.0
            while time.perf_counter() < t_end:
                carry += per_slot
                n = int(carry)
                carry -= n
                for sym in rng.sample(symbols, n):
                    q: QuoteEvent = base[sym]
                    q = replace(
                        q,
                        last=q.last * (1 + rng.uniform(-1e-3, 1e-3)),
                        published=time.perf_counter(),
                    )
                    base[sym] = q
                    engine.bus.publish(q)
                    published += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await pilot.pause(0.1)
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            if extra is not None:
                extra.cancel()
                await asyncio.gather(extra, return_exceptions=True)
            lat = watchlist.latencies
            watchlist.latencies = None
            if attached:
                await desk_engine.stop()  # type: ignore[attr-defined]
            await engine.stop()
    ms = [x * 1000 for x in lat]
    return {
        "figure": "tick_to_screen_ms",
        "p50": round(percentile(ms, 0.50), 2),
        "p99": round(percentile(ms, 0.99), 2),
        "max": round(max(ms), 2),
        "samples": len(ms),
        "published_per_s": round(published / SECONDS),
        "cpu_percent_of_one_core": round(cpu * 100),
        "fps_cap": int(os.environ.get("TEXTUAL_FPS", "60")),
        "target_p99": 16.0,
    }


def run(background: Callable[[], Awaitable[None]] | None = None) -> list[dict[str, object]]:
    return [asyncio.run(measure(background))]
