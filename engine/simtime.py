"""Where a sped-up simulated market left off, so a restart continues its time.

At ``--speed 600`` an hour of real time is 25 simulated days; restarting at wall time would
put the market back among bars it has already stored, and a deployed strategy would wait for
time to pass its last decided bar. The point is kept per database in a small file in the data
directory, because the desk paints prices before the database is open.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.paths import write_whole
from ledgers.clock import SimClock

if TYPE_CHECKING:
    from ledgers.database import Database

log = logging.getLogger("omc.engine")


def _file() -> Path:
    from engine.config import data_dir

    return data_dir() / "sim-time.json"


def _key(database_url: str) -> str:
    return hashlib.sha256(database_url.encode()).hexdigest()[:16]


def resume_point(database_url: str) -> datetime | None:
    """The simulated time the last run on this database reached, if any."""
    try:
        saved = json.loads(_file().read_text())
        return datetime.fromisoformat(saved[_key(database_url)])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def sim_clock(database_url: str, speed: float) -> SimClock:
    """The simulated market's clock on this database: wall time, or where a sped-up market
    left off when that is later."""
    now = datetime.now(UTC)
    reached = resume_point(database_url)
    return SimClock(speed, start=reached if reached is not None and reached > now else now)


async def not_before_book(clock: SimClock, db: Database, market: str) -> None:
    """A simulated clock resumes no earlier than anything stored on the simulated market:
    time never runs backwards over a book, even when its remembered point was lost."""
    from ledgers.queries import newest_on_market

    newest = await newest_on_market(db, market)
    if newest is not None and newest > clock.now():
        log.info("simulated time moves on to %s, the newest stored on it", newest)
        clock.not_before(newest)


def remember(database_url: str, reached: datetime) -> None:
    """Record how far simulated time got on this database; it never goes back.

    Several processes may remember at once (a desk and commands on one database): each writes
    its own scratch file and renames it over the old one, so the file is always whole.
    """
    path = _file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path.with_suffix(".lock")):
            _remember(path, _key(database_url), reached)
    except OSError as exc:
        log.warning("simulated time not remembered: %s", exc)


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """Only one process at a time reads and rewrites the file (POSIX; elsewhere best effort)."""
    with open(lock, "a") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remember(path: Path, key: str, reached: datetime) -> None:
    try:
        saved = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(saved, dict):
            saved = {}
    except (OSError, ValueError):
        saved = {}
    try:
        if datetime.fromisoformat(saved[key]) >= reached:
            return
    except (KeyError, ValueError, TypeError):
        pass
    saved[key] = reached.isoformat()
    write_whole(path, json.dumps(saved))
