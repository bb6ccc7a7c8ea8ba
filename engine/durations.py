"""Expiry times as people type them (desk and command line): a duration such as ``2h`` or an ISO time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta | None:
    """``90s``, ``30m``, ``2h``, ``1.5d`` as a timedelta; None when ``text`` is not one.

    Raises ValueError when it is one but too long for a timedelta.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        return None
    number, unit = match.groups()
    try:
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    except OverflowError:
        raise ValueError(f"{text.strip()!r} is too long") from None


def expiry_at(text: str, now: datetime) -> datetime | None:
    """When an order typed with ``text`` expires, in UTC: None (good till cancelled) if empty.

    A duration counts from ``now``; an ISO time without an offset is UTC. Raises ValueError
    saying why when ``text`` is neither, or is not after ``now``.
    """
    raw = text.strip()
    if not raw:
        return None
    duration = parse_duration(raw)
    if duration is not None:
        if duration <= timedelta(0):
            raise ValueError(f"{raw!r} must be longer than zero")
        try:
            return (now + duration).astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{raw!r} is too far away") from None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is neither a duration such as 2h nor an ISO time") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        raise ValueError(f"{stamp(when)} is already past (now {stamp(now)})")
    return when


def stamp(when: datetime) -> str:
    """``2026-11-20 11:30:00 UTC``: how the desk shows a moment on the engine's clock."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
