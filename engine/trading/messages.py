"""Trading objects as the engine's events: what desks and attach clients are sent as they
happen (the views of a book are ``engine.trading.views``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.events import FillEvent, OrderEvent, RiskEvent
from engine.trading.model import Fill, Order

if TYPE_CHECKING:
    from engine.trading.risk import RiskDecision


def order_event(order: Order) -> OrderEvent:
    return OrderEvent(
        client_id=order.client_id,
        mode=order.mode,
        book=order.book,
        symbol=order.symbol,
        side=order.side.value,
        type=order.type.value,
        quantity=order.quantity,
        limit_price=order.limit_price,
        state=order.state.value,
        filled=order.filled,
        average_price=order.average_price,
        fees=order.fees,
        origin=order.origin.value,
        created_at=order.created_at,
        updated_at=order.updated_at,
        reason=order.reason,
        strategy=order.strategy,
        expires_at=order.expires_at,
    )


def fill_event(fill: Fill, book: str) -> FillEvent:
    return FillEvent(
        fill.fill_id,
        fill.client_id,
        book.partition(":")[0],
        book,
        fill.symbol,
        fill.side.value,
        fill.quantity,
        fill.price,
        fill.fee,
        fill.liquidity,
        fill.ts,
        fill.slippage_bps,
    )


def risk_event(decision: RiskDecision, message: str) -> RiskEvent:
    return RiskEvent(
        decision.at,
        decision.allowed,
        decision.rule if not decision.allowed else "no_book",
        message,
        decision.symbol,
        decision.side,
        decision.origin,
        decision.client_id,
    )
