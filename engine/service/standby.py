"""A standby engine on PostgreSQL: it serves probes and points clients at the leader until the
leader's lease is free, then takes it (within ``[service] failover_seconds``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from engine.service.lease import Lease, OwnerRecord, new_record

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.service.server import Role

log = logging.getLogger("omc.service")


class Standby:
    def __init__(self, settings: Settings, lease: Lease) -> None:
        self.settings = settings
        self.lease = lease
        self.leader: OwnerRecord | None = None
        self._healthy = True

    async def wait(self, stop: asyncio.Event) -> bool:
        """Wait for the lease; True once this process holds it, False if told to stop first."""
        from engine.service.lease import kind_of
        from engine.service.metrics import EngineMetrics
        from engine.service.server import attach_server

        s = self.settings.service
        metrics = EngineMetrics()
        metrics.set_leader(False)
        metrics.set_info(
            version="",
            venue=self.settings.market.venue,
            database_kind=kind_of(self.settings.database_url()),
        )
        server = attach_server(
            self.settings, role=self._role, ready=self._ready, metrics=metrics.render
        )
        address = await server.start()
        record = new_record(address, "standby")
        beat = s.failover_seconds / 5
        log.info("standby", extra={"event": {"address": address}})
        try:
            while not stop.is_set():
                try:
                    if await self.lease.try_acquire():
                        await self.lease.forget(record)
                        log.info("this standby now owns the database")
                        return True
                    await self.lease.publish(record)
                    self.leader = await self.lease.owner()
                    self._healthy = True
                except Exception as exc:  # the database is away: keep trying, report unready
                    self._healthy = False
                    log.warning("standby cannot reach the database: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), beat)
            await self.lease.forget(record)
            return False
        finally:
            await server.stop()

    def _role(self) -> Role:
        from engine.service.server import Role

        leader = self.leader.address if self.leader else ""
        return Role("standby", leader, {"leader": self.leader.who if self.leader else ""})

    async def _ready(self) -> list[str]:
        if not self._healthy:
            return ["standby cannot reach the database"]
        return []
