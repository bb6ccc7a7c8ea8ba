"""A SQLite file's write thread: batches in one hop, turns among writers, checkpoints aside."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from ledgers.database import Database, SQLiteThread


async def _counter(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER)"))
        await conn.execute(text("INSERT INTO c VALUES (1, 0)"))
    return db


def _bump(conn: object) -> None:
    conn.execute(text("UPDATE c SET n = n + 1 WHERE id = 1"))  # type: ignore[attr-defined]


async def _count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT n FROM c"))).scalar_one())


def test_only_a_file_database_has_one() -> None:
    assert Database("sqlite:///:memory:").sqlite_thread() is None
    assert Database("postgresql+asyncpg://u@127.0.0.1/x").sqlite_thread() is None


async def test_writers_in_one_loop_take_turns_and_none_is_lost(tmp_path: Path) -> None:
    db = await _counter(tmp_path)
    thread = db.sqlite_thread()
    assert thread is not None
    try:
        await asyncio.gather(*(thread.write(_bump) for _ in range(200)))
        assert await _count(db) == 200
    finally:
        await db.dispose()


async def test_a_write_inside_another_is_refused_not_left_hanging(tmp_path: Path) -> None:
    db = await _counter(tmp_path)
    thread = db.sqlite_thread()
    assert thread is not None
    try:
        async with asyncio.timeout(5):
            async with thread.turn():
                with pytest.raises(RuntimeError, match="inside another"):
                    await thread.write(_bump)
        await thread.write(_bump)  # the turn was given back
        assert await _count(db) == 1
    finally:
        await db.dispose()


async def test_a_failed_write_rolls_back_and_the_next_one_goes_through(tmp_path: Path) -> None:
    db = await _counter(tmp_path)
    thread = db.sqlite_thread()
    assert thread is not None

    def bump_then_fail(conn: object) -> None:
        _bump(conn)
        raise ValueError("refused half way")

    try:
        with pytest.raises(ValueError, match="half way"):
            await thread.write(bump_then_fail)
        assert await _count(db) == 0
        await thread.write(_bump)
        assert await _count(db) == 1
    finally:
        await db.dispose()


def test_two_event_loops_write_one_file_without_waiting_on_each_other(tmp_path: Path) -> None:
    """Each loop has its own thread: a transaction of one loop holding SQLite's lock never
    sits in front of the other loop's commit (which would wait out the busy timeout)."""
    db = asyncio.run(_counter(tmp_path))
    thread = db.sqlite_thread()
    assert thread is not None
    errors: list[BaseException] = []

    def loop_writes() -> None:
        async def go() -> None:
            for _ in range(100):
                await thread.write(_bump)

        try:
            asyncio.run(go())
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    workers = [threading.Thread(target=loop_writes) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    assert errors == []
    assert asyncio.run(_count(db)) == 300
    asyncio.run(db.dispose())


def _restarts(wal: Path) -> int:
    """How many times the write-ahead log started again from its beginning (the checkpoint
    sequence number in its header), read without touching the database."""
    return int.from_bytes(wal.read_bytes()[12:16], "big")


async def test_the_write_ahead_log_is_checkpointed_aside(tmp_path: Path) -> None:
    """Commits here never checkpoint (no fsync on the order path), yet the log does not grow
    without end: another thread checkpoints it, and once it has caught up the next writer
    starts the log again. Without those checkpoints it would never start again."""
    db = await _counter(tmp_path)
    thread = db.sqlite_thread()
    assert thread is not None
    wal = tmp_path / "w.db-wal"

    def pad(conn: object) -> None:
        conn.execute(text("CREATE TABLE IF NOT EXISTS pad (b BLOB)"))  # type: ignore[attr-defined]
        conn.execute(text("INSERT INTO pad VALUES (randomblob(16000))"))  # type: ignore[attr-defined]

    try:
        for _ in range(SQLiteThread.CHECKPOINT_EVERY * 4):
            await thread.write(pad)
        before = _restarts(wal)
        async with asyncio.timeout(20):
            while _restarts(wal) <= before:  # a pause lets the checkpoints catch up
                await asyncio.sleep(0.1)
                await thread.write(pad)
    finally:
        await db.dispose()
