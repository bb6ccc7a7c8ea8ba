"""SQLAlchemy models of the ledgers. Every table has a natural key so writes are upserts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledgers.types import Money, PortableJSON, UTCDateTime

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


class EngineMemberRow(Base):
    """Engine: a process attached to this database as its owner (leader) or a standby, and where
    it listens; refreshed on a heartbeat, so an old ``seen`` is a process that went away."""

    __tablename__ = "engine_members"

    member: Mapped[str] = mapped_column(String(160), primary_key=True)  # host:pid:started
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # leader | standby | command
    started: Mapped[str] = mapped_column(String(40))
    seen: Mapped[datetime] = mapped_column(UTCDateTime)


class GlassMetricRow(Base):
    """Glass ledger: on-chain and fundamental metrics."""

    __tablename__ = "glass_metrics"
    # The newest metric of all (ledger stats, the quality job) by one seek: ts is the key's last.
    __table_args__ = (Index("ix_glass_metrics_ts", "ts"),)

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


# Trading: the book of orders and fills, the risk guard's audit and state, the equity curve,
# strategy deployments and backtests. Money columns are exact (``Money``).


class OrderRow(Base):
    """An order's newest version; written before the engine acts on any transition."""

    __tablename__ = "orders"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    venue: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(Money)
    limit_price: Mapped[Decimal | None] = mapped_column(Money)
    origin: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    book: Mapped[str] = mapped_column(String(48))  # "paper:sim", "paper:coinspot", "live:coinspot"
    seq: Mapped[int] = mapped_column(BigInteger)  # the book's sequence when it was first stored
    state: Mapped[str] = mapped_column(String(20))
    filled: Mapped[Decimal] = mapped_column(Money)
    cost: Mapped[Decimal] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str | None] = mapped_column(Text)
    venue_order_id: Mapped[str | None] = mapped_column(String(128))
    strategy: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_orders_book_state", "book", "state"),
        Index("ix_orders_book_seq", "book", "seq", unique=True),
        Index("ix_orders_created_at", "created_at"),
    )


class FillRow(Base):
    """One execution; the fill id is the idempotency key of replays."""

    __tablename__ = "fills"

    fill_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("orders.client_id"))
    book: Mapped[str] = mapped_column(String(48))
    seq: Mapped[int] = mapped_column(BigInteger)  # replay follows it, not timestamps
    venue: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    liquidity: Mapped[str] = mapped_column(String(8))
    slippage_bps: Mapped[Decimal] = mapped_column(Money)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_fills_client_id", "client_id"),
        Index("ix_fills_ts", "ts"),
        Index("ix_fills_book_seq", "book", "seq", unique=True),
    )


class RiskDecisionRow(Base):
    """The risk guard's audit: every order it saw, allowed or refused, and why."""

    __tablename__ = "risk_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[str] = mapped_column(String(8))
    book: Mapped[str] = mapped_column(String(48))
    client_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Money)
    price: Mapped[Decimal | None] = mapped_column(Money)
    notional: Mapped[Decimal | None] = mapped_column(Money)
    origin: Mapped[str] = mapped_column(String(16))
    allowed: Mapped[bool] = mapped_column(Boolean)
    rule: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_risk_decisions_at", "at"),)


class BookRow(Base):
    """One row per book: the lock an order takes, and the sequence its orders and fills get.

    ``seq`` grows with every write to the book, so a process can tell whether another one
    changed the book since it last looked.
    """

    __tablename__ = "books"

    book: Mapped[str] = mapped_column(String(48), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class TradingStateRow(Base):
    """Small durable switches: the kill switch (one for every book), and per book its account's
    start, the day's starting equity and live arming (keys "<book>/account", …)."""

    __tablename__ = "trading_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EquityMarkRow(Base):
    """The equity curve: the book marked to market by the PnL-mark job."""

    __tablename__ = "equity_marks"
    # The newest mark of any book by one seek (ledger stats), not a walk of every book's marks.
    __table_args__ = (Index("ix_equity_marks_ts", "ts"),)

    book: Mapped[str] = mapped_column(String(48), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))
    quote: Mapped[str] = mapped_column(String(20))
    equity: Mapped[Decimal] = mapped_column(Money)
    cash: Mapped[Decimal] = mapped_column(Money)
    market_value: Mapped[Decimal] = mapped_column(Money)
    unrealized: Mapped[Decimal] = mapped_column(Money)
    realized: Mapped[Decimal] = mapped_column(Money)


class BacktestRow(Base):
    """A backtest run with its metrics, the governance verdict and any promotion."""

    __tablename__ = "backtests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(40))
    timeframe: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    metrics: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    gate_passed: Mapped[bool] = mapped_column(Boolean)
    gate_reasons: Mapped[list[str]] = mapped_column(PortableJSON)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promoted_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_backtests_ran_at", "ran_at"),)


class DeploymentRow(Base):
    """A strategy trading on paper on a schedule, after a human promoted its backtest."""

    __tablename__ = "deployments"

    book: Mapped[str] = mapped_column(String(48), primary_key=True)  # the book it trades in
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(40))
    timeframe: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    allocation: Mapped[Decimal] = mapped_column(Money)  # quote currency the strategy may use
    backtest_id: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_bar: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VaultRow(Base):
    """The vault's lock, made with its first key: scrypt's salt and cost for the passphrase,
    and a sealed known value that tells a wrong passphrase at once. One row, ``id`` 1."""

    __tablename__ = "vault"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    scrypt_n: Mapped[int] = mapped_column(Integer)
    scrypt_r: Mapped[int] = mapped_column(Integer)
    scrypt_p: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    verifier: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("id = 1", name="one_vault"),)


class VaultKeyRow(Base):
    """A model or venue API key sealed with AES-GCM under the vault's passphrase, its name
    bound into the seal. Name, kind, base URL and dates are not secret."""

    __tablename__ = "vault_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    base_url: Mapped[str | None] = mapped_column(String(300))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("kind IN ('model', 'venue')", name="kind"),)


class LabSessionRow(Base):
    """A Lab session: the goal, its model and budget, where it stands, what it spent and the
    report it wrote. ``waiting`` is the question or proposal it waits on a human for."""

    __tablename__ = "lab_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    goal: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(128))
    budget: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16))
    waiting: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    unpriced_calls: Mapped[int] = mapped_column(Integer, default=0)
    spent: Mapped[Decimal] = mapped_column(Money)  # USD
    untraced: Mapped[int | None] = mapped_column(Integer)
    report: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)

    __table_args__ = (Index("ix_lab_sessions_updated_at", "updated_at"),)


class LabResultRow(Base):
    """A tool result of a Lab session, by its id (r1, r2…): what a report's figures cite."""

    __tablename__ = "lab_results"

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    result_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    tool: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    result: Mapped[Any] = mapped_column(PortableJSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class LabEntryRow(Base):
    """What a Lab session said as it ran, and every model call it made (for audit), in order."""

    __tablename__ = "lab_entries"

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # step | call
    node: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


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
    "orders": "created_at",
    "fills": "ts",
    "risk_decisions": "at",
    "equity_marks": "ts",
    "backtests": "ran_at",
    "deployments": "deployed_at",
}
