"""A book's positions and lots as the engine's views (``EngineAPI.trading``, ``lots``)."""

from __future__ import annotations

from engine.holdings import LotView, PositionView
from engine.trading.model import Lot, Position


def position_view(p: Position) -> PositionView:
    return PositionView(
        p.symbol,
        p.quantity,
        p.average_cost,
        p.cost,
        p.mark,
        p.market_value,
        p.unrealized,
        p.realized,
    )


def lot_view(lot: Lot, tax_zone: str) -> LotView:
    from engine.trading.tax import long_term_from

    return LotView(
        lot.lot_id,
        lot.asset,
        lot.quote,
        lot.acquired_at,
        lot.quantity,
        lot.cost,
        lot.unit_cost,
        long_term_from(lot.acquired_at, tax_zone),
    )
