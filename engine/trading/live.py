"""The live broker: orders sent to a real venue through ccxt's async unified API, CoinSpot first.

What ccxt 4.5's ``coinspot`` class offers (read from its source), and how this broker copes:

- createOrder: limit orders only (``createMarketOrder`` False: a market order raises). It posts
  amount and rate to the v1 /my/buy or /my/sell and its answer names no order id. Market orders
  are rejected here before anything is sent; an answer without an id is followed by a lookup.
- No client order id: an order is recognised at the venue by symbol, side, amount, price and a
  window around its creation, never by an id of ours.
- cancelOrder needs ``params={"side": "buy" | "sell"}`` and answers with no order status.
- fetchOpenOrders, fetchOrder, fetchClosedOrders: not implemented. CoinSpot's v2 API lists open
  limit orders but ccxt does not map it, and without that list nothing can be reconciled, so
  the broker refuses an exchange that cannot list its open orders.
- fetchMyTrades: trades with no id and no order id (``ccxt_orders`` reads them, and the errors
  and balances); they are matched to orders by symbol, side, price and time, oldest order first.
- Markets: a fixed list with no precision or limits, so nothing is rounded before sending.

With no closed-order list to ask, an order that left the open list without the trades to fill
it was cancelled at the venue.

``build_exchange("coinspot", …)`` therefore returns our adapter (``coinspot_orders``), which
places orders through CoinSpot's v2 API (the answer names the order) and lists open orders
from it; ccxt's own class is refused for the reasons above.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.trading.ccxt_orders import (
    Trade,
    VenueOrder,
    error_meaning,
    read_balances,
    read_trades,
    read_venue_order,
    secrets_of,
    to_decimal,
)
from engine.trading.model import (
    ZERO,
    Balance,
    Execution,
    Fill,
    InvalidTransition,
    Order,
    OrderState,
    OrderType,
    Side,
)

log = logging.getLogger(__name__)

# Venue and local clocks disagree a little: an order is looked for this far around its creation.
SKEW = timedelta(minutes=2)
# CoinSpot's trade price is total ÷ amount, which can miss the limit in its last digits.
_SLACK = Decimal("0.000001")
_REQUIRED = {
    "createOrder": "place orders",
    "cancelOrder": "cancel orders",
    "fetchOpenOrders": "list open orders",
    "fetchMyTrades": "list its trades",
    "fetchBalance": "report balances",
}
_CANCEL_NEEDS_SIDE = frozenset({"coinspot"})
_ABSENT = "not placed: the venue shows no such order; send it again if still wanted"
UNANSWERED = "unknown: the venue did not answer; will reconcile"


class LiveBrokerError(Exception):
    """A venue call failed or cannot be made; the message says which and why, never a credential."""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The venue's word on start: balances, what changed for local orders, orders only it knows."""

    balances: dict[str, Balance]
    executions: list[Execution]
    unknown_orders: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    open: dict[str, VenueOrder]
    trades: tuple[Trade, ...]


def build_exchange(venue: str, api_key: str, secret: str, timeout_ms: int = 10_000) -> Any:
    """A ccxt async exchange for ``venue`` holding the keys, with ccxt's rate limiter on."""
    import ccxt.async_support as ccxt_async  # ~0.75 s to import, and only live trading needs it

    if venue not in ccxt_async.exchanges:
        raise LiveBrokerError(f"ccxt knows no exchange called {venue!r}")
    if venue == "coinspot":  # orders placed, cancelled and listed through CoinSpot's v2 API
        from engine.trading.coinspot_orders import coinspot_exchange

        return coinspot_exchange(api_key, secret, timeout_ms)
    config = {"apiKey": api_key, "secret": secret, "enableRateLimit": True, "timeout": timeout_ms}
    return getattr(ccxt_async, venue)(config)


class LiveBroker:
    """Sends each order once and settles orders from the venue's open orders and trades."""

    mode = "live"

    def __init__(
        self, exchange: Any, venue: str, *, now: Callable[[], datetime], lookup_attempts: int = 3
    ) -> None:
        has = getattr(exchange, "has", {})
        missing = [what for key, what in _REQUIRED.items() if not has.get(key)]
        if missing:
            raise LiveBrokerError(
                f"{venue} through ccxt cannot {' or '.join(missing)}; "
                "the live broker needs that to trade and reconcile safely"
            )
        self.exchange = exchange
        self.venue = venue
        self._now = now
        self._lookup_attempts = max(1, lookup_attempts)
        self._claimed: dict[str, str] = {}  # venue order id → the local order's client id
        self._trade_owner: dict[str, str] = {}  # trade id → client id of the order it filled

    def __repr__(self) -> str:
        return f"LiveBroker(venue={self.venue!r})"

    async def reconcile(self, known: Sequence[Order]) -> Reconciliation:
        """Settle local orders with the venue before trading.

        Pass recently finished orders too: their trades are then never taken for another's.
        """
        self._claim(known)
        balances = await self.balances()
        pending = [order for order in known if not order.state.terminal]
        finished = [order for order in known if order.state.terminal]
        snapshot = await self._snapshot(pending)
        executions = self._settle_all(pending, snapshot, _ABSENT, finished)
        unknown = [
            asdict(v) for v in snapshot.open.values() if v.venue_order_id not in self._claimed
        ]
        return Reconciliation(balances, executions, unknown)

    async def submit(self, order: Order) -> Execution:
        """Send a NEW order once; a lost answer is settled by looking, never by sending again."""
        refusal = self._refusal(order)
        if refusal is not None:
            return Execution(order.transition(OrderState.REJECTED, self._now(), reason=refusal))
        price = None if order.limit_price is None else float(order.limit_price)
        try:
            answer = await self.exchange.create_order(
                order.symbol, order.type.value, order.side.value, float(order.quantity), price
            )
            venue_id, filled = answer.get("id"), to_decimal(answer.get("filled")) or ZERO
        except Exception as exc:
            meaning, refused = error_meaning(exc, self.exchange)
            if refused:
                reason = f"rejected: {meaning}"
                return Execution(order.transition(OrderState.REJECTED, self._now(), reason=reason))
            absent = f"not placed: {meaning}, and the venue shows no such order; send it again"
            return await self._look_up(order, absent)
        if venue_id is None:  # accepted without naming the order, as ccxt's coinspot answers
            return await self._look_up(order, None)
        self._claimed[str(venue_id)] = order.client_id
        placed = replace(order, venue_order_id=str(venue_id))
        if answer.get("status") in (None, "open") and not filled:
            return Execution(placed.transition(OrderState.OPEN, self._now()))
        return await self._look_up(placed, None)  # it traded at once: the fills are in its trades

    async def cancel(self, order: Order, at: datetime) -> Execution:
        """Cancel at the venue; fills that came first are kept and a filled order comes back filled."""
        if not order.state.working or order.venue_order_id is None:
            raise LiveBrokerError(
                f"order {order.client_id} is {order.state}, not working at the venue"
            )
        params = {"side": order.side.value} if self.exchange.id in _CANCEL_NEEDS_SIDE else {}
        refused: LiveBrokerError | None = None
        try:
            await self.exchange.cancel_order(order.venue_order_id, order.symbol, params)
        except Exception as exc:
            meaning, surely = error_meaning(exc, self.exchange)
            refused = LiveBrokerError(f"{self.venue} cancel of order {order.client_id}: {meaning}")
            if not surely:  # it may be cancelled or not: the next poll will tell
                raise refused from None
        snapshot = await self._snapshot([order])
        owned = self._attribute([order], snapshot.trades)
        after, fills = self._settle(order, owned[order.client_id], snapshot, _ABSENT)
        if after.state is OrderState.FILLED or (refused is not None and after.state.terminal):
            return Execution(after, tuple(fills))  # filled, or cancelled there already
        if refused is not None:
            raise refused
        if after.state is not OrderState.CANCELLED:
            after = after.transition(OrderState.CANCELLED, at)
        return Execution(replace(after, reason="cancelled on request", updated_at=at), tuple(fills))

    async def poll(self, working: Sequence[Order]) -> list[Execution]:
        """Executions of the orders the venue moved since they were last settled, and only those."""
        pending = [order for order in working if not order.state.terminal]
        if not pending:
            return []
        self._claim(pending)
        return self._settle_all(pending, await self._snapshot(pending), _ABSENT)

    async def balances(self) -> dict[str, Balance]:
        """Every currency the venue reports, exact; CoinSpot reports totals only."""
        with self._failures("balances"):
            return read_balances(await self.exchange.fetch_balance())

    async def close(self) -> None:
        await self.exchange.close()

    # --- settling -------------------------------------------------------------------------

    async def _look_up(self, order: Order, absent: str | None) -> Execution:
        """Settle an order whose placement is in doubt from what the venue lists."""
        for _ in range(self._lookup_attempts):
            try:
                snapshot = await self._snapshot([order])
            except LiveBrokerError as exc:
                log.warning("looking up order %s: %s", order.client_id, exc)
                continue
            executions = self._settle_all([order], snapshot, absent)
            return executions[0] if executions else Execution(order)
        if order.venue_order_id is not None:
            return Execution(order.transition(OrderState.OPEN, self._now()))
        return Execution(replace(order, reason=UNANSWERED, updated_at=self._now()))

    def _settle_all(
        self,
        orders: Sequence[Order],
        snapshot: _Snapshot,
        absent: str | None,
        finished: Sequence[Order] = (),
    ) -> list[Execution]:
        located = [self._locate(order, snapshot) for order in orders]
        owned = self._attribute([*located, *finished], snapshot.trades)
        executions: list[Execution] = []
        for before, order in zip(orders, located, strict=True):
            after, fills = self._settle(order, owned[order.client_id], snapshot, absent)
            moved = (after.state, after.venue_order_id, after.reason)
            if fills or moved != (before.state, before.venue_order_id, before.reason):
                executions.append(Execution(after, tuple(fills)))
        return executions

    def _locate(self, order: Order, snapshot: _Snapshot) -> Order:
        """The order with its venue id, when it had none and the venue shows one that fits."""
        if order.venue_order_id is not None:
            return order
        now = self._now()
        seen = {
            v.venue_order_id: v.created_at for v in snapshot.open.values() if _same(order, v, now)
        }
        for trade in snapshot.trades:  # traded at once, so no longer open
            if trade.order_id is not None and _admits(order, trade):
                seen.setdefault(trade.order_id, trade.ts)
        free = [
            (ts or order.created_at, vid) for vid, ts in seen.items() if vid not in self._claimed
        ]
        if not free:
            return order
        venue_id = min(free)[1]
        self._claimed[venue_id] = order.client_id
        return replace(order, venue_order_id=venue_id)

    def _attribute(
        self, orders: Sequence[Order], trades: Sequence[Trade]
    ) -> dict[str, list[Trade]]:
        """Each trade to the order it filled: by the venue's order id, else (CoinSpot) to the
        oldest order it fits that has room left."""
        by_venue_id = {o.venue_order_id: o.client_id for o in orders if o.venue_order_id}
        owned: dict[str, list[Trade]] = {order.client_id: [] for order in orders}
        room = {order.client_id: order.quantity for order in orders}
        oldest_first = sorted(orders, key=lambda order: order.created_at)
        for trade in sorted(trades, key=lambda t: (t.ts, t.id)):
            owner = self._trade_owner.get(trade.id)
            if owner is None and trade.order_id is not None:
                owner = by_venue_id.get(trade.order_id)
            elif owner is None:
                fits = (o for o in oldest_first if room[o.client_id] >= trade.amount)
                owner = next((o.client_id for o in fits if _admits(o, trade)), None)
            if owner is not None and owner in owned:
                owned[owner].append(trade)
                room[owner] -= trade.amount
                self._trade_owner[trade.id] = owner
        return owned

    def _settle(
        self, order: Order, trades: list[Trade], snapshot: _Snapshot, absent: str | None
    ) -> tuple[Order, list[Fill]]:
        # A NEW order's reason only said its placement was in doubt; this settles it afresh.
        current = replace(order, reason=None) if order.state is OrderState.NEW else order
        fills: list[Fill] = []
        done = ZERO
        for trade in trades:  # oldest first; those within the filled quantity were applied before
            done += trade.amount
            if done <= order.filled:
                continue
            fill = Fill(
                f"{self.venue}:{trade.id}",
                order.client_id,
                self.venue,
                order.symbol,
                order.side,
                trade.amount,
                trade.price,
                trade.fee,
                trade.liquidity,
                trade.ts,
            )
            try:
                current = current.with_fill(fill)
            except (ValueError, InvalidTransition) as exc:
                log.warning("%s fill %s left out: %s", self.venue, fill.fill_id, exc)
                continue
            fills.append(fill)
        at = self._now()
        if current.state.terminal:
            return current, fills
        if current.venue_order_id in snapshot.open:
            opened = current.state is OrderState.NEW
            return (current.transition(OrderState.OPEN, at) if opened else current), fills
        if current.state is not OrderState.NEW:
            gone = "cancelled at the venue: no longer open there and not filled"
            return current.transition(OrderState.CANCELLED, at, reason=gone), fills
        if current.venue_order_id is not None:  # just accepted; the next poll settles it
            return current.transition(OrderState.OPEN, at), fills
        if absent is None:
            unseen = "unknown: the venue accepted the order without naming it; will reconcile"
            return replace(current, reason=unseen, updated_at=at), fills
        return current.transition(OrderState.REJECTED, at, reason=absent), fills

    async def _snapshot(self, orders: Sequence[Order]) -> _Snapshot:
        since = min((order.created_at for order in orders), default=self._now()) - SKEW
        with self._failures("open orders"):
            listed = [read_venue_order(raw) for raw in await self.exchange.fetch_open_orders()]
        with self._failures("trades"):
            raw_trades = await self.exchange.fetch_my_trades(None, int(since.timestamp() * 1000))
            trades = read_trades(raw_trades, since, self.venue)
        return _Snapshot({v.venue_order_id: v for v in listed}, trades)

    def _claim(self, orders: Sequence[Order]) -> None:
        for order in orders:
            if order.venue_order_id is not None:
                self._claimed[order.venue_order_id] = order.client_id

    # --- failures -------------------------------------------------------------------------

    def _refusal(self, order: Order) -> str | None:
        """Why an order cannot be sent as it is; it is rejected before reaching the venue."""
        if order.state is not OrderState.NEW:
            raise LiveBrokerError(
                f"order {order.client_id} is {order.state}; only a new order is sent"
            )
        if order.type is OrderType.MARKET and self.exchange.has.get("createMarketOrder") is False:
            return f"rejected: {self.venue} takes limit orders only; give the order a limit price"
        if order.type is OrderType.LIMIT and order.limit_price is None:
            return "rejected: a limit order needs a limit price"
        for value, what in ((order.quantity, "quantity"), (order.limit_price, "limit price")):
            if value is not None and Decimal(repr(float(value))) != value:
                return f"rejected: the {what} {value} has more digits than can be sent exactly"
        return None

    @contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """Turn what a venue call or its answer raises into a LiveBrokerError."""
        try:
            yield
        except Exception as exc:
            leaks = any(secret in str(exc) for secret in secrets_of(self.exchange))
            error = LiveBrokerError(f"{self.venue} {what}: {error_meaning(exc, self.exchange)[0]}")
            raise error from (None if leaks else exc)


def _same(order: Order, venue: VenueOrder, now: datetime) -> bool:
    """Is ``venue`` the order: same market, side, amount and price, placed around its creation."""
    if (venue.symbol, venue.side) != (order.symbol, order.side):
        return False
    limit, price, ts = order.limit_price, venue.price, venue.created_at
    if not _close(venue.amount, order.quantity):
        return False
    if limit is not None and (price is None or not _close(price, limit)):
        return False
    return ts is None or order.created_at - SKEW <= ts <= now + SKEW


def _admits(order: Order, trade: Trade) -> bool:
    """Could ``trade`` have filled ``order``: same market and side, in its lifetime, at its price."""
    if (trade.symbol, trade.side) != (order.symbol, order.side):
        return False
    if trade.ts < order.created_at - SKEW or (order.state.terminal and trade.ts > order.updated_at):
        return False
    limit = order.limit_price
    if limit is None:
        return True
    if order.side is Side.BUY:
        return trade.price <= limit * (1 + _SLACK)
    return trade.price >= limit * (1 - _SLACK)


def _close(value: Decimal, target: Decimal) -> bool:
    return abs(value - target) <= abs(target) * _SLACK
