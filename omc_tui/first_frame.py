"""The desk's first frame: the last session's watchlist, painted before the engine loads.

Loading the engine (settings, the database layer, the simulator) costs more than Textual
itself; the desk paints this frame first, its prices muted and marked as the last session's,
and the engine's first quotes replace them. Nothing here imports the engine's heavy parts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from engine.api import Snapshot, WatchRow
from engine.events import ModeEvent, from_json, to_json
from engine.paths import write_whole


def frame_key(sim: bool, database: str | None) -> str:
    """One frame per (market, database) the desk was opened on."""
    return hashlib.sha256(f"{sim}|{database or ''}".encode()).hexdigest()[:16]


def _path(key: str) -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("omc", appauthor=False)) / "frames" / f"{key}.json"


def load(key: str) -> Snapshot | None:
    """The frame saved last time, its rows marked ``cached``; None when there is none."""
    try:
        saved = json.loads(_path(key).read_text())
        mode = from_json(saved["mode"])
        rows = tuple(
            WatchRow(
                r["symbol"],
                "cached",
                from_json(r["quote"]) if r.get("quote") else None,  # type: ignore[arg-type]
                tuple(r.get("spark", ())),
            )
            for r in saved["rows"]
        )
        if not isinstance(mode, ModeEvent):
            return None
        return Snapshot(
            mode=mode,
            now=datetime.fromisoformat(saved["now"]),
            quote_currency=saved["quote_currency"],
            watchlist=rows,
            jobs=(),
            feeds=(),
            selected=saved.get("selected"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(key: str, snapshot: Snapshot) -> None:
    """Keep what the desk shows now for the next start (written whole, or not at all)."""
    rows = [
        {
            "symbol": r.symbol,
            "quote": to_json(r.quote) if r.quote is not None else None,
            "spark": list(r.spark),
        }
        for r in snapshot.watchlist
        if r.status in ("ok", "cached")
    ]
    data = {
        "saved_at": datetime.now(UTC).isoformat(),
        "mode": to_json(snapshot.mode),
        "now": snapshot.now.isoformat(),
        "quote_currency": snapshot.quote_currency,
        "selected": snapshot.selected,
        "rows": rows,
    }
    with contextlib.suppress(OSError):  # no frame next time is only a slower start
        write_whole(_path(key), json.dumps(data))
