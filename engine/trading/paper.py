"""The paper broker: fills orders against the current order book, with the venue's fees.

Market orders walk the book; limit orders take what crosses and rest for the remainder, then
fill as maker when a later book crosses their price. The broker is synchronous and does no I/O:
it returns each order's next version with its fills, and the caller persists them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

from engine.trading.matching import Level, gross, opposite, slippage_bps, take
from engine.trading.model import (
    ZERO,
    Book,
    Execution,
    Fill,
    MarketRules,
    Order,
    OrderState,
    OrderType,
    Side,
)

_ONE = Decimal(1)


def _plain(amount: Decimal) -> str:
    """A Decimal as people write it: no exponent, no trailing zeros."""
    return f"{amount.normalize():f}"


class PaperBroker:
    """Simulated execution on one venue; keeps the limit orders resting there and their funds."""

    mode = "paper"

    def __init__(self, venue: str, rules: Callable[[str], MarketRules | None]) -> None:
        self.venue = venue
        self._rules = rules
        self._resting: dict[str, Order] = {}  # by client id, in the order they came to rest

    # -- placing -------------------------------------------------------------------------

    def submit(
        self,
        order: Order,
        book: Book,
        available: Callable[[str], Decimal],
        at: datetime,
    ) -> Execution:
        """Fill what the book allows now; a limit order's remainder rests here."""
        self._check_new(order, book)
        rules = self._rules(order.symbol)
        if rules is None:
            return _reject(order, at, f"{order.symbol} is not traded on {self.venue}")
        if order.quantity <= ZERO:
            return _reject(order, at, "quantity must be positive")
        if order.type is OrderType.MARKET:
            return self._market(order, book, rules, available, at)
        return self._limit(order, book, rules, available, at)

    def _check_new(self, order: Order, book: Book) -> None:
        # These are the caller's mistakes, not the user's: refuse loudly.
        if order.state is not OrderState.NEW:
            raise ValueError(f"order {order.client_id} is {order.state}, not new")
        if order.venue != self.venue:
            raise ValueError(f"order {order.client_id} is for {order.venue}, not {self.venue}")
        if order.symbol != book.symbol:
            raise ValueError(f"order {order.client_id} is on {order.symbol}, book is {book.symbol}")
        if order.client_id in self._resting:
            raise ValueError(f"order {order.client_id} is already working here")
        if order.type is OrderType.LIMIT and order.limit_price is None:
            raise ValueError(f"limit order {order.client_id} has no limit price")

    def _market(
        self,
        order: Order,
        book: Book,
        rules: MarketRules,
        available: Callable[[str], Decimal],
        at: datetime,
    ) -> Execution:
        taken = take(opposite(book, order.side), order.quantity, order.side)
        if not taken:
            return _reject(order, at, "no liquidity on the book")
        if order.side is Side.BUY:
            spend = gross(taken)
            short = _shortfall(order.quote, spend + spend * rules.taker_fee, available)
        else:
            short = _shortfall(order.base, order.quantity, available)
        if short:
            return _reject(order, at, short)
        order, fills = _take(order, taken, rules.taker_fee, book.mid, at)
        if order.remaining > ZERO:
            reason = f"book depth ran out after {_plain(order.filled)} of {_plain(order.quantity)}"
            order = order.transition(OrderState.CANCELLED, at, reason=reason)
        return Execution(order, fills)

    def _limit(
        self,
        order: Order,
        book: Book,
        rules: MarketRules,
        available: Callable[[str], Decimal],
        at: datetime,
    ) -> Execution:
        limit = _limit_of(order)
        if limit <= ZERO:
            return _reject(order, at, "limit price must be positive")
        if order.side is Side.BUY:
            # The part that crosses pays the taker fee and the rest the maker fee; checking at
            # the dearer of the two means no split of the order can spend more than was checked.
            worst = order.quantity * limit * (_ONE + max(rules.taker_fee, rules.maker_fee))
            short = _shortfall(order.quote, worst, available)
        else:
            short = _shortfall(order.base, order.quantity, available)
        if short:
            return _reject(order, at, short)
        taken = take(opposite(book, order.side), order.quantity, order.side, limit)
        order, fills = _take(order, taken, rules.taker_fee, book.mid, at)
        if order.state is OrderState.NEW:
            order = order.transition(OrderState.OPEN, at)
        self._keep(order)
        return Execution(order, fills)

    # -- the market moves ----------------------------------------------------------------

    def on_book(self, book: Book, at: datetime) -> list[Execution]:
        """Fill resting limits on ``book.symbol`` that the market now crosses, as maker."""
        candidates = [o for o in self._resting.values() if o.symbol == book.symbol]
        if not candidates:
            return []
        # Price then time priority: the best-priced resting order sees the liquidity first,
        # and what one order takes from a level is gone for the next one on this book.
        candidates.sort(key=_priority)
        used: dict[Side, dict[Decimal, Decimal]] = {Side.BUY: {}, Side.SELL: {}}
        fee = self._maker_fee(book.symbol)
        out: list[Execution] = []
        for order in candidates:
            limit = _limit_of(order)
            side_used = used[order.side]
            taken = take(opposite(book, order.side), order.remaining, order.side, limit, side_used)
            if not taken:
                continue
            for price, qty in taken:
                side_used[price] = side_used.get(price, ZERO) + qty
            quantity = sum((qty for _, qty in taken), ZERO)
            fill = _fill(order, quantity, limit, fee, "maker", ZERO, at)
            order = order.with_fill(fill)
            self._keep(order)
            out.append(Execution(order, (fill,)))
        return out

    # -- cancelling and inspecting -------------------------------------------------------

    def cancel(self, client_id: str, at: datetime, reason: str = "cancelled") -> Execution | None:
        """Cancel a resting order and release its funds; None when it is not working here."""
        order = self._resting.pop(client_id, None)
        if order is None:
            return None
        return Execution(order.transition(OrderState.CANCELLED, at, reason=reason))

    def expire(self, client_id: str, at: datetime) -> Execution | None:
        """A resting order whose time ran out; its funds are released like a cancel's."""
        order = self._resting.pop(client_id, None)
        if order is None:
            return None
        when = order.expires_at.isoformat() if order.expires_at else "its expiry"
        return Execution(order.transition(OrderState.EXPIRED, at, reason=f"expired at {when}"))

    def cancel_all(self, at: datetime, reason: str = "cancelled") -> list[Execution]:
        """Cancel every resting order (the kill switch's second half)."""
        out = [
            Execution(order.transition(OrderState.CANCELLED, at, reason=reason))
            for order in self._resting.values()
        ]
        self._resting.clear()
        return out

    def working(self, symbol: str | None = None) -> list[Order]:
        """Resting orders, oldest first; only ``symbol``'s when given."""
        return [o for o in self._resting.values() if symbol is None or o.symbol == symbol]

    def reserved(self, currency: str) -> Decimal:
        """Funds held for resting orders: quote for buys (fees included), base for sells."""
        total = ZERO
        for order in self._resting.values():
            if order.side is Side.BUY and order.quote == currency:
                fee = self._maker_fee(order.symbol)
                total += order.remaining * _limit_of(order) * (_ONE + fee)
            elif order.side is Side.SELL and order.base == currency:
                total += order.remaining
        return total

    def restore(self, orders: Iterable[Order]) -> None:
        """Take back the working orders persisted before a restart."""
        for order in orders:
            if order.venue != self.venue:
                raise ValueError(f"order {order.client_id} is for {order.venue}, not {self.venue}")
            if not order.state.working or order.limit_price is None:
                raise ValueError(f"order {order.client_id} is not a working limit order")
            self._resting[order.client_id] = order

    def _maker_fee(self, symbol: str) -> Decimal:
        # A resting order outlives a venue's listing of its symbol (rules not loaded yet after
        # a restart, or the pair delisted); the model's default fee keeps it priced meanwhile.
        return (self._rules(symbol) or MarketRules(symbol)).maker_fee

    def _keep(self, order: Order) -> None:
        if order.state.working:
            self._resting[order.client_id] = order
        else:
            self._resting.pop(order.client_id, None)


def _limit_of(order: Order) -> Decimal:
    if order.limit_price is None:  # submit and restore only let limit orders rest
        raise ValueError(f"resting order {order.client_id} has no limit price")
    return order.limit_price


def _priority(order: Order) -> Decimal:
    """Sort key: the highest buy and the lowest sell first."""
    return -_limit_of(order) if order.side is Side.BUY else _limit_of(order)


def _shortfall(currency: str, needed: Decimal, available: Callable[[str], Decimal]) -> str | None:
    have = available(currency)
    if needed <= have:
        return None
    return f"insufficient {currency}: needs {_plain(needed)}, available {_plain(have)}"


def _reject(order: Order, at: datetime, reason: str) -> Execution:
    return Execution(order.transition(OrderState.REJECTED, at, reason=reason))


def _take(
    order: Order,
    taken: list[Level],
    fee: Decimal,
    reference: Decimal | None,
    at: datetime,
) -> tuple[Order, tuple[Fill, ...]]:
    """Apply one taker fill per level taken; the order's state follows each fill."""
    fills: list[Fill] = []
    for price, qty in taken:
        slip = slippage_bps(order.side, price, reference)
        fill = _fill(order, qty, price, fee, "taker", slip, at)
        order = order.with_fill(fill)
        fills.append(fill)
    return order, tuple(fills)


def _fill(
    order: Order,
    quantity: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    liquidity: str,
    slippage: Decimal,
    at: datetime,
) -> Fill:
    # The id is the cumulative filled quantity, which only grows: a replay of the same
    # order against the same book makes the same ids, so the store never double-counts.
    return Fill(
        fill_id=f"{order.client_id}:{_plain(order.filled + quantity)}",
        client_id=order.client_id,
        venue=order.venue,
        symbol=order.symbol,
        side=order.side,
        quantity=quantity,
        price=price,
        fee=price * quantity * fee_rate,
        liquidity=liquidity,
        ts=at,
        slippage_bps=slippage,
    )
