"""Candle timeframes and bucket arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}


def seconds(timeframe: str) -> int:
    """Length of a timeframe in seconds; an unknown timeframe is a ValueError naming the valid ones."""
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(
            f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAMES)}"
        ) from None


def bucket(ts: datetime, timeframe: str) -> datetime:
    """Open time of the bar of ``timeframe`` that contains ``ts`` (bars align to the Unix epoch)."""
    step = seconds(timeframe)
    epoch = int(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)
