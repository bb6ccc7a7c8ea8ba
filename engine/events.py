"""Typed engine events: plain dataclasses that round-trip through JSON (the attach protocol).

An event with a ``coalesce_key`` describes state where only the newest value matters (a quote,
a forming candle); a slow subscriber gets the latest per key. Every other event is delivered.
"""

from __future__ import annotations

import json
import typing
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"

    @property
    def coalesce_key(self) -> tuple[Any, ...] | None:
        return None


@dataclass(frozen=True, slots=True)
class QuoteEvent(Event):
    kind: ClassVar[str] = "quote"
    venue: str
    symbol: str
    ts: datetime
    last: float
    bid: float | None = None
    ask: float | None = None
    change_pct: float | None = None
    base_volume: float | None = None
    quote_volume: float | None = None
    published: float = 0.0  # perf_counter at publication, for latency measurement in-process

    @property
    def coalesce_key(self) -> tuple[Any, ...]:
        return ("quote", self.venue, self.symbol)


@dataclass(frozen=True, slots=True)
class CandleEvent(Event):
    """A bar changed; ``closed`` is True once its period is over."""

    kind: ClassVar[str] = "candle"
    venue: str
    symbol: str
    timeframe: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool = False

    @property
    def coalesce_key(self) -> tuple[Any, ...] | None:
        # Closed bars are history a chart must not miss; forming bars only need the newest.
        return None if self.closed else ("candle", self.venue, self.symbol, self.timeframe)


@dataclass(frozen=True, slots=True)
class BookEvent(Event):
    kind: ClassVar[str] = "book"
    venue: str
    symbol: str
    ts: datetime
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]

    @property
    def coalesce_key(self) -> tuple[Any, ...]:
        return ("book", self.venue, self.symbol)


@dataclass(frozen=True, slots=True)
class JobEvent(Event):
    """A job started, finished, failed, was paused or resumed."""

    kind: ClassVar[str] = "job"
    job: str
    status: str  # running | ok | error | skipped | paused | resumed
    at: datetime
    rows: int = 0
    error: str | None = None
    duration_ms: float | None = None
    next_run: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedEvent(Event):
    """The health of a data feed changed or was confirmed."""

    kind: ClassVar[str] = "feed"
    feed: str
    status: str  # starting | ok | degraded | down
    at: datetime
    error: str | None = None
    retry_at: datetime | None = None
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class InstrumentsEvent(Event):
    """The venue's instrument list was (re)loaded; ``unknown`` are watchlist symbols it lacks."""

    kind: ClassVar[str] = "instruments"
    venue: str
    listed: int
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModeEvent(Event):
    """What the engine is connected to: trading book, data source and where the engine runs."""

    kind: ClassVar[str] = "mode"
    trading: str  # PAPER | LIVE
    data: str  # SIM | LIVE
    engine: str  # local | attached
    venue: str
    watchlist: tuple[str, ...] = field(default_factory=tuple)
    book: str = ""  # the book orders go to: paper:sim, paper:coinspot, live:coinspot


@dataclass(frozen=True, slots=True)
class ReadyEvent(Event):
    """Storage is open and history is loaded: panes may query candles and refresh."""

    kind: ClassVar[str] = "ready"
    database: str


@dataclass(frozen=True, slots=True)
class LabEvent(Event):
    """A Lab session moved: a step done, a question or proposal waiting, spend, its end.

    ``what`` is step | waiting | cost | status; ``status`` is the session's after it.
    """

    kind: ClassVar[str] = "lab"
    session: str
    what: str
    at: datetime
    text: str
    status: str
    node: str = ""
    spent: Decimal | None = None  # USD so far
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class QualityEvent(Event):
    """The quality monitor's latest scores; ``alert`` when the overall score is under threshold."""

    kind: ClassVar[str] = "quality"
    at: datetime
    overall: float
    ledgers: dict[str, float]
    alert: bool = False
    failing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LedgerEvent(Event):
    """A collector wrote new rows to a ledger."""

    kind: ClassVar[str] = "ledger"
    ledger: str  # glass | human | catalyst
    source: str
    rows: int
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderEvent(Event):
    """An order was created or changed state; never dropped for a slow reader."""

    kind: ClassVar[str] = "order"
    client_id: str
    mode: str  # paper | live
    book: str  # paper:sim, paper:coinspot, live:coinspot
    symbol: str
    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None
    state: str
    filled: Decimal
    average_price: Decimal | None
    fees: Decimal
    origin: str
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    strategy: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FillEvent(Event):
    kind: ClassVar[str] = "fill"
    fill_id: str
    client_id: str
    mode: str
    book: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    ts: datetime
    slippage_bps: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PortfolioEvent(Event):
    """The book marked to market; only the newest matters."""

    kind: ClassVar[str] = "portfolio"
    mode: str
    book: str
    at: datetime
    quote: str
    equity: Decimal
    cash: Decimal
    market_value: Decimal
    unrealized: Decimal
    realized: Decimal
    day_pnl: Decimal | None = None

    @property
    def coalesce_key(self) -> tuple[Any, ...]:
        return ("portfolio", self.book)


@dataclass(frozen=True, slots=True)
class RiskEvent(Event):
    """The risk guard refused an order (or allowed one); always delivered."""

    kind: ClassVar[str] = "risk"
    at: datetime
    allowed: bool
    rule: str
    message: str
    symbol: str
    side: str
    origin: str
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class TradingEvent(Event):
    """The trading switches: which book, the kill switch and live arming."""

    kind: ClassVar[str] = "trading"
    at: datetime
    mode: str  # paper | live
    book: str  # paper:sim, paper:coinspot, live:coinspot
    kill_switch: bool
    armed: bool
    reason: str | None = None
    attention: str | None = None  # the book cannot be replayed: it takes no orders, and why


@dataclass(frozen=True, slots=True)
class LeaderEvent(Event):
    """This engine took or lost ownership of its database (the book and the scheduler)."""

    kind: ClassVar[str] = "leader"
    at: datetime
    leader: bool  # True: this engine now owns the database; False: it lost or gave it up
    owner: str  # who owns it now, "pid@host address" ("" when nobody is known to)
    reason: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        QuoteEvent,
        CandleEvent,
        BookEvent,
        JobEvent,
        FeedEvent,
        InstrumentsEvent,
        ModeEvent,
        ReadyEvent,
        QualityEvent,
        LedgerEvent,
        OrderEvent,
        FillEvent,
        PortfolioEvent,
        RiskEvent,
        TradingEvent,
        LeaderEvent,
    )
}


def to_json(event: Event) -> str:
    data = asdict(event)
    data["type"] = event.kind
    return json.dumps(data, default=_encode, separators=(",", ":"))


def from_json(text: str) -> Event:
    data = json.loads(text)
    try:
        cls = EVENT_TYPES[data.pop("type")]
    except KeyError as exc:
        raise ValueError(f"not an engine event: {text[:80]!r}") from exc
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        hint = hints[f.name]
        if value is not None and datetime in _members(hint):
            value = datetime.fromisoformat(value)
        elif value is not None and Decimal in _members(hint):
            value = Decimal(value)
        elif isinstance(value, list):
            value = _tuples(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _members(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) or (hint,)
