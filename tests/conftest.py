"""Shared fixtures: no network, both databases, a frozen clock."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

FROZEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
PG_URL = os.environ.get("OMC_TEST_PG_URL")
REQUIRE_PG = os.environ.get("OMC_REQUIRE_PG") == "1"


class NetworkRefused(OSError):
    """A test tried to leave this machine."""


def _loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in ("localhost", "::1") or host.startswith("127.")
    return isinstance(address, str | bytes)  # unix sockets


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection that is not to loopback or a unix socket."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: object) -> None:
        if not _loopback(address):
            raise NetworkRefused(f"tests are offline: refused connection to {address!r}")

    def connect(self: socket.socket, address: object) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        if host not in (None, "localhost", "127.0.0.1", "::1", b"localhost"):
            raise NetworkRefused(f"tests are offline: refused to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real config and data directories."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for key in list(os.environ):
        if key.startswith("OMC_") and key not in ("OMC_TEST_PG_URL", "OMC_REQUIRE_PG"):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def no_stray_lab_workers() -> Iterator[None]:
    """A test that leaves its engine running (a desk test's app is never quit) would leave the
    engine's Lab worker too, holding its connections until the run ends: ended here."""
    yield
    for pid in _lab_workers():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _lab_workers() -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
            if ppid == os.getpid() and b"engine.lab_worker" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _backends() -> list[object]:
    pg = pytest.param("postgresql", marks=pytest.mark.pg)
    return ["sqlite", pg]


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'omc.db'}"
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("OMC_REQUIRE_PG=1 but OMC_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL not configured (set OMC_TEST_PG_URL)")
    yield from _pg_database(PG_URL)


def _pg_database(base_url: str) -> Iterator[str]:
    """Create a throwaway database next to the one in ``base_url`` and drop it afterwards."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"omc_t_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at {url.render_as_string()} unusable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[object]:
    """An upgraded ``ledgers.database.Database`` on each backend."""
    from ledgers.database import Database

    db = Database(db_url)
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()
