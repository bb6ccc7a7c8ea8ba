"""The seam between the desk and an engine: one Protocol, plain data in and out.

``LocalEngine`` implements it in-process; a remote implementation over the attach websocket
uses the same types, so the desk cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from engine.holdings import InstrumentSteps as InstrumentSteps
from engine.holdings import LotView as LotView
from engine.holdings import PositionView as PositionView
from engine.unavailable import EngineUnavailable as EngineUnavailable
from ledgers.timeframes import TIMEFRAMES

TIMEFRAME_NAMES: tuple[str, ...] = tuple(TIMEFRAMES)

# Named in annotations only: the events' module stays off a command's read of its book, the
# scheduler's off the desk's first frame (``engine.service.protocol`` resolves them).
if TYPE_CHECKING:
    from engine.events import (
        BookEvent,
        CandleEvent,
        Event,
        FeedEvent,
        FillEvent,
        ModeEvent,
        OrderEvent,
        PortfolioEvent,
        QualityEvent,
        QuoteEvent,
        TradingEvent,
    )
    from engine.jobs import JobStatus


class OHLCV(Protocol):
    """Anything shaped like a bar (a CandleEvent, a stored candle); ``ts`` is the aware open time.

    Read-only properties, so frozen dataclasses satisfy it under mypy.
    """

    @property
    def ts(self) -> datetime: ...
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...


@dataclass(frozen=True, slots=True)
class WatchRow:
    symbol: str
    status: str  # ok | waiting | unknown
    quote: QuoteEvent | None = None
    spark: tuple[float, ...] = ()  # recent hourly closes, oldest first


@dataclass(frozen=True, slots=True)
class TableStats:
    table: str
    rows: int
    newest: datetime | None
    estimated: bool = False  # rows is the database's estimate of a large table


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a desk needs to paint at once."""

    mode: ModeEvent
    now: datetime
    quote_currency: str
    watchlist: tuple[WatchRow, ...]
    jobs: tuple[JobStatus, ...]
    feeds: tuple[FeedEvent, ...]
    book: BookEvent | None = None
    selected: str | None = None
    ready: bool = False
    database: str = ""
    quality: QualityEvent | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """A page of a ledger table for the explorer: column names and rows, newest first."""

    table: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


@dataclass(frozen=True, slots=True)
class CatalystView:
    source: str
    type: str
    title: str
    url: str
    occurred: datetime
    impact: int
    currencies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HumanView:
    source: str
    title: str
    url: str
    published: datetime
    score: float
    currencies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MoodView:
    source: str
    at: datetime
    value: float
    label: str


@dataclass(frozen=True, slots=True)
class GlassMover:
    entity: str
    metric: str  # tvl_usd | fees_24h_usd | chain_tvl_usd
    value: float
    change_pct: float | None  # over the last 24 hours, when known


@dataclass(frozen=True, slots=True)
class GlassView:
    movers: tuple[GlassMover, ...]
    gas_gwei: float | None = None
    block_height: int | None = None


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """What an order would do now: the ticket shows this before anything is sent."""

    symbol: str
    side: str
    quantity: Decimal
    limit_price: Decimal | None
    allowed: bool
    rule: str
    message: str
    est_price: Decimal | None = None  # average fill price walking the current book
    est_quantity: Decimal | None = None  # what would fill now (less than asked if depth is thin)
    notional: Decimal | None = None
    fee: Decimal | None = None
    slippage_bps: Decimal | None = None
    rests: bool = False  # a limit order that would rest on the book


@dataclass(frozen=True, slots=True)
class OrderResult:
    order: OrderEvent
    accepted: bool
    rule: str  # "ok", "duplicate" or the rule that refused
    message: str
    fills: tuple[FillEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class TradingView:
    """The book at a glance, for a first paint of the trading panes."""

    trading: TradingEvent
    portfolio: PortfolioEvent | None
    positions: tuple[PositionView, ...]
    orders: tuple[OrderEvent, ...]  # working first, then recent, newest first
    fills: tuple[FillEvent, ...]  # newest first
    tax_zone: str = "Australia/Sydney"  # the calendar of financial years and the CGT discount


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    name: str
    description: str
    params: dict[str, float | int]


@dataclass(frozen=True, slots=True)
class BacktestView:
    id: str
    strategy: str
    symbol: str
    timeframe: str
    params: dict[str, float | int]
    start: datetime
    end: datetime
    bars: int
    metrics: dict[str, object]
    gate_passed: bool
    gate_reasons: tuple[str, ...]
    equity: tuple[tuple[datetime, float], ...] = ()
    promoted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeploymentView:
    name: str
    strategy: str
    symbol: str
    timeframe: str
    params: dict[str, float | int]
    allocation: Decimal
    active: bool
    deployed_at: datetime
    backtest_id: str | None
    last_bar: datetime | None = None
    book: str = ""  # the book it trades in: paper:sim, paper:coinspot


@dataclass(frozen=True, slots=True)
class MemberView:
    """An engine attached to the database: the owner (leader) or a standby."""

    role: str  # leader | standby | command
    pid: int
    host: str
    address: str
    started: str


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """Who owns the database, where it listens, its standbys and attached clients."""

    database: str  # masked URL
    role: str  # leader | standby | local (an engine that owns no lease, e.g. in tests)
    address: str
    book: str
    data: str  # SIM | LIVE
    clients: int
    members: tuple[MemberView, ...] = ()


@dataclass(frozen=True, slots=True)
class LabSessionView:
    """A Lab session as the desk and the command line show it."""

    id: str
    goal: str
    status: str  # running | waiting | stopped | done | cancelled | failed
    model: str | None
    budget: Decimal | None  # USD
    spent: Decimal  # USD, priced calls only
    calls: int
    prompt_tokens: int
    completion_tokens: int
    unpriced_calls: int
    created_at: datetime
    updated_at: datetime
    waiting: dict[str, Any] | None = None  # {"kind": scope|question|proposal, "text": …}
    untraced: int | None = None  # figures in the report no result backs
    error: str | None = None
    decision: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LabStep:
    seq: int
    node: str
    text: str
    at: datetime
    kind: str = "step"  # step | call


@dataclass(frozen=True, slots=True)
class LabDetail:
    """A session whole: its steps, the tool results its report cites, and the report."""

    session: LabSessionView
    steps: tuple[LabStep, ...]
    results: dict[str, Any]  # id → {"tool", "args", "result"}
    report: str | None


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key in the vault as the desk and the command line list it: never its secret."""

    name: str
    kind: str  # model | venue
    base_url: str | None
    added_at: datetime
    rotated_at: datetime | None


class EngineAPI(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def snapshot(self) -> Snapshot:
        """The current state, for a first paint or a resync."""
        ...

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on; quotes and forming candles coalesce for a slow reader."""
        ...

    def now(self) -> datetime:
        """The engine's clock (simulated time on the simulated market)."""
        ...

    async def candles(self, symbol: str, timeframe: str, limit: int = 300) -> list[CandleEvent]:
        """The newest bars of a symbol, oldest first, including the forming one."""
        ...

    async def select(self, symbol: str) -> None:
        """The symbol the user is looking at: its order book is polled."""
        ...

    async def run_job(self, name: str) -> JobStatus: ...

    async def pause_job(self, name: str) -> None: ...

    async def resume_job(self, name: str) -> None: ...

    async def set_watchlist(self, symbols: list[str]) -> None: ...

    async def use_simulated_market(self) -> None:
        """Switch the Exchange feed to the simulated market (labelled SIM everywhere)."""
        ...

    async def ledger_stats(self) -> list[TableStats]: ...

    async def browse(
        self,
        table: str,
        *,
        search: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        simulated: bool | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> LedgerPage:
        """Any ledger table, filtered, newest first; ``simulated`` keeps only the simulated
        market's rows (True) or only real ones (False)."""
        ...

    async def export(
        self,
        table: str,
        path: str,
        *,
        fmt: str = "csv",
        search: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """Write the filtered table to ``path`` (csv or jsonl); returns the rows written."""
        ...

    async def catalysts(self, symbol: str | None = None, limit: int = 50) -> list[CatalystView]: ...

    async def human_items(self, symbol: str | None = None, limit: int = 30) -> list[HumanView]: ...

    async def mood(self) -> MoodView | None: ...

    async def glass(self, limit: int = 8) -> GlassView: ...

    # -- trading -------------------------------------------------------------------------

    async def trading(self) -> TradingView:
        """Positions, working and recent orders, fills, PnL and the switches."""
        ...

    async def preview_order(
        self, symbol: str, side: str, quantity: object, limit_price: object | None = None
    ) -> OrderPreview:
        """Estimated fill, fee and the risk guard's verdict; nothing is sent or audited."""
        ...

    async def place_order(
        self,
        symbol: str,
        side: str,
        quantity: object,
        limit_price: object | None = None,
        *,
        client_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> OrderResult:
        """Check and send one order; a limit order with ``expires_at`` expires if still resting."""
        ...

    async def cancel_order(self, client_id: str) -> OrderEvent: ...

    async def cancel_all_orders(self) -> int: ...

    async def set_kill_switch(self, on: bool, *, cancel_all: bool = False) -> None: ...

    async def lots(self) -> list[LotView]: ...

    async def equity_curve(self, limit: int = 500) -> list[tuple[datetime, Decimal]]: ...

    async def tax_report(self, fy: int) -> dict[str, object]:
        """The Australian CGT report of one financial year, as plain data (rows and totals)."""
        ...

    async def strategies(self) -> list[StrategyInfo]: ...

    async def backtest(
        self,
        strategy: str,
        symbol: str,
        *,
        timeframe: str = "1h",
        params: dict[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        fee: Decimal | None = None,
        slippage_bps: Decimal | None = None,
    ) -> BacktestView: ...

    async def backtests(self, limit: int = 50) -> list[BacktestView]: ...

    async def promote(self, backtest_id: str) -> BacktestView:
        """A human's decision to take a backtest to paper; refused unless the gate passed."""
        ...

    async def deploy(
        self, backtest_id: str, allocation: Decimal | None = None
    ) -> DeploymentView: ...

    async def undeploy(self, name: str) -> DeploymentView: ...

    async def deployments(self) -> list[DeploymentView]: ...

    async def arm_live(self, confirmation: str) -> None:
        """Arm live trading: ``confirmation`` must be the typed phrase "ARM LIVE"."""
        ...

    async def disarm_live(self) -> None: ...

    async def lab_start(
        self, goal: str, *, model: str | None = None, budget: Decimal | None = None
    ) -> LabSessionView:
        """Start a Lab session on ``goal``; it asks to confirm its scope before it reads."""
        ...

    async def lab_answer(self, session: str, text: str) -> LabSessionView:
        """Answer what a session waits on: its scope ("yes", or a change) or a question."""
        ...

    async def lab_decide(
        self,
        session: str,
        approve: bool,
        *,
        reason: str = "",
        allocation: Decimal | None = None,
    ) -> LabSessionView:
        """Approve a session's proposal (to paper, through promotion) or reject it."""
        ...

    async def lab_resume(
        self, session: str, *, budget: Decimal | None = None
    ) -> LabSessionView: ...

    async def lab_cancel(self, session: str) -> LabSessionView: ...

    async def lab_sessions(self, limit: int = 50) -> list[LabSessionView]: ...

    async def lab_detail(self, session: str) -> LabDetail: ...

    async def settings_view(self) -> dict[str, Any]:
        """The engine's effective settings by section, secrets masked, and its config file."""
        ...

    async def keys(self) -> list[KeyView]: ...

    async def key_add(
        self,
        name: str,
        secret: str,
        passphrase: str,
        *,
        kind: str | None = None,
        base_url: str | None = None,
    ) -> KeyView:
        """Store a key in the engine's vault (the first key makes it, under ``passphrase``)."""
        ...

    async def key_remove(self, name: str, passphrase: str) -> KeyView: ...

    async def key_rotate(self, passphrase: str, new_passphrase: str) -> int:
        """Re-seal every key under a new passphrase, all or nothing; how many moved."""
        ...

    async def lab_defaults(self) -> dict[str, Any]:
        """What a new session gets unless told otherwise: ``model`` (None: no model),
        ``budget`` (USD; None: no limit) and ``allocation`` for an approved proposal."""
        ...


class CommandAPI(Protocol):
    """What the command line asks an engine besides the desk's EngineAPI."""

    async def orders(self, *, open_only: bool = False, limit: int = 200) -> list[OrderEvent]:
        """Orders of the engine's book, working first, then newest first."""
        ...

    async def fills(self, limit: int = 200) -> list[FillEvent]:
        """Fills of the engine's book, newest first."""
        ...

    async def instrument_steps(self, symbols: list[str]) -> list[InstrumentSteps]:
        """How finely each symbol trades, to show quantities and prices as the venue does."""
        ...

    async def service_status(self) -> ServiceStatus: ...
