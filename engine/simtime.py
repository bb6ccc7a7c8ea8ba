"""Where a sped-up simulated market left off, so a restart continues its time.

At ``--speed 600`` an hour of real time is 25 simulated days; restarting at wall time would
put the market back among bars it has already stored, and a deployed strategy would wait for
time to pass its last decided bar. The point is kept per database in a small file in the data
directory, because the desk paints prices before the database is open.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from pathlib import Path

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


def remember(database_url: str, reached: datetime) -> None:
    """Record how far simulated time got on this database (written atomically)."""
    path = _file()
    try:
        saved = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(saved, dict):
            saved = {}
    except (OSError, ValueError):
        saved = {}
    saved[_key(database_url)] = reached.isoformat()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(saved))
        scratch.replace(path)
    except OSError as exc:
        log.warning("simulated time not remembered: %s", exc)
