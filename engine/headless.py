"""``omc-engine``: the engine with no UI, JSON log lines on stdout, a clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from engine import config
from engine.bus import Subscription
from engine.events import (
    FeedEvent,
    InstrumentsEvent,
    JobEvent,
    LeaderEvent,
    ModeEvent,
    ReadyEvent,
)
from engine.logs import configure, log_event

log = logging.getLogger("omc.engine")

LOGGED = (JobEvent, FeedEvent, InstrumentsEvent, ModeEvent, ReadyEvent, LeaderEvent)


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
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where attach, /healthz, /readyz and /metrics listen (default 127.0.0.1:8765)",
    )
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: serve wss:// and https")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = config.load(
            args.config,
            sim={"enabled": True if args.sim else None, "speed": args.speed},
            database={"url": args.db},
            service={"listen": args.listen, "tls_cert": args.tls_cert, "tls_key": args.tls_key},
        )
    except config.ConfigError as exc:
        print(f"omc-engine: {exc}", file=sys.stderr)
        return 2
    configure(settings.engine.log_level)
    return asyncio.run(serve(settings, once=args.once))


async def serve(settings: config.Settings, *, once: bool = False) -> int:
    """Own the database and run the engine until SIGTERM; on PostgreSQL, wait as a standby
    while another engine owns it. Exit 0 on a clean stop, 1 when refused, 3 when deposed."""
    from engine.service.lease import kind_of
    from engine.service.owner import DatabaseOwned, OwningEngine
    from engine.service.standby import Standby
    from ledgers.urls import display_url, mask_url

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = settings.database_url()
    listen = None if once else settings.service.listen
    engine = OwningEngine(settings, schedule=not once, listen=listen, patience=5.0)
    if not await engine.lease.try_acquire():
        owner = await engine.lease.owner()
        if once or kind_of(url) != "postgresql":
            await engine.lease.release()
            print(f"omc-engine: {DatabaseOwned(owner, display_url(url))}", file=sys.stderr)
            return 1
        standby = Standby(settings, engine.lease)
        became_leader = await standby.wait(stop)
        if not became_leader:
            await engine.lease.release()
            return 0
    sub = engine.bus.subscribe()
    logger = asyncio.create_task(_log_events(sub))
    await engine.start()
    where = {"venue": engine.feed.venue, "database": mask_url(url), "address": engine.address}
    log.info("engine started", extra={"event": where})
    failed = deposed = False
    try:
        waiter = asyncio.create_task(stop.wait())
        lost = asyncio.create_task(engine.lost.wait())
        work = {waiter, lost}
        run = asyncio.create_task(engine.run_once()) if once else None
        if run is not None:
            work.add(run)
        done, _ = await asyncio.wait(work, return_when=asyncio.FIRST_COMPLETED)
        for task in work - done:
            task.cancel()
        deposed = lost in done
        if run is not None and run in done:
            failed = any(s.status == "error" for s in run.result())
    finally:
        log.info("engine stopping")
        await engine.stop()
        await asyncio.sleep(0)  # let the logger drain what stop() published
        logger.cancel()
        log.info("engine stopped", extra={"event": {"rows_written": engine.writer.written}})
    if deposed:
        return 3
    return 1 if failed else 0


async def _log_events(sub: Subscription) -> None:
    async for event in sub:
        if isinstance(event, LOGGED):
            log_event(log, event)


if __name__ == "__main__":
    sys.exit(main())
