"""Ownership of a database: exactly one engine (or one command) acts on its book at a time.

SQLite: an OS file lock on ``<database>.owner`` beside the database file, released by the
kernel when the process ends however it ends. PostgreSQL: a session-level advisory lock held on
a dedicated connection, released by the server when that connection goes; the holder checks
its connection on a short heartbeat and stops acting the moment it fails, and the order path
can ask the server whether this connection still holds the lock (``fence_sql``).

Where the owner listens is published beside the lease (``OwnerRecord``): a file next to the
SQLite database, a row in ``engine_members`` on PostgreSQL, where standbys register too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.unavailable import EngineUnavailable

log = logging.getLogger("omc.service")

# The advisory lock's two keys: "OMC" and "own" in ASCII, so a DBA can tell what holds it.
LOCK_KEYS = (0x4F4D43, 0x6F776E)
MEMBER_TTL_SECONDS = 30.0  # a member row older than this is a process that went away


class LeaseLost(EngineUnavailable):
    """This process no longer owns the database: it must not act on the book."""


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """Who owns a database and where it can be reached (``address`` empty: a command)."""

    pid: int
    host: str
    address: str  # ws://127.0.0.1:8765 or wss://…; "" for a command holding it briefly
    role: str  # leader | standby | command
    started: str  # ISO time
    member: str = ""  # unique id of the process: host:pid:start

    @property
    def who(self) -> str:
        where = f" at {self.address}" if self.address else ""
        return f"pid {self.pid} on {self.host}{where}"


def new_record(address: str, role: str) -> OwnerRecord:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    host = socket.gethostname()
    pid = os.getpid()
    return OwnerRecord(pid, host, address, role, started, f"{host}:{pid}:{started}")


def kind_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def sqlite_path(url: str) -> Path:
    """The database file of a ``sqlite+aiosqlite:///…`` URL."""
    from ledgers.urls import sqlite_file

    file = sqlite_file(url)  # the plain forms, read without loading SQLAlchemy
    if file is not None and "%" not in url:  # SQLAlchemy unquotes an escaped path
        return file.resolve()
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("an in-memory database has no owner")
    return Path(database).resolve()


def asyncpg_dsn(url: str) -> str:
    """A ``postgresql+asyncpg://`` URL as asyncpg's own DSN: the same URL under asyncpg's
    scheme (its user, password, host, database and options as they are written, which asyncpg
    reads as SQLAlchemy does). A command finding the owner of a PostgreSQL database loads no
    SQLAlchemy for it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {scheme or url!r}")
    return f"postgresql://{rest}"


class FileLease:
    """An exclusive ``flock`` on ``<database>.owner``; the record goes in ``….owner.json``."""

    def __init__(self, url: str) -> None:
        db = sqlite_path(url)
        self.lock_path = db.with_name(db.name + ".owner")
        self.record_path = db.with_name(db.name + ".owner.json")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    async def try_acquire(self) -> bool:
        import fcntl

        if self._fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def publish(self, record: OwnerRecord) -> None:
        from engine.paths import write_whole

        write_whole(self.record_path, json.dumps(asdict(record)))

    async def owner(self) -> OwnerRecord | None:
        """The published owner, if that process is still alive (a kill -9 leaves its record)."""
        try:
            data = json.loads(self.record_path.read_text())
            record = OwnerRecord(**data)
        except (OSError, ValueError, TypeError):
            return None
        if record.host == socket.gethostname() and not _alive(record.pid):
            return None
        return record

    async def members(self) -> list[OwnerRecord]:
        owner = await self.owner()
        return [owner] if owner else []

    async def check(self) -> None:
        """Nothing can take a file lock from its holder; only closing gives it up."""
        if self._fd is None:
            raise LeaseLost("this process does not own the database")

    async def beat(self) -> None:
        await self.check()

    async def forget(self, record: OwnerRecord) -> None:
        """Only one process publishes beside a SQLite database: nothing to forget."""

    async def release(self) -> None:
        import fcntl

        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            # Only the holder's record is removed: a reader then knows nobody listens.
            self.record_path.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


class PgLease:
    """A session advisory lock on a connection of its own, checked on a heartbeat."""

    def __init__(self, url: str, *, heartbeat: float = 1.0) -> None:
        self._dsn = asyncpg_dsn(url)
        self._heartbeat = heartbeat
        self._conn: Any = None
        self._held = False
        self.backend_pid: int | None = None
        self.record: OwnerRecord | None = None
        # One connection, one operation at a time: the heartbeat and the order path's fence
        # would otherwise collide on it (and a collision is not a lost lease).
        self._using = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self._held

    async def _connection(self) -> Any:
        import asyncpg

        if self._conn is None or self._conn.is_closed():
            # Server-side keepalives: a leader cut off without a word is noticed in ~10 s and
            # its lock released, so a standby can take over.
            self._conn = await asyncpg.connect(
                self._dsn,
                timeout=self._heartbeat * 5,
                server_settings={
                    "application_name": "omc-engine lease",
                    "tcp_keepalives_idle": "5",
                    "tcp_keepalives_interval": "2",
                    "tcp_keepalives_count": "2",
                },
            )
            self.backend_pid = self._conn.get_server_pid()
        return self._conn

    async def try_acquire(self) -> bool:
        if self._held:
            return True
        async with self._using:
            conn = await self._connection()
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LOCK_KEYS)
        self._held = bool(got)
        return self._held

    async def publish(self, record: OwnerRecord) -> None:
        self.record = record
        async with self._using:
            await self._publish(record)

    async def _publish(self, record: OwnerRecord) -> None:
        conn = await self._connection()
        await conn.execute(
            """
            INSERT INTO engine_members (member, pid, host, address, role, started, seen)
            VALUES ($1, $2, $3, $4, $5, $6, now())
            ON CONFLICT (member) DO UPDATE SET address = EXCLUDED.address,
                role = EXCLUDED.role, seen = now()
            """,
            record.member,
            record.pid,
            record.host,
            record.address,
            record.role,
            record.started,
        )

    async def owner(self) -> OwnerRecord | None:
        leaders = [m for m in await self.members() if m.role in ("leader", "command")]
        return leaders[0] if leaders else None

    async def members(self) -> list[OwnerRecord]:
        async with self._using:
            conn = await self._connection()
            rows = await conn.fetch(
                """
            SELECT member, pid, host, address, role, started FROM engine_members
            WHERE seen > now() - make_interval(secs => $1)
            ORDER BY (role = 'leader') DESC, seen DESC
            """,
                MEMBER_TTL_SECONDS,
            )
        return [
            OwnerRecord(r["pid"], r["host"], r["address"], r["role"], r["started"], r["member"])
            for r in rows
        ]

    async def check(self) -> None:
        """Ask the server whether this connection still holds the lock (the fence)."""
        if not self._held:
            raise LeaseLost("this process does not own the database")
        try:
            async with self._using:
                conn = await self._connection()
                still = await asyncio.wait_for(
                    conn.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND classid = $1 AND objid = $2 AND objsubid = 2 AND pid = $3",
                        *LOCK_KEYS,
                        self.backend_pid,
                    ),
                    self._heartbeat * 2,
                )
        except Exception as exc:
            self._held = False
            raise LeaseLost(f"lost the database lease: {exc}") from None
        if not still:
            self._held = False
            raise LeaseLost("the database lease is held by another engine now")

    async def beat(self) -> None:
        """Refresh this member's row; raises ``LeaseLost`` when the leader lost its lock."""
        if self._held:
            await self.check()
        if self.record is not None:
            async with self._using:
                await self._publish(self.record)

    async def forget(self, record: OwnerRecord) -> None:
        """Remove a member row this process published (a standby that became the leader)."""
        with contextlib.suppress(Exception):
            async with self._using:
                conn = await self._connection()
                await conn.execute("DELETE FROM engine_members WHERE member = $1", record.member)

    async def release(self) -> None:
        try:
            async with asyncio.timeout(3):
                async with self._using:
                    await self._release()
        except TimeoutError:
            # Something holds the connection and does not let go: closing it from under it
            # releases the lock all the same (the server ends the session).
            conn, self._conn, self._held = self._conn, None, False
            if conn is not None:
                conn.terminate()

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        was_held, self._held = self._held, False
        if conn is None or conn.is_closed():
            return
        try:
            if self.record is not None:
                await conn.execute(
                    "DELETE FROM engine_members WHERE member = $1", self.record.member
                )
            if was_held:
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", *LOCK_KEYS)
        except Exception as exc:  # closing the connection releases the lock anyway
            log.warning("lease release: %s", exc)
        finally:
            await conn.close(timeout=2)


Lease = FileLease | PgLease


def lease_for(url: str, *, heartbeat: float = 1.0) -> Lease:
    if kind_of(url) == "postgresql":
        return PgLease(url, heartbeat=heartbeat)
    return FileLease(url)


async def acquire_or_wait(
    lease: Lease,
    *,
    patience: float,
    on_listening_owner: Callable[[OwnerRecord], bool] | None = None,
    poll: float = 0.05,
) -> OwnerRecord | None:
    """Take the lease, or return the owner that listens (when ``on_listening_owner`` accepts
    it). A command holding it without listening is waited for, up to ``patience`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        if await lease.try_acquire():
            return None
        owner = await lease.owner()
        if owner is not None and owner.address and on_listening_owner is not None:
            if on_listening_owner(owner):
                return owner
        if loop.time() >= deadline:
            who = owner.who if owner else "another process"
            raise LeaseLost(f"the database is busy: {who} holds it")
        await asyncio.sleep(poll)
