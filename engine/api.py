"""The seam between the desk and an engine: one Protocol, plain data in and out.

``LocalEngine`` implements it in-process; a remote implementation over the attach websocket
uses the same types, so the desk cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from engine.events import (
    BookEvent,
    CandleEvent,
    Event,
    FeedEvent,
    ModeEvent,
    QualityEvent,
    QuoteEvent,
)
from engine.jobs import JobStatus


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
        limit: int = 200,
        offset: int = 0,
    ) -> LedgerPage:
        """Any ledger table, filtered, newest first."""
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
