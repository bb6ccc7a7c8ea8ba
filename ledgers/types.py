"""Portable column types: aware-UTC timestamps and JSON that is JSONB on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite keeps timestamps as fixed-width text in this exact form (UTC, no offset), so bulk
# writers that bypass the ORM must format them identically; see SQLITE_TS_FORMAT users.
SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite stores UTC text. A naive datetime is refused
    on the way in, because it is always a bug here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def to_sqlite_ts(value: datetime) -> str:
    """The text SQLite holds for an aware timestamp (what ``UTCDateTime`` would bind)."""
    return value.astimezone(UTC).strftime(SQLITE_TS_FORMAT)


PortableJSON: Any = JSON().with_variant(JSONB(), "postgresql")
