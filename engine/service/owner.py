"""An engine that owns its database: the lease, the port it listens on, metrics and fences.

``OwningEngine`` is a ``LocalEngine`` that first takes the database's lease (waiting for a
command that holds it briefly), then starts, publishes where it listens and keeps its lease on a
heartbeat. Before every job run and inside every book transaction it checks that it still owns
the database; the moment it does not, it stops acting and says so (``lost``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.api import EngineUnavailable
from engine.events import LeaderEvent
from engine.local import LocalEngine
from engine.service.lease import (
    Lease,
    LeaseLost,
    OwnerRecord,
    acquire_or_wait,
    kind_of,
    lease_for,
    new_record,
)

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.service.alerts import Alerts
    from engine.service.metrics import EngineMetrics
    from engine.service.server import AttachServer, Role

log = logging.getLogger("omc.service")


class DatabaseOwned(EngineUnavailable):
    """Another engine owns the database (and this process may not wait or attach)."""

    def __init__(self, owner: OwnerRecord | None, database: str) -> None:
        who = owner.who if owner else "another process"
        super().__init__(f"the database {database} is owned by {who}")
        self.owner = owner


class OwningEngine(LocalEngine):
    def __init__(
        self,
        settings: Settings,
        *,
        listen: str | None = None,
        patience: float = 60.0,
        lease: Lease | None = None,
        **options: Any,
    ) -> None:
        super().__init__(settings, **options)
        self.listen = listen
        self.patience = patience
        hb = settings.service.failover_seconds / 5
        self.lease: Lease = lease or lease_for(settings.database_url(), heartbeat=hb)
        self.server: AttachServer | None = None
        self.metrics: EngineMetrics | None = None
        self.alerts: Alerts | None = None
        self.address = ""
        self.lost = asyncio.Event()
        self._lost_reason: str | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.jobs.fence = self._job_fence

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.claim()
        await super().start()
        await self.listen_and_publish()

    async def claim(self) -> None:
        """Take the lease; a command holding it is waited for. ``DatabaseOwned`` if an
        engine that listens holds it."""
        from ledgers.urls import display_url

        def listening(owner: OwnerRecord) -> bool:
            raise DatabaseOwned(owner, display_url(self.settings.database_url()))

        await acquire_or_wait(self.lease, patience=self.patience, on_listening_owner=listening)

    async def listen_and_publish(self) -> None:
        role = "leader" if self.listen else "command"
        if self.listen:
            await self._serve(self.listen)
            self._install_alerts()
        self._tasks.append(asyncio.create_task(self._publish(role), name="omc-publish"))

    async def _publish(self, role: str) -> None:
        """Say where this engine listens once its schema is in place (the record lives there
        on PostgreSQL); until then a client finds the lease taken and waits."""
        await self.wait_ready()
        await self.lease.publish(new_record(self.address, role))
        self.bus.publish(LeaderEvent(self.now(), True, self._me(), None))
        await self._heartbeat()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A task stuck in a database call must not hold up the stop: it is left behind.
            _, stuck = await asyncio.wait(self._tasks, timeout=3)
            if stuck:
                log.warning("stopping without %s", ", ".join(t.get_name() for t in stuck))
        if self.server is not None:
            await self.server.stop()
        if self.alerts is not None:
            await self.alerts.aclose()
        try:
            await super().stop()
        finally:
            await self.lease.release()

    def _me(self) -> str:
        import os
        import socket

        where = f" {self.address}" if self.address else ""
        return f"{os.getpid()}@{socket.gethostname()}{where}"

    # -- the port: attach, probes and metrics ------------------------------------------------

    async def _serve(self, listen: str) -> None:
        from engine.service.metrics import EngineMetrics
        from engine.service.server import attach_server

        self.metrics = EngineMetrics(now=self.now, rows_written=lambda: self.writer.written)
        self.metrics.set_leader(True)
        self.metrics.set_info(
            version=_version(),
            venue=self.feed.venue if self._started else self.settings.market.venue,
            database_kind=kind_of(self.settings.database_url()),
        )
        self._tasks.append(asyncio.create_task(self.metrics.follow(self.bus), name="omc-metrics"))
        lag = asyncio.create_task(self.metrics.watch_loop_lag(), name="omc-loop-lag")
        self._tasks.append(lag)
        self.server = attach_server(
            self.settings,
            listen,
            engine=self,
            role=self._role,
            ready=self.readiness,
            metrics=self._render_metrics,
        )
        self.address = await self.server.start()
        log.info("listening", extra={"event": {"address": self.address}})

    def _install_alerts(self) -> None:
        """Alerts to a webhook and email, when configured: delivered by a job, so a notifier
        that fails is retried and shows in the jobs screen without blocking anything."""
        from engine.service.alerts import Alerts

        alerts = Alerts(self.settings.alerts, lambda: datetime.now(UTC))  # wall time, even on SIM
        if not alerts.configured:
            return
        self.alerts = alerts
        self._tasks.append(asyncio.create_task(alerts.follow(self.bus), name="omc-alerts"))
        self.jobs.add("alerts.deliver", alerts.deliver, 5.0, "send alerts to webhook and email")

    def _render_metrics(self) -> tuple[bytes, str]:
        assert self.metrics is not None and self.server is not None
        self.metrics.set_clients(self.server.clients)
        return self.metrics.render()

    def _role(self) -> Role:
        from engine.service.server import Role

        mode = self._mode() if self._started else None
        info = {
            "book": mode.book if mode else "",
            "data": mode.data if mode else "",
            "venue": mode.venue if mode else "",
            "pid": _pid(),
        }
        return Role("leader" if not self.lost.is_set() else "standby", "", info)

    async def readiness(self) -> list[str]:
        """Why this engine is not ready to serve (empty when it is)."""
        reasons = []
        if self.lost.is_set():
            reasons.append(f"not the leader: {self._lost_reason}")
        if self.db is None:
            reasons.append(f"database not open: {self.storage_error or 'opening'}")
        if self.trading_error:
            reasons.append(f"trading down: {self.trading_error}")
        if self._started:
            age = self.quote_age()
            limit = self.settings.service.stale_feed_seconds
            if age is None:
                reasons.append("no quotes yet")
            elif age > limit:
                reasons.append(f"market feed stale: newest quote {age:.0f} s old")
        return reasons

    def quote_age(self) -> float | None:
        quotes = self.feed.quotes.values()
        if not quotes:
            return None
        newest = max(q.ts for q in quotes)
        return max(0.0, (self.now() - newest).total_seconds())

    # -- the fences ----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        beat = self.settings.service.failover_seconds / 5
        while not self.lost.is_set():
            await asyncio.sleep(beat)
            try:
                await self.lease.beat()
            except LeaseLost as exc:
                self._lose(str(exc))
                return
            except Exception as exc:  # a failed refresh is not a lost lease; the check says
                log.warning("lease refresh failed: %s", exc)
                await self._check_soon()

    async def _check_soon(self) -> None:
        try:
            await self.lease.check()
        except LeaseLost as exc:
            self._lose(str(exc))

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self._lost_reason = reason
        self.lost.set()
        log.error("this engine no longer owns the database: %s", reason)
        if self.metrics is not None:
            self.metrics.set_leader(False)
        self.bus.publish(LeaderEvent(datetime.now(UTC), False, "", reason))

    def _job_fence(self) -> str | None:
        if self.lost.is_set() or not self.lease.held:
            return f"this engine no longer owns the database ({self._lost_reason or 'no lease'})"
        return None

    async def _book_fence(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"this engine no longer owns the database: {self._lost_reason}")
        try:
            await self.lease.check()
        except LeaseLost as exc:
            self._lose(str(exc))
            raise

    async def _open_trading(self, db: Any) -> None:
        await super()._open_trading(db)
        if self.trading_host is not None:
            self.trading_host.store.fence = self._book_fence

    async def service_status(self) -> Any:
        from engine.api import MemberView, ServiceStatus
        from ledgers.urls import mask_url

        members = tuple(
            MemberView(m.role, m.pid, m.host, m.address, m.started)
            for m in await self.lease.members()
        )
        mode = self._mode()
        return ServiceStatus(
            mask_url(self.settings.database_url()),
            "leader" if not self.lost.is_set() else "deposed",
            self.address,
            mode.book,
            mode.data,
            self.server.clients if self.server else 0,
            members,
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oh-my-coins")
    except PackageNotFoundError:
        return "dev"


def _pid() -> int:
    import os

    return os.getpid()
