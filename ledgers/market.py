"""Plain domain records of the Exchange ledger, free of any persistence concern.

Market observations (ticks, candles, book levels) are floats; money lives elsewhere as Decimal.
Every timestamp is timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable pair on a venue, as the venue describes it."""

    venue: str
    symbol: str  # unified form, "BTC/AUD"
    base: str
    quote: str
    active: bool = True
    price_precision: float | None = None  # tick size (ccxt precision mode TICK_SIZE) or decimals
    amount_precision: float | None = None
    min_amount: float | None = None
    taker_fee: float | None = None  # rate, 0.001 = 0.1 %, as the venue's market data says
    maker_fee: float | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """One observation of a symbol's top of book and last trade."""

    venue: str
    symbol: str
    ts: datetime
    last: float
    bid: float | None = None
    ask: float | None = None
    base_volume: float | None = None  # rolling 24h, in base units
    quote_volume: float | None = None  # rolling 24h, in quote units
    change_pct: float | None = None  # rolling 24h change of last, in percent
    volume: float | None = None  # base units traded since the previous tick, when the source knows


@dataclass(frozen=True, slots=True)
class Candle:
    """An OHLCV bar; ``ts`` is the bar's open time."""

    venue: str
    symbol: str
    timeframe: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Order-book levels at one moment: bids best-first descending, asks best-first ascending."""

    venue: str
    symbol: str
    ts: datetime
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class JobRunRecord:
    """One run of an engine job, as the job_runs table keeps it."""

    job: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # ok | error | skipped
    rows: int = 0
    error: str | None = None


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as aware UTC; a naive datetime is a bug and is refused."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: every timestamp must be timezone-aware UTC")
    return dt.astimezone(UTC)


def from_ms(ms: int | float) -> datetime:
    """Milliseconds since the Unix epoch to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
