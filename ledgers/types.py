"""Portable column types: aware-UTC timestamps and JSON that is JSONB on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
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


class _JSONB(TypeDecorator[Any]):
    """PostgreSQL's JSONB, whose dialect loads only when a PostgreSQL database is used (a
    command on SQLite does not pay for importing it)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        from sqlalchemy.dialects.postgresql import JSONB

        return dialect.type_descriptor(JSONB())


PortableJSON: Any = JSON().with_variant(_JSONB(), "postgresql")


class Money(TypeDecorator[Decimal]):
    """An exact decimal on both databases: unconstrained NUMERIC on PostgreSQL, text on SQLite.

    SQLite has no exact decimal type (its NUMERIC affinity turns 0.1 into a binary float), so
    the value is kept as its canonical string and read back as the same ``Decimal``.
    """

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, got {type(value).__name__} {value!r}")
        if not value.is_finite():
            raise ValueError(f"money must be finite, got {value!r}")
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))
