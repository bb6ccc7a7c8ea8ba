"""``omc-engine``: the engine with no UI, JSON log lines on stdout, a clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from engine import config
from engine.bus import Subscription
from engine.events import FeedEvent, InstrumentsEvent, JobEvent, ModeEvent, ReadyEvent
from engine.logs import configure, log_event

log = logging.getLogger("omc.engine")

LOGGED = (JobEvent, FeedEvent, InstrumentsEvent, ModeEvent, ReadyEvent)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="omc-engine", description="Run the OMC engine headless.")
    p.add_argument("--sim", action="store_true", help="use the simulated market")
    p.add_argument("--speed", type=float, help="simulated seconds per real second")
    p.add_argument("--once", action="store_true", help="run every job once, then exit")
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL: sqlite:////ABSOLUTE/PATH, sqlite:///RELATIVE/PATH or postgresql://…",
    )
    p.add_argument("--config", metavar="PATH", help="config file (default: platform config dir)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = config.load(
            args.config,
            sim={"enabled": True if args.sim else None, "speed": args.speed},
            database={"url": args.db},
        )
    except config.ConfigError as exc:
        print(f"omc-engine: {exc}", file=sys.stderr)
        return 2
    configure(settings.engine.log_level)
    return asyncio.run(serve(settings, once=args.once))


async def serve(settings: config.Settings, *, once: bool = False) -> int:
    from engine.local import LocalEngine

    engine = LocalEngine(settings, schedule=not once)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sub = engine.bus.subscribe()
    logger = asyncio.create_task(_log_events(sub))
    await engine.start()
    from ledgers.urls import mask_url

    where = {"venue": engine.feed.venue, "database": mask_url(settings.database_url())}
    log.info("engine started", extra={"event": where})
    failed = False
    try:
        if once:
            waiter = asyncio.create_task(stop.wait())
            run = asyncio.create_task(engine.run_once())
            done, _ = await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if run in done:
                failed = any(s.status == "error" for s in run.result())
            else:
                run.cancel()
        else:
            await stop.wait()
    finally:
        log.info("engine stopping")
        await engine.stop()
        await asyncio.sleep(0)  # let the logger drain what stop() published
        logger.cancel()
        log.info("engine stopped", extra={"event": {"rows_written": engine.writer.written}})
    return 1 if failed else 0


async def _log_events(sub: Subscription) -> None:
    async for event in sub:
        if isinstance(event, LOGGED):
            log_event(log, event)


if __name__ == "__main__":
    sys.exit(main())
