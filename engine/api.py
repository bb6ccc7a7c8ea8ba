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
