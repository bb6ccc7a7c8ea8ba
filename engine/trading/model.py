"""The trading domain: orders, fills, lots, positions and balances as plain typed objects.

Everything here is money and therefore ``Decimal``; every timestamp is aware UTC. The objects
are frozen: a state change makes a new version, which the store persists before it is acted on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class Origin(StrEnum):
    MANUAL = "manual"
    STRATEGY = "strategy"
    AGENT = "agent"


class OrderState(StrEnum):
    NEW = "new"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def working(self) -> bool:
        """Accepted and not finished: the order may still fill or be cancelled."""
        return self in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)


_TERMINAL = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED}
)
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.NEW: frozenset(
        {
            OrderState.OPEN,
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELLED,
            OrderState.REJECTED,
        }
    ),
    OrderState.OPEN: frozenset(
        {
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELLED,
            OrderState.EXPIRED,
        }
    ),
    OrderState.PARTIALLY_FILLED: frozenset(
        {
            OrderState.PARTIALLY_FILLED,
            OrderState.FILLED,
            OrderState.CANCELLED,
            OrderState.EXPIRED,
        }
    ),
    OrderState.FILLED: frozenset(),
    OrderState.CANCELLED: frozenset(),
    OrderState.REJECTED: frozenset(),
    OrderState.EXPIRED: frozenset(),
}


class InvalidTransition(Exception):
    """An order was asked to move to a state its state machine does not allow."""


class OrderInputError(ValueError):
    """An order request cannot be read (bad number, unknown side…); the message says why."""


def to_decimal(value: object, what: str) -> Decimal:
    """Read a user-supplied number exactly; floats go through ``str`` so 0.1 stays 0.1."""
    if isinstance(value, bool):
        raise OrderInputError(f"{what} must be a number, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip().replace("_", ""))
        except InvalidOperation:
            raise OrderInputError(f"{what} must be a number, got {value!r}") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise OrderInputError(f"{what} must be a number, got {value!r}")
    if not result.is_finite():
        raise OrderInputError(f"{what} must be a finite number, got {value!r}")
    return result


def split_symbol(symbol: str) -> tuple[str, str]:
    """ "BTC/AUD" → ("BTC", "AUD")."""
    base, _, quote = symbol.partition("/")
    if not base or not quote:
        raise OrderInputError(f"{symbol!r} is not a symbol; expected BASE/QUOTE such as BTC/AUD")
    return base, quote


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What someone asks for, before the risk guard and a broker have seen it."""

    symbol: str
    side: Side
    quantity: Decimal
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    origin: Origin = Origin.MANUAL
    client_id: str | None = None  # the idempotency key; one is made when absent
    strategy: str | None = None  # the deployment that placed it, for origin=strategy
    expires_at: datetime | None = None  # a limit order still resting then expires

    @classmethod
    def parse(
        cls,
        symbol: str,
        side: str,
        quantity: object,
        limit_price: object | None = None,
        *,
        origin: str = "manual",
        client_id: str | None = None,
        strategy: str | None = None,
        expires_at: datetime | None = None,
    ) -> OrderRequest:
        """Build a request from loose input (CLI, desk, JSON); bad input raises OrderInputError."""
        try:
            side_ = Side(str(side).strip().lower())
        except ValueError:
            raise OrderInputError(f"side must be buy or sell, got {side!r}") from None
        try:
            origin_ = Origin(origin)
        except ValueError:
            raise OrderInputError(f"unknown order origin {origin!r}") from None
        qty = to_decimal(quantity, "quantity")
        price = None if limit_price is None else to_decimal(limit_price, "limit price")
        split_symbol(symbol)
        if expires_at is not None:
            if price is None:
                raise OrderInputError("only a limit order can expire; a market order fills now")
            if expires_at.tzinfo is None:
                raise OrderInputError(f"expiry {expires_at} has no timezone")
        return cls(
            symbol=symbol,
            side=side_,
            quantity=qty,
            type=OrderType.MARKET if price is None else OrderType.LIMIT,
            limit_price=price,
            origin=origin_,
            client_id=client_id,
            strategy=strategy,
            expires_at=expires_at,
        )


@dataclass(frozen=True, slots=True)
class Order:
    """An order and its state; ``transition`` returns the next version."""

    client_id: str
    venue: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal  # base units
    limit_price: Decimal | None
    origin: Origin
    mode: str  # paper | live
    created_at: datetime
    updated_at: datetime
    state: OrderState = OrderState.NEW
    filled: Decimal = ZERO  # base units filled so far
    cost: Decimal = ZERO  # quote spent or received before fees: sum of price × quantity
    fees: Decimal = ZERO  # quote currency
    reason: str | None = None  # why it was rejected, cancelled or expired
    venue_order_id: str | None = None
    strategy: str | None = None
    expires_at: datetime | None = None  # good till then; None: good till cancelled

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote(self) -> str:
        return split_symbol(self.symbol)[1]

    @property
    def book(self) -> str:
        """The book it belongs to: its mode on its market (``paper:sim``, ``live:coinspot``)."""
        return f"{self.mode}:{self.venue}"

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None

    def transition(self, state: OrderState, at: datetime, *, reason: str | None = None) -> Order:
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"order {self.client_id}: {self.state} → {state} not allowed")
        return replace(self, state=state, updated_at=at, reason=reason or self.reason)

    def with_fill(self, fill: Fill) -> Order:
        """The order after one more fill: quantities, cost and fees grow, state follows."""
        if fill.client_id != self.client_id:
            raise ValueError(f"fill {fill.fill_id} belongs to order {fill.client_id}")
        filled = self.filled + fill.quantity
        if filled > self.quantity:
            raise ValueError(f"fill {fill.fill_id} overfills order {self.client_id}")
        state = OrderState.FILLED if filled == self.quantity else OrderState.PARTIALLY_FILLED
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"order {self.client_id}: {self.state} → {state} not allowed")
        return replace(
            self,
            state=state,
            filled=filled,
            cost=self.cost + fill.price * fill.quantity,
            fees=self.fees + fill.fee,
            updated_at=fill.ts,
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order. ``fee`` is in the quote currency."""

    fill_id: str  # unique; paper fills are "<client_id>:<n>"
    client_id: str
    venue: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str  # taker | maker
    ts: datetime
    slippage_bps: Decimal = ZERO  # adverse distance from the reference price, in basis points

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote(self) -> str:
        return split_symbol(self.symbol)[1]

    @property
    def gross(self) -> Decimal:
        return self.price * self.quantity

    @property
    def cash_delta(self) -> Decimal:
        """Change of quote cash: a buy pays gross plus fee, a sell receives gross less fee."""
        if self.side is Side.BUY:
            return -(self.gross + self.fee)
        return self.gross - self.fee


@dataclass(frozen=True, slots=True)
class Lot:
    """Holdings bought by one fill; ``cost`` is the remaining cost base including fees."""

    lot_id: str  # the acquiring fill's id
    asset: str
    quote: str
    acquired_at: datetime
    quantity: Decimal  # remaining
    cost: Decimal  # remaining cost base in quote, fees included

    @property
    def unit_cost(self) -> Decimal:
        return self.cost / self.quantity if self.quantity else ZERO


@dataclass(frozen=True, slots=True)
class Disposal:
    """A sale matched against (part of) one lot: the row a tax report is made of."""

    fill_id: str
    lot_id: str
    asset: str
    quote: str
    acquired_at: datetime
    disposed_at: datetime
    quantity: Decimal
    cost_base: Decimal  # fees of the acquisition included
    proceeds: Decimal  # net of the disposal's fees

    @property
    def gain(self) -> Decimal:
        return self.proceeds - self.cost_base


@dataclass(frozen=True, slots=True)
class Position:
    """One asset held, valued at a mark price when one is known."""

    symbol: str
    asset: str
    quote: str
    quantity: Decimal
    cost: Decimal  # cost base of the open lots, fees included
    realized: Decimal  # realized PnL of this symbol so far, fees included
    mark: Decimal | None = None

    @property
    def average_cost(self) -> Decimal:
        return self.cost / self.quantity if self.quantity else ZERO

    @property
    def market_value(self) -> Decimal | None:
        return None if self.mark is None else self.mark * self.quantity

    @property
    def unrealized(self) -> Decimal | None:
        value = self.market_value
        return None if value is None else value - self.cost


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    total: Decimal
    reserved: Decimal = ZERO  # held by working orders

    @property
    def available(self) -> Decimal:
        return self.total - self.reserved


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What a venue allows for one symbol, and what it charges."""

    symbol: str
    amount_step: Decimal | None = None  # quantity increment, e.g. 0.00000001
    price_step: Decimal | None = None
    min_amount: Decimal | None = None
    min_notional: Decimal | None = None  # in quote
    taker_fee: Decimal = Decimal("0.001")  # rate: 0.001 = 0.1 %
    maker_fee: Decimal = Decimal("0.001")

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote(self) -> str:
        return split_symbol(self.symbol)[1]


@dataclass(frozen=True, slots=True)
class Book:
    """Order-book levels in exact numbers: bids best-first descending, asks ascending."""

    symbol: str
    ts: datetime
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]

    @classmethod
    def from_levels(
        cls,
        symbol: str,
        ts: datetime,
        bids: tuple[tuple[float, float], ...] | list[tuple[float, float]],
        asks: tuple[tuple[float, float], ...] | list[tuple[float, float]],
    ) -> Book:
        """Market observations are floats; their shortest repr is the venue's number."""

        def exact(levels: object) -> tuple[tuple[Decimal, Decimal], ...]:
            return tuple((Decimal(repr(p)), Decimal(repr(q))) for p, q in levels)  # type: ignore[attr-defined]

        return cls(symbol, ts, exact(bids), exact(asks))

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2
        return self.best_bid or self.best_ask


@dataclass(frozen=True, slots=True)
class Execution:
    """What a broker did with an order: its newest version and the fills that made it."""

    order: Order
    fills: tuple[Fill, ...] = ()
