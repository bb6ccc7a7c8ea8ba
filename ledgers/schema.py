"""The tables of the ledgers, the book and the Lab. Every table has a natural key so writes
are upserts.

A table is declared as a class whose attributes are its columns (``Candle.ts``), and the class
stands for its table in a statement (``select(Candle)``). They are SQLAlchemy Core tables, not
ORM mappings: everything reads and writes them with Core statements, and mapping two dozen
classes cost every command a tenth of a second before it did anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from ledgers.types import Money, PortableJSON, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base:
    """A table: its columns are the class's ``Column`` attributes, named as the attributes are,
    in the order written, with ``__table_args__`` (indexes, constraints) after them."""

    metadata: ClassVar[MetaData] = MetaData(naming_convention=NAMING)
    __tablename__: ClassVar[str]
    __table__: ClassVar[Table]
    __table_args__: ClassVar[tuple[Any, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        columns = []
        for name, value in vars(cls).items():
            if isinstance(value, Column):
                value.name = value.key = name
                columns.append(value)
        cls.__table__ = Table(cls.__tablename__, cls.metadata, *columns, *cls.__table_args__)

    @classmethod
    def __clause_element__(cls) -> Table:
        return cls.__table__

    @classmethod
    def tables(cls) -> dict[str, type[Base]]:
        """Every declared table's class by the table's name."""
        return {table.__tablename__: table for table in cls.__subclasses__()}


def _time_brin(table: str) -> Index:
    """On PostgreSQL, a BRIN index on ``ts``: rows arrive in time order, so a range of blocks
    per day answers a read by time alone (a window across markets) in milliseconds for some
    40 kB a month of ticks. Every hot read goes along the primary key; SQLite has none."""
    # BRIN is said in the migration that makes it (migration 0010): said here, it would load
    # SQLAlchemy's PostgreSQL dialect into every process to check the option's name.
    index = Index(f"ix_{table}_ts", "ts", info={"only": "postgresql"})
    return index.ddl_if(dialect="postgresql")


def on_dialect(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for a database of ``dialect``: what it compares against the
    models leaves out what is made on another database only (``info["only"]``)."""

    def include(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
        return obj.info.get("only", dialect) == dialect if hasattr(obj, "info") else True

    return include


class Instrument(Base):
    """Exchange ledger: the pairs a venue lists."""

    __tablename__ = "instruments"

    venue = Column(String(32), primary_key=True)
    symbol = Column(String(40), primary_key=True)
    base = Column(String(20), nullable=False)
    quote = Column(String(20), nullable=False)
    active = Column(Boolean, default=True, nullable=False)
    price_precision = Column(Float)
    amount_precision = Column(Float)
    min_amount = Column(Float)
    updated_at = Column(UTCDateTime, nullable=False)


class Ticker(Base):
    """Exchange ledger: top of book and last price observations."""

    __tablename__ = "tickers"
    __table_args__ = (_time_brin("tickers"),)

    venue = Column(String(32), primary_key=True)
    symbol = Column(String(40), primary_key=True)
    ts = Column(UTCDateTime, primary_key=True)
    last = Column(Float, nullable=False)
    bid = Column(Float)
    ask = Column(Float)
    base_volume = Column(Float)
    quote_volume = Column(Float)
    change_pct = Column(Float)


class OrderBookSnapshot(Base):
    """Exchange ledger: order-book levels as [[price, amount], ...] best first."""

    __tablename__ = "order_book_snapshots"
    __table_args__ = (_time_brin("order_book_snapshots"),)

    venue = Column(String(32), primary_key=True)
    symbol = Column(String(40), primary_key=True)
    ts = Column(UTCDateTime, primary_key=True)
    bids = Column(PortableJSON, nullable=False)
    asks = Column(PortableJSON, nullable=False)


class Candle(Base):
    """Exchange ledger: OHLCV bars per timeframe; ``ts`` is the bar's open time."""

    __tablename__ = "candles"

    venue = Column(String(32), primary_key=True)
    symbol = Column(String(40), primary_key=True)
    timeframe = Column(String(8), primary_key=True)
    ts = Column(UTCDateTime, primary_key=True)
    open = Column(Float, nullable=False)
    high = Column(Float, nullable=False)
    low = Column(Float, nullable=False)
    close = Column(Float, nullable=False)
    volume = Column(Float, nullable=False)


class JobRun(Base):
    """Engine: one run of a scheduled job."""

    __tablename__ = "job_runs"

    job = Column(String(64), primary_key=True)
    started_at = Column(UTCDateTime, primary_key=True)
    finished_at = Column(UTCDateTime)
    status = Column(String(16), nullable=False)
    rows = Column(Integer, default=0, nullable=False)
    error = Column(Text)

    __table_args__ = (Index("ix_job_runs_started_at", "started_at"),)


class EngineMemberRow(Base):
    """Engine: a process attached to this database as its owner (leader) or a standby, and where
    it listens; refreshed on a heartbeat, so an old ``seen`` is a process that went away."""

    __tablename__ = "engine_members"

    member = Column(String(160), primary_key=True)  # host:pid:started
    pid = Column(Integer, nullable=False)
    host = Column(String(100), nullable=False)
    address = Column(String(200), nullable=False)
    role = Column(String(16), nullable=False)  # leader | standby | command
    started = Column(String(40), nullable=False)
    seen = Column(UTCDateTime, nullable=False)


class GlassMetricRow(Base):
    """Glass ledger: on-chain and fundamental metrics."""

    __tablename__ = "glass_metrics"
    # The newest metric of all (ledger stats, the quality job) by one seek: ts is the key's last.
    __table_args__ = (Index("ix_glass_metrics_ts", "ts"),)

    source = Column(String(32), primary_key=True)
    entity = Column(String(64), primary_key=True)
    metric = Column(String(48), primary_key=True)
    ts = Column(UTCDateTime, primary_key=True)
    value = Column(Float, nullable=False)


class HumanItemRow(Base):
    """Human ledger: news and social items, scored −1..1, with the coins they mention."""

    __tablename__ = "human_items"

    source = Column(String(64), primary_key=True)
    external_id = Column(String(255), primary_key=True)
    title = Column(Text, nullable=False)
    url = Column(Text, nullable=False)
    published = Column(UTCDateTime, nullable=False)
    score = Column(Float, nullable=False)
    body = Column(Text, default="", nullable=False)
    currencies = Column(PortableJSON, nullable=False)
    votes = Column(PortableJSON)

    __table_args__ = (
        CheckConstraint("score >= -1 AND score <= 1", name="score_range"),
        Index("ix_human_items_published", "published"),
    )


class MoodReadingRow(Base):
    """Human ledger: market mood indices such as Fear & Greed."""

    __tablename__ = "mood_readings"

    source = Column(String(32), primary_key=True)
    ts = Column(UTCDateTime, primary_key=True)
    value = Column(Float, nullable=False)
    label = Column(String(32), default="", nullable=False)


class CatalystEventRow(Base):
    """Catalyst ledger: dated events with a type, an impact 1–10 and the coins concerned."""

    __tablename__ = "catalyst_events"

    source = Column(String(32), primary_key=True)
    external_id = Column(String(255), primary_key=True)
    type = Column(String(32), nullable=False)
    title = Column(Text, nullable=False)
    url = Column(Text, nullable=False)
    occurred = Column(UTCDateTime, nullable=False)
    impact = Column(Integer, nullable=False)
    currencies = Column(PortableJSON, nullable=False)

    __table_args__ = (
        CheckConstraint("impact >= 1 AND impact <= 10", name="impact_range"),
        Index("ix_catalyst_events_occurred", "occurred"),
    )


# Trading: the book of orders and fills, the risk guard's audit and state, the equity curve,
# strategy deployments and backtests. Money columns are exact (``Money``).


class OrderRow(Base):
    """An order's newest version; written before the engine acts on any transition."""

    __tablename__ = "orders"

    client_id = Column(String(64), primary_key=True)
    venue = Column(String(32), nullable=False)
    symbol = Column(String(40), nullable=False)
    side = Column(String(4), nullable=False)
    type = Column(String(8), nullable=False)
    quantity = Column(Money, nullable=False)
    limit_price = Column(Money)
    origin = Column(String(16), nullable=False)
    mode = Column(String(8), nullable=False)
    book = Column(String(48), nullable=False)  # "paper:sim", "paper:coinspot", "live:coinspot"
    seq = Column(BigInteger, nullable=False)  # the book's sequence when it was first stored
    state = Column(String(20), nullable=False)
    filled = Column(Money, nullable=False)
    cost = Column(Money, nullable=False)
    fees = Column(Money, nullable=False)
    reason = Column(Text)
    venue_order_id = Column(String(128))
    strategy = Column(String(128))
    expires_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_orders_book_state", "book", "state"),
        Index("ix_orders_book_seq", "book", "seq", unique=True),
        Index("ix_orders_created_at", "created_at"),
    )


class FillRow(Base):
    """One execution; the fill id is the idempotency key of replays."""

    __tablename__ = "fills"

    fill_id = Column(String(160), primary_key=True)
    client_id = Column(String(64), ForeignKey("orders.client_id"), nullable=False)
    book = Column(String(48), nullable=False)
    seq = Column(BigInteger, nullable=False)  # replay follows it, not timestamps
    venue = Column(String(32), nullable=False)
    symbol = Column(String(40), nullable=False)
    side = Column(String(4), nullable=False)
    quantity = Column(Money, nullable=False)
    price = Column(Money, nullable=False)
    fee = Column(Money, nullable=False)
    liquidity = Column(String(8), nullable=False)
    slippage_bps = Column(Money, nullable=False)
    ts = Column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_fills_client_id", "client_id"),
        Index("ix_fills_ts", "ts"),
        Index("ix_fills_book_seq", "book", "seq", unique=True),
    )


class RiskDecisionRow(Base):
    """The risk guard's audit: every order it saw, allowed or refused, and why."""

    __tablename__ = "risk_decisions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(UTCDateTime, nullable=False)
    mode = Column(String(8), nullable=False)
    book = Column(String(48), nullable=False)
    client_id = Column(String(64))
    symbol = Column(String(40), nullable=False)
    side = Column(String(4), nullable=False)
    quantity = Column(Money, nullable=False)
    price = Column(Money)
    notional = Column(Money)
    origin = Column(String(16), nullable=False)
    allowed = Column(Boolean, nullable=False)
    rule = Column(String(32), nullable=False)
    message = Column(Text, nullable=False)

    __table_args__ = (Index("ix_risk_decisions_at", "at"),)


class BookRow(Base):
    """One row per book: the lock an order takes, and the sequence its orders and fills get.

    ``seq`` grows with every write to the book, so a process can tell whether another one
    changed the book since it last looked.
    """

    __tablename__ = "books"

    book = Column(String(48), primary_key=True)
    seq = Column(BigInteger, nullable=False)


class TradingStateRow(Base):
    """Small durable switches: the kill switch (one for every book), and per book its account's
    start, the day's starting equity and live arming (keys "<book>/account", …)."""

    __tablename__ = "trading_state"

    key = Column(String(64), primary_key=True)
    value = Column(PortableJSON, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)


class EquityMarkRow(Base):
    """The equity curve: the book marked to market by the PnL-mark job."""

    __tablename__ = "equity_marks"
    # The newest mark of any book by one seek (ledger stats), not a walk of every book's marks.
    __table_args__ = (Index("ix_equity_marks_ts", "ts"),)

    book = Column(String(48), primary_key=True)
    ts = Column(UTCDateTime, primary_key=True)
    mode = Column(String(8), nullable=False)
    quote = Column(String(20), nullable=False)
    equity = Column(Money, nullable=False)
    cash = Column(Money, nullable=False)
    market_value = Column(Money, nullable=False)
    unrealized = Column(Money, nullable=False)
    realized = Column(Money, nullable=False)


class BacktestRow(Base):
    """A backtest run with its metrics, the governance verdict and any promotion."""

    __tablename__ = "backtests"

    id = Column(String(40), primary_key=True)
    strategy = Column(String(32), nullable=False)
    symbol = Column(String(40), nullable=False)
    timeframe = Column(String(8), nullable=False)
    params = Column(PortableJSON, nullable=False)
    ran_at = Column(UTCDateTime, nullable=False)
    start = Column(UTCDateTime, nullable=False)
    end = Column(UTCDateTime, nullable=False)
    metrics = Column(PortableJSON, nullable=False)
    gate_passed = Column(Boolean, nullable=False)
    gate_reasons = Column(PortableJSON, nullable=False)
    promoted_at = Column(UTCDateTime)
    promoted_by = Column(String(64))

    __table_args__ = (Index("ix_backtests_ran_at", "ran_at"),)


class DeploymentRow(Base):
    """A strategy trading on paper on a schedule, after a human promoted its backtest."""

    __tablename__ = "deployments"

    book = Column(String(48), primary_key=True)  # the book it trades in
    name = Column(String(128), primary_key=True)
    strategy = Column(String(32), nullable=False)
    symbol = Column(String(40), nullable=False)
    timeframe = Column(String(8), nullable=False)
    params = Column(PortableJSON, nullable=False)
    allocation = Column(Money, nullable=False)  # quote currency the strategy may use
    backtest_id = Column(String(40))
    active = Column(Boolean, nullable=False)
    deployed_at = Column(UTCDateTime, nullable=False)
    last_bar = Column(UTCDateTime)


class VaultRow(Base):
    """The vault's lock, made with its first key: scrypt's salt and cost for the passphrase,
    and a sealed known value that tells a wrong passphrase at once. One row, ``id`` 1."""

    __tablename__ = "vault"

    id = Column(Integer, primary_key=True)
    salt = Column(LargeBinary, nullable=False)
    scrypt_n = Column(Integer, nullable=False)
    scrypt_r = Column(Integer, nullable=False)
    scrypt_p = Column(Integer, nullable=False)
    nonce = Column(LargeBinary, nullable=False)
    verifier = Column(LargeBinary, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    rotated_at = Column(UTCDateTime)

    __table_args__ = (CheckConstraint("id = 1", name="one_vault"),)


class VaultKeyRow(Base):
    """A model or venue API key sealed with AES-GCM under the vault's passphrase, its name
    bound into the seal. Name, kind, base URL and dates are not secret."""

    __tablename__ = "vault_keys"

    name = Column(String(64), primary_key=True)
    kind = Column(String(8), nullable=False)
    base_url = Column(String(300))
    nonce = Column(LargeBinary, nullable=False)
    ciphertext = Column(LargeBinary, nullable=False)
    added_at = Column(UTCDateTime, nullable=False)
    rotated_at = Column(UTCDateTime)

    __table_args__ = (CheckConstraint("kind IN ('model', 'venue')", name="kind"),)


class LabSessionRow(Base):
    """A Lab session: the goal, its model and budget, where it stands, what it spent and the
    report it wrote. ``waiting`` is the question or proposal it waits on a human for."""

    __tablename__ = "lab_sessions"

    id = Column(String(32), primary_key=True)
    goal = Column(Text, nullable=False)
    model = Column(String(128))
    budget = Column(Money)
    status = Column(String(16), nullable=False)
    waiting = Column(PortableJSON)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)
    calls = Column(Integer, default=0, nullable=False)
    prompt_tokens = Column(Integer, default=0, nullable=False)
    completion_tokens = Column(Integer, default=0, nullable=False)
    unpriced_calls = Column(Integer, default=0, nullable=False)
    spent = Column(Money, nullable=False)  # USD
    untraced = Column(Integer)
    report = Column(Text)
    error = Column(Text)
    decision = Column(PortableJSON)

    __table_args__ = (Index("ix_lab_sessions_updated_at", "updated_at"),)


class LabResultRow(Base):
    """A tool result of a Lab session, by its id (r1, r2…): what a report's figures cite."""

    __tablename__ = "lab_results"

    session_id = Column(String(32), primary_key=True)
    result_id = Column(String(16), primary_key=True)
    tool = Column(String(32), nullable=False)
    args = Column(PortableJSON, nullable=False)
    result = Column(PortableJSON, nullable=False)
    at = Column(UTCDateTime, nullable=False)


class LabEntryRow(Base):
    """What a Lab session said as it ran, and every model call it made (for audit), in order."""

    __tablename__ = "lab_entries"

    session_id = Column(String(32), primary_key=True)
    seq = Column(Integer, primary_key=True)
    kind = Column(String(16), nullable=False)  # step | call
    node = Column(String(16), nullable=False)
    text = Column(Text, nullable=False)
    data = Column(PortableJSON)
    at = Column(UTCDateTime, nullable=False)


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
