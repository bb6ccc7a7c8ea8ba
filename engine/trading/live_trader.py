"""The live book: the same trader and risk guard, with orders sent to the venue.

Off unless the configuration asks for it, and even then nothing trades until a human arms it
(``omc live arm`` or the desk, with a typed confirmation). On start it reconciles open orders and
balances with the venue before anything can trade.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.events import RiskEvent
from engine.trading.books import state_key
from engine.trading.live import LiveBroker, LiveBrokerError
from engine.trading.model import (
    ZERO,
    Balance,
    Execution,
    Fill,
    Order,
    OrderRequest,
    OrderState,
    Side,
)
from engine.trading.portfolio import InsufficientHoldings, Portfolio
from engine.trading.store import BookWriter
from engine.trading.trader import LIVE_ARMED, PlaceResult, Trader, TradingError

log = logging.getLogger("omc.trading")

ARM_PHRASE = "ARM LIVE"
_WORKING = [OrderState.NEW, OrderState.OPEN, OrderState.PARTIALLY_FILLED]


class LiveTrader(Trader):
    mode = "live"
    needs_book = False  # the venue matches the order; the guard still needs a fresh quote
    sends_in_transaction = False  # a network call is not made while holding the book's lock

    def __init__(self, *args: Any, broker: LiveBroker, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live = broker
        self.balances: dict[str, Balance] = {}
        self._open: dict[str, Order] = {}
        self.unknown_orders: list[dict[str, Any]] = []

    async def _load(self, w: BookWriter) -> None:
        """Lots from our fills, cash as the venue last reported it, our working orders."""
        self._open = {o.client_id: o for o in await w.orders(_WORKING)}
        fills = await w.fills()
        self.portfolio = self._replay(fills)
        self._latest = max((f.ts for f in fills), default=None)

    async def _settle_leftovers(self, w: BookWriter, now: datetime) -> None:
        """Nothing to settle blind: the venue is asked about orders left NEW (``_after_open``)."""

    async def _after_open(self) -> None:
        """Reconcile with the venue before anything trades: open orders, fills, balances."""
        try:
            reconciliation = await self.live.reconcile(list(self._open.values()))
        except LiveBrokerError as exc:
            raise TradingError(f"live trading cannot start: {exc}") from None
        self.balances = dict(reconciliation.balances)
        async with self._writing() as w:
            await w.save_executions(reconciliation.executions)
            await self._load(w)
        self.unknown_orders = list(reconciliation.unknown_orders)
        now = self.now()
        for venue_order in self.unknown_orders:
            message = f"an open order at the venue is not ours: {venue_order}"
            log.warning(message)
            self.publish(RiskEvent(now, False, "reconcile", message, "", "", "venue"))

    async def place(self, request: OrderRequest) -> PlaceResult:
        """The decision and the order (NEW) are stored together, then the order is sent."""
        async with self._lock:
            result, stored = await self._place(request)
            if stored is None:
                return result
            execution = await self.live.submit(stored)
            fills = await self._record([execution])
            return PlaceResult(execution.order, result.decision, tuple(fills))

    def _replay(self, fills: Sequence[Fill]) -> Portfolio:
        """Lots from our own fills; cash as the venue reports it now."""
        venue_cash = self.balances.get(self.quote, Balance(self.quote, ZERO)).total
        spent = sum((f.cash_delta for f in fills if f.quote == self.quote), ZERO)
        portfolio = Portfolio({self.quote: venue_cash - spent}, self.method)
        for fill in fills:
            _apply(portfolio, fill)
        return portfolio

    async def _cancel_one(self, client_id: str, reason: str) -> Execution | None:
        order = self._open.get(client_id)
        if order is None or order.state is OrderState.NEW:
            return None
        try:
            return await self.live.cancel(order, self.now())
        except LiveBrokerError as exc:
            raise TradingError(str(exc)) from None

    async def _expire_one(self, order: Order) -> Execution | None:
        """Venues here know no expiry: the order is cancelled there, and expired here."""
        try:
            cancelled = await self.live.cancel(order, self.now())
        except LiveBrokerError as exc:
            log.warning("order %s not expired: %s", order.client_id, exc)
            return None
        if cancelled.order.state is not OrderState.CANCELLED:
            return cancelled  # it filled at the venue first
        when = order.expires_at.isoformat() if order.expires_at else "its expiry"
        expired = replace(cancelled.order, state=OrderState.EXPIRED, reason=f"expired at {when}")
        return Execution(expired, cancelled.fills)

    async def _cancel_every(self, reason: str) -> list[Execution]:
        done = []
        for client_id in list(self._open):
            execution = await self._cancel_one(client_id, reason)
            if execution is not None:
                done.append(execution)
        return done

    def working(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self._open.values() if symbol is None or o.symbol == symbol]

    async def check_orders(self) -> int:
        """Poll the venue for fills and cancellations of our working orders, and balances."""
        async with self._lock:
            try:
                executions = await self.live.poll(self.working())
                self.balances = await self.live.balances()
            except LiveBrokerError as exc:
                log.warning("live orders not checked: %s", exc)
                return 0
            await self._record(executions)
            return len(executions)

    async def _record(self, executions: Sequence[Execution]) -> list[Fill]:
        """Store what the venue reported (found outside the lock) and announce it."""
        if not executions:
            return []
        async with self._writing() as w:
            new = await self._store(w, executions)
        self._announce(executions, new)
        return new

    async def _store(
        self, w: BookWriter, executions: Sequence[Execution], *, fresh: bool = False
    ) -> list[Fill]:
        new = await w.save_executions(executions, fresh=fresh)
        for fill in new:
            _apply(self.portfolio, fill)
            self._latest = max(self._latest, fill.ts) if self._latest else fill.ts
        self._track(e.order for e in executions)
        return new

    def _track(self, orders: Iterable[Order]) -> None:
        for order in orders:
            if order.state.terminal:
                self._open.pop(order.client_id, None)
            else:
                self._open[order.client_id] = order

    def _available(self, currency: str) -> Decimal:
        balance = self.balances.get(currency)
        total = balance.available if balance is not None else ZERO
        held = ZERO
        for order in self._open.values():
            rules = self._rules(order.symbol)
            fee = rules.maker_fee if rules is not None else Decimal("0.001")
            if order.side is Side.BUY and order.quote == currency and order.limit_price:
                held += order.remaining * order.limit_price * (1 + fee)
            elif order.side is Side.SELL and order.base == currency:
                held += order.remaining
        return total - held


async def set_armed(trader: Trader, on: bool) -> None:
    now = trader.now()
    key = state_key(trader.book, LIVE_ARMED)
    await trader.store.set_state(key, {"on": on, "at": now.isoformat()}, now)
    trader.armed = on
    log.warning("live trading %s", "ARMED" if on else "disarmed")
    trader.publish(trader.trading_event("armed" if on else "disarmed"))


def _apply(portfolio: Portfolio, fill: Fill) -> None:
    try:
        portfolio.apply(fill)
    except InsufficientHoldings as exc:
        # Coins bought before OMC traded this account have no lot here: the sale is recorded
        # and reconciled with the venue, but its cost base must come from the user's records.
        log.warning("fill %s has no lots to match: %s", fill.fill_id, exc)
