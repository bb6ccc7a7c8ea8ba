"""A book's holdings as plain data: its positions, its tax lots and the steps of their
instruments. ``engine.api`` re-exports them; a command that reads a book loads only these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    cost: Decimal
    mark: Decimal | None
    market_value: Decimal | None
    unrealized: Decimal | None
    realized: Decimal


@dataclass(frozen=True, slots=True)
class LotView:
    lot_id: str
    asset: str
    quote: str
    acquired_at: datetime
    quantity: Decimal
    cost: Decimal
    unit_cost: Decimal
    long_term_from: datetime  # first moment a disposal would count as held over 12 months


@dataclass(frozen=True, slots=True)
class InstrumentSteps:
    """A venue's amount and price steps for one symbol (None where its market data has none)."""

    symbol: str
    amount_step: Decimal | None
    price_step: Decimal | None
