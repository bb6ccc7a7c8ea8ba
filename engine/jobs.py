"""Scheduled jobs on APScheduler's asyncio scheduler, with every run recorded and published."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from engine.bus import EventBus
from engine.events import JobEvent
from ledgers.clock import Clock
from ledgers.market import JobRunRecord

if TYPE_CHECKING:  # APScheduler loads when scheduling starts, off the desk's first paint
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("omc.jobs")

JobFunc = Callable[[], Awaitable[int]]


class Backoff(Exception):
    """Raised by a job to say its source failed and the next run should wait ``seconds``."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class JobStatus:
    name: str
    description: str
    interval: float
    status: str = "idle"  # idle | running | ok | error | skipped
    paused: bool = False
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_rows: int = 0
    last_error: str | None = None
    next_run: datetime | None = None
    runs: int = 0
    failures: int = 0


@dataclass
class _Job:
    func: JobFunc
    status: JobStatus
    after: asyncio.Event | None = None  # what the job needs first, such as open storage
    running: bool = False
    waiting: asyncio.Task[None] | None = None  # schedules the job once ``after`` is set


class JobRunner:
    """Owns the scheduler; ``run`` is the one path every run takes, scheduled or on demand."""

    def __init__(
        self,
        bus: EventBus,
        record: Callable[[JobRunRecord], None],
        clock: Clock,
    ) -> None:
        self._bus = bus
        self._record = record
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._scheduler: AsyncIOScheduler | None = None
        self._idle = asyncio.Event()  # set while no job is running
        self._idle.set()
        # Asked before every run: an engine that lost ownership of its database runs nothing.
        self.fence: Callable[[], str | None] | None = None

    def add(
        self,
        name: str,
        func: JobFunc,
        seconds: float,
        description: str,
        *,
        after: asyncio.Event | None = None,
    ) -> None:
        """Add a job; one ``after`` an event (storage open, say) is scheduled only once the
        event is set, so waiting for it is never a failed run."""
        self._jobs[name] = _Job(func, JobStatus(name, description, seconds), after)
        if self._scheduler is not None:
            self._schedule(name)

    def remove(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None and job.waiting is not None:
            job.waiting.cancel()
        if self._scheduler is not None and self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def names(self) -> list[str]:
        return list(self._jobs)

    def start(self) -> None:
        """Start scheduling every job; each first run happens right away."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._scheduler = AsyncIOScheduler(timezone=UTC)
        for name in self._jobs:
            self._schedule(name)
        self._scheduler.start()

    def _schedule(self, name: str) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        assert self._scheduler is not None
        job = self._jobs[name]
        if job.after is not None and not job.after.is_set():
            if job.waiting is None:
                job.waiting = asyncio.create_task(self._schedule_when_set(name, job))
            return
        self._scheduler.add_job(
            self.run,
            IntervalTrigger(seconds=job.status.interval, timezone=UTC),
            args=[name],
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(job.status.interval * 2)),
            next_run_time=datetime.now(UTC),
        )

    async def _schedule_when_set(self, name: str, job: _Job) -> None:
        assert job.after is not None
        await job.after.wait()
        job.waiting = None
        if self._scheduler is not None and self._jobs.get(name) is job:
            self._schedule(name)

    async def shutdown(self, grace: float = 3.0) -> None:
        """Stop scheduling and let runs in flight finish (up to ``grace`` seconds)."""
        for job in self._jobs.values():
            if job.waiting is not None:
                job.waiting.cancel()
                job.waiting = None
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None or not scheduler.running:
            return
        scheduler.pause()
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            log.warning(
                "jobs still running at shutdown: %s",
                [n for n, j in self._jobs.items() if j.running],
            )
        scheduler.shutdown(wait=False)

    def statuses(self) -> list[JobStatus]:
        return [self._with_next(j.status) for j in self._jobs.values()]

    def status(self, name: str) -> JobStatus:
        return self._with_next(self._job(name).status)

    def _with_next(self, status: JobStatus) -> JobStatus:
        if self._scheduler is None:
            return status
        aps = self._scheduler.get_job(status.name)
        return replace(status, next_run=aps.next_run_time if aps else None)

    def _job(self, name: str) -> _Job:
        try:
            return self._jobs[name]
        except KeyError:
            raise KeyError(f"no job named {name!r}; jobs: {', '.join(self._jobs)}") from None

    def pause(self, name: str) -> None:
        job = self._job(name)
        job.status = replace(job.status, paused=True)
        if self._scheduler is not None:
            self._scheduler.pause_job(name)
        self._bus.publish(JobEvent(name, "paused", self._clock.now()))

    def resume(self, name: str) -> None:
        job = self._job(name)
        job.status = replace(job.status, paused=False)
        if self._scheduler is not None:
            self._scheduler.resume_job(name)
        self._bus.publish(JobEvent(name, "resumed", self._clock.now()))

    async def run(self, name: str) -> JobStatus:
        """Run a job now, once what it needs is ready; a job already running is not started
        twice (recorded as skipped)."""
        job = self._job(name)
        if job.after is not None:
            await job.after.wait()
        started = self._clock.now()
        if job.running:
            self._finish(job, JobRunRecord(name, started, started, "skipped", 0, "already running"))
            return job.status
        fenced = self.fence() if self.fence is not None else None
        if fenced:
            self._finish(job, JobRunRecord(name, started, started, "skipped", 0, fenced))
            return job.status
        job.running = True
        self._idle.clear()
        job.status = replace(job.status, status="running", last_started=started)
        self._bus.publish(JobEvent(name, "running", started))
        t0 = time.perf_counter()
        backoff: float | None = None
        try:
            rows = await job.func()
            record = JobRunRecord(name, started, self._clock.now(), "ok", rows)
        except Backoff as exc:
            backoff = exc.seconds
            record = JobRunRecord(name, started, self._clock.now(), "error", 0, str(exc))
        except Exception as exc:  # a job's failure is recorded and shown, never fatal
            log.exception("job %s failed", name)
            record = JobRunRecord(name, started, self._clock.now(), "error", 0, _describe(exc))
        finally:
            job.running = False
            if not any(j.running for j in self._jobs.values()):
                self._idle.set()
        self._finish(job, record, (time.perf_counter() - t0) * 1000)
        if backoff is not None:
            self._delay(name, backoff)
        return job.status

    def _finish(self, job: _Job, record: JobRunRecord, duration_ms: float | None = None) -> None:
        s = job.status
        job.status = replace(
            s,
            status=record.status,
            last_finished=record.finished_at,
            last_rows=record.rows,
            last_error=record.error,
            runs=s.runs + 1,
            failures=s.failures + (record.status == "error"),
        )
        self._record(record)
        next_run = self._with_next(job.status).next_run
        self._bus.publish(
            JobEvent(
                record.job,
                record.status,
                record.finished_at or record.started_at,
                record.rows,
                record.error,
                duration_ms,
                next_run,
            )
        )

    def _delay(self, name: str, seconds: float) -> None:
        """Push the next run of a failing job out (backoff) without changing its interval."""
        if self._scheduler is None or self._jobs[name].status.paused:
            return
        self._scheduler.modify_job(
            name, next_run_time=datetime.now(UTC) + timedelta(seconds=seconds)
        )

    async def run_all_once(self) -> list[JobStatus]:
        return [await self.run(name) for name in self._jobs]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
