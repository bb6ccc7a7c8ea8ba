"""Database access for SQLite (aiosqlite) and PostgreSQL (asyncpg), and schema migrations."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from ledgers.urls import DatabaseURLError, check_sqlite_directory, mask_url, normalize_url

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Database", "DatabaseURLError", "SQLiteThread", "mask_url", "normalize_url"]

T = TypeVar("T")
log = logging.getLogger("omc.database")


class Database:
    """An async engine on one database, with the pragmas and pool settings each backend needs.

    ``inline`` (for a command that does one thing and exits): the engine is an
    ``InlineEngine``, the same calls answered by a synchronous engine — on a SQLite file by the
    standard driver on this thread, on PostgreSQL by asyncpg through the greenlet bridge the
    asyncio extension itself stands on. The extension (and the ORM it loads) and aiosqlite's
    thread are a fifth of such a command's time and buy it nothing: nothing else runs while
    it waits. An in-memory database is the async engine's as before.
    """

    def __init__(self, url: str, *, echo: bool = False, inline: bool = False) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self._file = self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:")
        self._thread: SQLiteThread | None = None
        if inline and self._file:
            check_sqlite_directory(self.url)
            sync = create_engine(parsed.set(drivername="sqlite"), echo=echo)
            event.listen(sync, "connect", _sqlite_pragmas)
            self.engine: AsyncEngine = InlineEngine(sync, _called)  # type: ignore[assignment]
            self._file = False  # its connections are already this thread's: no thread of its own
            return
        if inline and self.dialect == "postgresql":
            from sqlalchemy.util.concurrency import greenlet_spawn

            # The asyncpg dialect on a plain engine: each call is run in a greenlet whose
            # driver awaits stand in for the event loop's (what AsyncEngine does, unloaded).
            sync = create_engine(self.url, echo=echo)
            self.engine = InlineEngine(sync, greenlet_spawn)  # type: ignore[assignment]
            return
        from sqlalchemy.ext.asyncio import create_async_engine

        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            path = parsed.database or ":memory:"
            if path == ":memory:":
                # One shared connection, or every connection would see its own empty database.
                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"] = {"check_same_thread": False}
            else:
                check_sqlite_directory(self.url)  # never create a directory a typo named
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    def sqlite_thread(self) -> SQLiteThread | None:
        """For a SQLite file, its connections worked from a thread of their own (made on first
        use); None on PostgreSQL and for an in-memory database."""
        if self._file and self._thread is None:
            self._thread = SQLiteThread(self.url)
        return self._thread

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        from ledgers.migrate import upgrade

        await upgrade(self.engine)

    async def current_revision(self) -> str | None:
        """The migration the database is at, or None for an empty database."""
        from ledgers.migrate import current_revision

        return await current_revision(self.engine)

    async def dispose(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.dispose()
        await self.engine.dispose()


async def _called(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn`` called here and now: a SQLite call of an ``InlineEngine`` never waits on the loop."""
    return fn(*args, **kwargs)


class InlineEngine:
    """What the engine's code asks of an ``AsyncEngine`` — ``connect``, ``begin``, ``dispose``
    and, on a connection, ``execute``, ``scalar(s)``, ``exec_driver_sql``, ``run_sync``,
    ``begin``, ``commit``, ``rollback``, ``get_raw_connection`` — answered by a synchronous
    engine, each call through ``call``: directly for SQLite (its awaits never suspend: made for
    a process that waits for nothing else), in a greenlet for an asyncio driver. Results come
    back buffered, as an ``AsyncConnection.execute``'s do."""

    def __init__(self, sync_engine: Engine, call: Callable[..., Awaitable[Any]]) -> None:
        self.sync_engine = sync_engine
        self.dialect = sync_engine.dialect
        self.url = sync_engine.url
        self._call = call

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[InlineConnection]:
        conn = await self._call(self.sync_engine.connect)
        async with _entered(self._call, conn):
            yield InlineConnection(conn, self._call)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[InlineConnection]:
        async with self.connect() as conn, conn.begin():
            yield conn

    async def dispose(self) -> None:
        await self._call(self.sync_engine.dispose)


@asynccontextmanager
async def _entered(call: Callable[..., Awaitable[Any]], manager: Any) -> AsyncIterator[Any]:
    """A synchronous context manager entered and left through ``call``."""
    entered = await call(manager.__enter__)
    try:
        yield entered
    except BaseException as exc:
        if not await call(manager.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await call(manager.__exit__, None, None, None)


class InlineConnection:
    """An ``AsyncConnection``'s calls on a synchronous connection (see ``InlineEngine``)."""

    def __init__(self, conn: Connection, call: Callable[..., Awaitable[Any]]) -> None:
        self.sync_connection = conn
        self.dialect = conn.dialect
        self._call = call

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(self.sync_connection.execute, *args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(self.sync_connection.scalar, *args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(self.sync_connection.scalars, *args, **kwargs)

    async def exec_driver_sql(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call(self.sync_connection.exec_driver_sql, *args, **kwargs)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._call(fn, self.sync_connection, *args, **kwargs)

    async def commit(self) -> None:
        await self._call(self.sync_connection.commit)

    async def rollback(self) -> None:
        await self._call(self.sync_connection.rollback)

    async def close(self) -> None:
        await self._call(self.sync_connection.close)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[InlineConnection]:
        transaction = await self._call(self.sync_connection.begin)
        async with _entered(self._call, transaction):
            yield self

    def in_transaction(self) -> bool:
        return self.sync_connection.in_transaction()

    async def get_raw_connection(self) -> Any:
        return self.sync_connection.connection


class SQLiteThread:
    """Synchronous connections to one SQLite file, worked from a thread of their own (one per
    event loop that writes).

    aiosqlite hands every cursor operation to its thread and back, several per statement; a
    transaction of many small statements (an order's) spends most of its time in those hops.
    Here a caller sends a batch of statements at once: one hop per batch. Transactions in one
    event loop take turns (``turn``), so its thread is never held by a transaction waiting
    for another one's lock; another loop's transactions have their own thread, and meet these
    in SQLite's lock as another process's would.

    A commit here never stops to checkpoint the write-ahead log (an fsync of the database,
    milliseconds): every ``CHECKPOINT_EVERY`` commits, a second thread checkpoints it without
    blocking anyone (PASSIVE).
    """

    CHECKPOINT_EVERY = 32

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(
            make_url(url).set(drivername="sqlite"),
            # Made and used in this object's threads, one at a time; disposal may come from
            # another.
            connect_args={"check_same_thread": False},
        )
        event.listen(self.engine, "connect", _sqlite_pragmas)
        event.listen(self.engine, "connect", _no_autocheckpoint)
        self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="omc-sqlite-checkpoint")
        self._counting = threading.Lock()
        self._commits = 0
        self._checkpointing = False
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turn] = (
            weakref.WeakKeyDictionary()
        )

    def committed(self) -> None:
        """Called in a worker after each commit: now and then, checkpoint aside."""
        with self._counting:
            self._commits += 1
            if self._commits % self.CHECKPOINT_EVERY or self._checkpointing:
                return
            self._checkpointing = True
        self._checkpointer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """Checkpoint until no commit came meanwhile: then every frame is in the database and
        the next writer starts the log again from its beginning."""
        try:
            while True:
                with self._counting:
                    seen = self._commits
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").close()
                with self._counting:
                    if self._commits == seen:
                        self._checkpointing = False
                        return
        except Exception:  # a missed checkpoint is made at the next one
            log.warning("checkpoint of %s failed", mask_url(str(self.engine.url)), exc_info=True)
            with self._counting:
                self._checkpointing = False

    def _turn(self) -> _Turn:
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = _Turn()
        return turn

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A write transaction's turn among this event loop's: in-process writers queue here,
        not in SQLite's busy handler (which sleeps milliseconds between its tries)."""
        turn = self._turn()
        task = asyncio.current_task()
        if turn.holder is task:
            raise RuntimeError("a write transaction was begun inside another on the same database")
        async with turn.lock:
            turn.holder = task
            try:
                yield
            finally:
                turn.holder = None

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` in a transaction of its own, committed: one hop to the thread."""
        async with self.turn():
            return await self.call(self._write, fn)

    def _write(self, fn: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the driver began nothing before it
            result = fn(conn)
            conn.commit()
        self.committed()
        return result

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in this event loop's thread."""
        worker = self._turn().worker
        return await asyncio.get_running_loop().run_in_executor(worker, fn, *args)

    async def dispose(self) -> None:
        await self.call(self._dispose)
        for turn in list(self._turns.values()):
            turn.worker.shutdown(wait=False)

    def _dispose(self) -> None:
        self._checkpointer.shutdown(wait=True)
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "busy_timeout=15000",  # writers queue for the lock (many commands at once) rather than fail
        # Takes effect in a new database (before its first table, and before WAL is on):
        # pruned pages go back to the file system a few at a time. An older file keeps its
        # mode until `omc db vacuum`.
        "auto_vacuum=INCREMENTAL",
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class _Turn:
    """One event loop's writers: their lock, the transaction holding it, their thread."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.holder: asyncio.Task[Any] | None = None
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="omc-sqlite")


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0").close()


async def begin_immediate(conn: Any) -> None:
    """On SQLite, take the database's write lock now, as this transaction's first statement:
    what it reads next cannot change before it writes (other writers wait their turn, up to
    the busy timeout). The driver begins nothing itself before it, so this is the BEGIN."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
