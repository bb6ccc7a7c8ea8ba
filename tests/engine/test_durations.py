"""Expiries as typed in the order ticket: durations from the engine's clock, or ISO times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.durations import expiry_at, parse_duration, stamp

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1.5h", 5400), (" 2 H ", 7200)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "h", "2w", "-2h", "1e3s", "2h30m", "2026-11-20"])
def test_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_empty_is_good_till_cancelled() -> None:
    assert expiry_at("", NOW) is None
    assert expiry_at("   ", NOW) is None


def test_a_duration_counts_from_the_clock_it_is_given() -> None:
    assert expiry_at("2h", NOW) == datetime(2026, 11, 20, 11, 30, tzinfo=UTC)
    assert expiry_at("90s", NOW + timedelta(days=1)) == datetime(
        2026, 11, 21, 9, 31, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-20T12:00", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),  # no offset: UTC
        ("2026-11-21", datetime(2026, 11, 21, 0, 0, tzinfo=UTC)),
        ("2026-11-20T12:00Z", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
        ("2026-11-21T08:00+10:00", datetime(2026, 11, 20, 22, 0, tzinfo=UTC)),
    ],
)
def test_an_iso_time_is_utc_unless_it_says_otherwise(text: str, utc: datetime) -> None:
    when = expiry_at(text, NOW)
    assert when == utc
    assert when is not None and when.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("3x", "'3x' is neither a duration such as 2h nor an ISO time"),
        ("2", "'2' is neither a duration"),
        ("0m", "'0m' must be longer than zero"),
        ("2026-11-20T09:00", "2026-11-20 09:00:00 UTC is already past"),
        ("2026-11-20T09:30", "already past (now 2026-11-20 09:30:00 UTC)"),
        ("2026-11-20T12:00+10:00", "2026-11-20 02:00:00 UTC is already past"),
        ("99999999999d", "'99999999999d' is too long"),
        ("9999999d", "'9999999d' is too far away"),
    ],
)
def test_what_cannot_be_an_expiry_says_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        expiry_at(text, NOW)


def test_a_stamp_is_in_utc() -> None:
    sydney = datetime(2026, 11, 21, 7, 30, tzinfo=timezone(timedelta(hours=11)))
    assert stamp(sydney) == "2026-11-20 20:30:00 UTC"
