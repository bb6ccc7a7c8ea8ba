"""The interface every Exchange-ledger market source implements (real venues and the simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from ledgers.market import BookSnapshot, Candle, Instrument, Tick


class SourceError(Exception):
    """A source could not deliver; ``transient`` says whether retrying later may help."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class UnknownSymbolError(SourceError):
    """The venue does not list the symbol."""

    def __init__(self, symbol: str, venue: str) -> None:
        super().__init__(f"{symbol} is not listed on {venue}", transient=False)
        self.symbol = symbol


@runtime_checkable
class MarketSource(Protocol):
    """Where ticks, books and candles come from."""

    venue: str
    simulated: bool
    has_ohlcv: (
        bool  # True when the venue serves candles; otherwise the engine builds them from ticks
    )

    async def load_instruments(self) -> list[Instrument]:
        """Every instrument the venue lists (reloaded on each call)."""
        ...

    async def fetch_ticks(self, symbols: Sequence[str]) -> list[Tick]:
        """Latest ticks for ``symbols``; symbols the venue does not list are left out."""
        ...

    async def fetch_book(self, symbol: str, depth: int = 20) -> BookSnapshot:
        """An order-book snapshot of ``symbol``, ``depth`` levels a side at most."""
        ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        """Closed and forming bars of ``symbol`` from ``since`` (only when ``has_ohlcv``)."""
        ...

    async def close(self) -> None:
        """Release network resources."""
        ...
