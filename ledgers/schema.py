"""SQLAlchemy models of the ledgers. Every table has a natural key so writes are upserts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledgers.types import PortableJSON, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Instrument(Base):
    """Exchange ledger: the pairs a venue lists."""

    __tablename__ = "instruments"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    base: Mapped[str] = mapped_column(String(20))
    quote: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    price_precision: Mapped[float | None] = mapped_column(Float)
    amount_precision: Mapped[float | None] = mapped_column(Float)
    min_amount: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Ticker(Base):
    """Exchange ledger: top of book and last price observations."""

    __tablename__ = "tickers"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    last: Mapped[float] = mapped_column(Float)
    bid: Mapped[float | None] = mapped_column(Float)
    ask: Mapped[float | None] = mapped_column(Float)
    base_volume: Mapped[float | None] = mapped_column(Float)
    quote_volume: Mapped[float | None] = mapped_column(Float)
    change_pct: Mapped[float | None] = mapped_column(Float)


class OrderBookSnapshot(Base):
    """Exchange ledger: order-book levels as [[price, amount], ...] best first."""

    __tablename__ = "order_book_snapshots"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    bids: Mapped[list[list[float]]] = mapped_column(PortableJSON)
    asks: Mapped[list[list[float]]] = mapped_column(PortableJSON)


class Candle(Base):
    """Exchange ledger: OHLCV bars per timeframe; ``ts`` is the bar's open time."""

    __tablename__ = "candles"

    venue: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)


class JobRun(Base):
    """Engine: one run of a scheduled job."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_job_runs_started_at", "started_at"),)


class GlassMetricRow(Base):
    """Glass ledger: on-chain and fundamental metrics."""

    __tablename__ = "glass_metrics"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(48), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class HumanItemRow(Base):
    """Human ledger: news and social items, scored −1..1, with the coins they mention."""

    __tablename__ = "human_items"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    published: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[float] = mapped_column(Float)
    body: Mapped[str] = mapped_column(Text, default="")
    currencies: Mapped[list[str]] = mapped_column(PortableJSON)
    votes: Mapped[dict[str, int] | None] = mapped_column(PortableJSON)

    __table_args__ = (
        CheckConstraint("score >= -1 AND score <= 1", name="score_range"),
        Index("ix_human_items_published", "published"),
    )


class MoodReadingRow(Base):
    """Human ledger: market mood indices such as Fear & Greed."""

    __tablename__ = "mood_readings"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(32), default="")


class CatalystEventRow(Base):
    """Catalyst ledger: dated events with a type, an impact 1–10 and the coins concerned."""

    __tablename__ = "catalyst_events"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    occurred: Mapped[datetime] = mapped_column(UTCDateTime)
    impact: Mapped[int] = mapped_column(Integer)
    currencies: Mapped[list[str]] = mapped_column(PortableJSON)

    __table_args__ = (
        CheckConstraint("impact >= 1 AND impact <= 10", name="impact_range"),
        Index("ix_catalyst_events_occurred", "occurred"),
    )


# Tables the ledger CLI reports on and exports, with the column that orders them in time.
LEDGER_TABLES: dict[str, str] = {
    "instruments": "updated_at",
    "tickers": "ts",
    "order_book_snapshots": "ts",
    "candles": "ts",
    "job_runs": "started_at",
    "glass_metrics": "ts",
    "human_items": "published",
    "mood_readings": "ts",
    "catalyst_events": "occurred",
}
