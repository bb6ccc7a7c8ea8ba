"""An offline fake of a ccxt async exchange's private trading API, shaped like CoinSpot.

Answers follow the unified structures of the ccxt Manual (docs.ccxt.com, "Unified API"): the
"Order Structure" (create_order, cancel_order, fetch_open_orders), the "Trade Structure"
(fetch_my_trades) and the "Balance Structure" (fetch_balance), numbers as floats like ccxt's.
Failures are ccxt's own classes from the Manual's "Exception Hierarchy".

By default it behaves as ccxt 4.5's ``coinspot`` does where a broker depends on it: limit orders
only (a market order raises ExchangeError), ``cancel_order`` needs ``params={"side": ...}``, a
refusal arrives as a plain ExchangeError carrying the venue's {"status": "error"} JSON, trades are
rows of CoinSpot's /ro/my/transactions read by ccxt's own ``coinspot.parse_trade`` (no id, no
order id, no taker/maker, fee in AUD with GST), and balances report totals only. Where
ccxt's coinspot has gaps (no order id from create_order, no fetchOpenOrders) the fake offers what
CoinSpot's own v2 API does: the order id on placement and the list of open limit orders.
``CCXT_COINSPOT_HAS`` records what ccxt itself declares; ``LINKED_HAS`` with ``linked_trades=True``
makes a venue like most others (market orders, trades naming their order and liquidity).

    venue = FakeVenue(now=clock.now)
    venue.fail_next(ccxt.RequestTimeout("timed out"), method="create_order", after=True)
    venue.fill(venue_id, "0.004")                # the venue trades part of a resting order
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import ccxt

# What ccxt 4.5.90's coinspot class declares for the calls a broker makes (None: not implemented).
CCXT_COINSPOT_HAS: dict[str, Any] = {
    "createOrder": True,
    "createMarketOrder": False,
    "cancelOrder": True,
    "fetchOpenOrders": None,
    "fetchOrder": None,
    "fetchClosedOrders": None,
    "fetchMyTrades": True,
    "fetchBalance": True,
}
# CoinSpot as its v2 API serves it: open limit orders can be listed.
COINSPOT_HAS: dict[str, Any] = {**CCXT_COINSPOT_HAS, "fetchOpenOrders": True}
# A venue with market orders whose trades name their order (most ccxt venues).
LINKED_HAS: dict[str, Any] = {**COINSPOT_HAS, "createMarketOrder": True}


@dataclass(frozen=True)
class Call:
    """One call the fake received."""

    name: str
    args: dict[str, Any]


@dataclass
class _Scripted:
    method: str | None
    times: int
    error: BaseException
    after: bool  # do what was asked, then raise: the answer was lost on the way back


@dataclass
class _Order:
    id: str
    symbol: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None
    created: datetime
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    status: str = "open"
    trades: list[dict[str, Any]] = field(default_factory=list)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class FakeVenue:
    """Shaped like ``ccxt.async_support.coinspot`` with keys; every call is recorded in ``calls``."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        id: str = "coinspot",
        has: Mapping[str, Any] | None = None,
        linked_trades: bool = False,
        ids_on_create: bool = True,
        prices: Mapping[str, str] | None = None,
        fee_rate: str = "0.001",
        fee_in_base: bool = False,
        api_key: str = "key-0000",
        secret: str = "secret-0000",
    ) -> None:
        self.id = id
        self.has = {**COINSPOT_HAS, **(has or {})}
        self.apiKey = api_key
        self.secret = secret
        self.now = now
        self.linked_trades = linked_trades
        self.ids_on_create = ids_on_create
        self.prices = {symbol: Decimal(price) for symbol, price in (prices or {}).items()}
        self.fee_rate = Decimal(fee_rate)
        self.fee_in_base = fee_in_base
        self.orders: dict[str, _Order] = {}
        self.trades: list[dict[str, Any]] = []
        self.totals: dict[str, Decimal] = {}
        self.calls: list[Call] = []
        self.closed = False
        self._script: list[_Scripted] = []
        self._next_id = 1000

    # --- driving the fake -------------------------------------------------------------------

    def fail_next(
        self,
        error: BaseException,
        *,
        times: int = 1,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """Raise ``error`` on the next ``times`` calls (of ``method`` only, when given).

        ``after``: carry the call out first, as when the venue acted and the answer was lost.
        """
        self._script.append(_Scripted(method, times, error, after))

    def count(self, name: str) -> int:
        return sum(1 for call in self.calls if call.name == name)

    def set_balance(self, currency: str, total: str) -> None:
        self.totals[currency] = Decimal(total)

    def place_elsewhere(self, symbol: str, side: str, amount: str, price: str) -> str:
        """An order placed outside the app (CoinSpot's website, another program)."""
        return self._open(symbol, side, "limit", Decimal(amount), Decimal(price)).id

    def fill(self, venue_id: str, amount: str, price: str | None = None) -> dict[str, Any]:
        """The venue trades ``amount`` of an open order, at its limit price unless told."""
        order = self.orders[venue_id]
        if order.status != "open":
            raise ValueError(f"order {venue_id} is {order.status}")
        rate = Decimal(price) if price is not None else order.price
        if rate is None:
            raise ValueError("a market order needs a price to fill at")
        return self._trade(order, Decimal(amount), rate, "maker")

    def cancel_at_venue(self, venue_id: str) -> None:
        self.orders[venue_id].status = "canceled"

    def open_ids(self) -> list[str]:
        return [order.id for order in self.orders.values() if order.status == "open"]

    # --- the ccxt surface -------------------------------------------------------------------

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        args = {"symbol": symbol, "type": type, "side": side, "amount": amount, "price": price}
        after = self._enter("create_order", **args, params=params)
        if type == "market" and self.has.get("createMarketOrder") is False:
            raise ccxt.ExchangeError(f"{self.id} createOrder() allows limit orders only")
        limit = None if price is None else Decimal(repr(price))
        order = self._open(symbol, side, type, Decimal(repr(amount)), limit)
        if type == "market":
            self._trade(order, order.amount, self.prices[symbol], "taker")
        self._raise(after)
        if not self.ids_on_create:
            return self._structure_of_nothing(
                {"status": "ok"}
            )  # ccxt's coinspot: safe_order({'info'})
        return self._structure(order)

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        side = (params or {}).get("side")
        after = self._enter("cancel_order", id=id, symbol=symbol, side=side)
        if self.id == "coinspot" and side not in ("buy", "sell"):
            raise ccxt.ArgumentsRequired(
                f'{self.id} cancelOrder() requires a side parameter, "buy" or "sell"'
            )
        order = self.orders.get(id)
        if order is None or order.status != "open":
            if self.id == "coinspot":  # the venue's words are not documented; the shape is
                message = {"status": "error", "message": "Order not found"}
                raise ccxt.ExchangeError(f"{self.id} {json.dumps(message)}")
            raise ccxt.OrderNotFound(f"{self.id} order {id} not found")
        order.status = "canceled"
        self._raise(after)
        return self._structure_of_nothing({"status": "ok"})

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        self._raise(self._enter("fetch_open_orders", symbol=symbol))
        return [
            self._structure(order)
            for order in self.orders.values()
            if order.status == "open" and symbol in (None, order.symbol)
        ]

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        self._raise(self._enter("fetch_my_trades", symbol=symbol, since=since))
        start = None
        if since is not None:  # CoinSpot's startdate is a day (ccxt sends yyyymmdd)
            day = datetime.fromtimestamp(since / 1000, tz=UTC).date()
            start = _ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
        return [
            dict(trade)
            for trade in self.trades
            if symbol in (None, trade["symbol"]) and (start is None or trade["timestamp"] >= start)
        ]

    async def fetch_balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._raise(self._enter("fetch_balance"))
        result: dict[str, Any] = {"info": {}, "free": {}, "used": {}, "total": {}}
        for currency, total in self.totals.items():
            result[currency] = {"free": None, "used": None, "total": float(total)}
            result["free"][currency] = None
            result["used"][currency] = None
            result["total"][currency] = float(total)
        return result

    async def close(self) -> None:
        self.calls.append(Call("close", {}))
        self.closed = True

    # --- internals ---------------------------------------------------------------------------

    def _enter(self, name: str, **args: Any) -> BaseException | None:
        """Record the call; raise a scripted error now, or return one to raise after acting."""
        self.calls.append(Call(name, args))
        for scripted in self._script:
            if scripted.method in (None, name):
                scripted.times -= 1
                if scripted.times <= 0:
                    self._script.remove(scripted)
                if not scripted.after:
                    raise scripted.error
                return scripted.error
        return None

    @staticmethod
    def _raise(error: BaseException | None) -> None:
        if error is not None:
            raise error

    def _open(
        self, symbol: str, side: str, type: str, amount: Decimal, price: Decimal | None
    ) -> _Order:
        self._next_id += 1
        order = _Order(str(self._next_id), symbol, side, type, amount, price, self.now())
        self.orders[order.id] = order
        return order

    def _trade(
        self, order: _Order, amount: Decimal, price: Decimal, liquidity: str
    ) -> dict[str, Any]:
        if order.filled + amount > order.amount:
            raise ValueError(f"order {order.id} cannot fill {amount} more")
        base, quote = order.symbol.split("/")
        cost = amount * price
        fee = (amount if self.fee_in_base else cost) * self.fee_rate
        now = self.now()
        if self.linked_trades:
            fee_charge = {"cost": float(fee), "currency": base if self.fee_in_base else quote}
            trade: dict[str, Any] = {
                "info": {},
                "id": f"t{len(self.trades) + 1}",
                "order": order.id,
                "symbol": order.symbol,
                "timestamp": _ms(now),
                "datetime": now.isoformat(),
                "type": order.type,
                "side": order.side,
                "takerOrMaker": liquidity,
                "price": float(price),
                "amount": float(amount),
                "cost": float(cost),
                "fee": fee_charge,
                "fees": [fee_charge],
            }
        else:
            trade = _coinspot_trade(order, amount, cost, fee, now)
        self.trades.append(trade)
        order.trades.append(trade)
        order.filled += amount
        order.cost += cost
        if order.filled == order.amount:
            order.status = "closed"
        return trade

    def _structure(self, order: _Order) -> dict[str, Any]:
        stamp = _ms(order.created)
        return {
            "info": {},
            "id": order.id,
            "clientOrderId": None,
            "timestamp": stamp,
            "datetime": order.created.isoformat(),
            "lastTradeTimestamp": None,
            "status": order.status,
            "symbol": order.symbol,
            "type": order.type,
            "timeInForce": "GTC",
            "side": order.side,
            "price": _num(order.price),
            "average": _num(order.cost / order.filled) if order.filled else None,
            "amount": float(order.amount),
            "filled": float(order.filled),
            "remaining": float(order.amount - order.filled),
            "cost": float(order.cost),
            "trades": [dict(trade) for trade in order.trades],
            "fee": None,
        }

    @staticmethod
    def _structure_of_nothing(info: dict[str, Any]) -> dict[str, Any]:
        """What ccxt's safe_order makes of an answer that names no order."""
        keys = ("id", "clientOrderId", "timestamp", "status", "symbol", "type", "side", "price")
        return {"info": info, **dict.fromkeys(keys), "amount": None, "filled": None, "trades": []}


@cache
def _ccxt_coinspot() -> Any:
    return ccxt.coinspot()


def _coinspot_trade(
    order: _Order, amount: Decimal, cost: Decimal, fee: Decimal, when: datetime
) -> dict[str, Any]:
    """A row of CoinSpot's /ro/my/transactions as ccxt's own coinspot.parse_trade reads it.

    The row's fields are the ones ccxt's coinspot documents in fetch_my_trades; the fee is split
    into its GST-exclusive part and the GST (10 %) as CoinSpot reports it.
    """
    ex_gst = (fee / Decimal("1.1")).quantize(Decimal("0.00000001"))
    row = {
        "otc": False,
        "market": order.symbol,
        "amount": float(amount),
        "created": when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "audfeeExGst": float(ex_gst),
        "audGst": float(fee - ex_gst),
        "audtotal": float(cost),
        "total": float(cost),
        "side": order.side,
    }
    return dict(_ccxt_coinspot().parse_trade(row))
