"""What the Lab may ask of the engine: read the four ledgers and the book, run a backtest.

The engine implements ``LabPort``; the Lab knows nothing else of it. The port has no method
that places, cancels or changes an order: an agent cannot trade. A proposal it makes is
carried out by the engine after a human approves it, through the same gate and risk guard as
anyone's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ledgers.intel import CatalystEvent, GlassMetric, HumanItem, MoodReading
from ledgers.market import Candle


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """A backtest the port runs with the engine's own backtester, fees and gate.

    Either a registered strategy with parameters (``strategy``, ``params``), or a signal:
    ``signal`` maps bar open times (ISO, UTC) to a target exposure, 0 or 1, decided at that
    bar's close; bars it does not name are flat.
    """

    symbol: str
    timeframe: str
    since: datetime
    until: datetime
    strategy: str = "signal"
    params: Mapping[str, str] = field(default_factory=dict)
    signal: Mapping[str, float] = field(default_factory=dict)
    key: str = ""  # names the backtest: asked again with the same key, it is not run twice


class LabPort(Protocol):
    """Read-only access to the engine's data, and backtests. Times are UTC-aware."""

    venue: str

    def symbols(self) -> Sequence[str]:
        """The market's listed symbols, e.g. ``ETH/AUD``."""
        ...

    async def candles(
        self, symbol: str, timeframe: str, since: datetime, until: datetime
    ) -> Sequence[Candle]:
        """Closed bars opening in [since, until), oldest first."""
        ...

    async def human(self, currency: str, since: datetime, until: datetime) -> Sequence[HumanItem]:
        """News and social items mentioning ``currency``, oldest first."""
        ...

    async def mood(self, since: datetime, until: datetime) -> Sequence[MoodReading]: ...

    async def catalysts(
        self, currency: str, since: datetime, until: datetime
    ) -> Sequence[CatalystEvent]:
        """Dated events concerning ``currency`` (or the whole market), oldest first."""
        ...

    async def glass(
        self, entity: str, since: datetime, until: datetime
    ) -> Sequence[GlassMetric]: ...

    async def ledger_stats(self) -> Mapping[str, int]:
        """Rows per ledger table."""
        ...

    async def book(self) -> Mapping[str, Any]:
        """The trading book as it stands (positions and equity), read-only."""
        ...

    async def backtest(self, spec: BacktestSpec) -> Mapping[str, Any]:
        """Run ``spec``: the metrics (plain numbers), the gate's verdict (``gate_passed``,
        ``gate_reasons``) and the backtest's id."""
        ...
