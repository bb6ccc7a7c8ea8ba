"""CoinSpot through ccxt's ``coinspot`` class, with orders placed and listed by CoinSpot's v2 API.

ccxt's class posts v1 /my/buy|sell, whose answer names no order, and cannot list open orders.
Here ``create_order``, ``cancel_order`` and ``fetch_open_orders`` use the v2 endpoints ccxt
already declares (``v2PrivatePost…``, signed by ccxt's own ``sign``); ``fetch_my_trades`` and
``fetch_balance`` stay ccxt's. CoinSpot calls an order resting in its order book at a rate a
"market order": "Place Market Buy/Sell Order" (POST /api/v2/my/buy|sell) places one and
"My Open Market Orders" (POST /api/v2/ro/my/orders/market/open) lists them. "My Open Limit
Orders" (…/ro/my/orders/limit/open) is another list, of the website's conditional orders (type
"buy limit", "buy stop", "stop loss", "take profit"), which /my/buy never creates: open orders
are therefore read from the market list, since with the limit list every order placed here
would look gone, and so cancelled, at the next poll.

Shapes, from CoinSpot's API v2 document (https://www.coinspot.com.au/v2/api, read-only part
https://www.coinspot.com.au/api/v2/ro):

- Confirmed from a stored copy of that page's opening: an error is {"status": "error",
  "message": "Coin not found"}; times are UTC like "2020-05-21T13:22:45.000Z"; private calls are
  POSTs under https://www.coinspot.com.au/api/v2 (read-only under …/api/v2/ro); at most 1000
  requests a minute.
- Not read on CoinSpot's page itself (no copy of those sections was at hand); field names as
  several independent client libraries reproduce the document's examples:
  my/buy, my/sell: request cointype, amount, rate, markettype ("max precision 8 decimal places");
  answer {"status", "message", "coin", "market": "BTC/AUD", "amount", "rate", "id": "<string>"}.
  my/buy/cancel, my/sell/cancel: request {"id"}; answer {"status": "ok", "message": "ok"}.
  ro/my/orders/market/open: request cointype, markettype (both optional); answer {"status",
  "message", "buyorders": [...], "sellorders": [...]}, each {"id", "coin", "market": "BTC/AUD",
  "amount", "created", "rate", "total"}.
- Unknown: whether an open order's ``amount`` is what was placed or what is left after partial
  fills (so ``filled`` and ``remaining`` are None, not guessed); whether the list is paged; the
  venue's wording for refusals other than "Coin not found" (mapped below by keyword, anything
  else a plain ExchangeError quoting the venue).

Numbers in answers are read as the strings CoinSpot wrote (JSON floats are never made floats
here), so unified orders carry exact decimal strings. A missing or unreadable field is a
BadResponse naming it; a missing order list is never taken for an empty one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache, partial
from typing import Any

_SIDES = {"buyorders": "buy", "sellorders": "sell"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNSAID = ("clientOrderId", "lastTradeTimestamp", "average", "filled", "remaining", "cost", "fee")
_DECIMALS = 8  # the document's "max precision 8 decimal places" for amount and rate
# Words in the venue's message → ccxt error class, first match wins; only "Coin not found" is
# documented, the rest is keyword matching on wording CoinSpot does not publish.
_REFUSALS = (
    (("rate limit", "too many"), "RateLimitExceeded"),
    (("nonce",), "InvalidNonce"),
    (("api key", "invalid key", "signature", "not authori", "permission"), "AuthenticationError"),
    (("insufficient", "not enough"), "InsufficientFunds"),
    (("coin not found", "market not found", "invalid coin", "invalid market"), "BadSymbol"),
    (("order not found", "no such order"), "OrderNotFound"),
    (("amount", "rate", "price", "minimum", "maximum", "precision", "decimal"), "InvalidOrder"),
)


class _Malformed(ValueError):
    """An answer that does not have the documented shape."""


def coinspot_exchange(api_key: str, secret: str, timeout_ms: int = 10_000) -> Any:
    """A ccxt async CoinSpot exchange that places, cancels and lists orders through the v2 API."""
    config = {"apiKey": api_key, "secret": secret, "enableRateLimit": True, "timeout": timeout_ms}
    return _exchange_class()(config)


@cache
def _exchange_class() -> type:
    import ccxt.async_support as ccxt_async  # slow to import: only live trading needs it
    from ccxt.base import errors

    class CoinSpotV2(ccxt_async.coinspot):
        """ccxt's coinspot with v2 order placement, cancelling and open-order listing."""

        # Every JSON number stays the string the venue wrote; ccxt's parsers read strings.
        on_json_response = staticmethod(partial(json.loads, parse_float=str))

        def describe(self) -> Any:
            has = {"createOrder": True, "cancelOrder": True, "fetchOpenOrders": True}
            return self.deep_extend(
                super().describe(), {"has": {**has, "createMarketOrder": False}}
            )

        async def fetch_open_orders(
            self,
            symbol: str | None = None,
            since: int | None = None,
            limit: int | None = None,
            params: dict[str, Any] | None = None,
        ) -> list[dict[str, Any]]:
            pair = _pair(symbol) if symbol is not None else None
            request = {} if pair is None else {"cointype": pair[0], "markettype": pair[1]}
            answer = await self.v2PrivatePostRoMyOrdersMarketOpen({**request, **(params or {})})
            with _reading(self.id, "ro/my/orders/market/open"):
                orders = [
                    _open_order(row, side, f"{key}[{i}]")
                    for key, side in _SIDES.items()
                    for i, row in enumerate(_rows(self._checked(answer), key))
                ]
            orders = [
                order
                for order in sorted(orders, key=lambda o: (o["timestamp"], o["id"]))
                if symbol in (None, order["symbol"])
                and (since is None or order["timestamp"] >= since)
            ]
            return orders if limit is None else orders[:limit]

        async def create_order(
            self,
            symbol: str,
            type: str,
            side: str,
            amount: Any,
            price: Any = None,
            params: dict[str, Any] | None = None,
        ) -> dict[str, Any]:
            if type != "limit":
                raise errors.InvalidOrder(f"{self.id} takes limit orders only, not {type!r}")
            if side not in ("buy", "sell"):
                raise errors.InvalidOrder(f"{self.id} order side must be buy or sell, not {side!r}")
            if price is None:
                raise errors.InvalidOrder(f"{self.id} a limit order needs a price")
            coin, market = _pair(symbol)
            try:
                size, rate = _sendable(amount, "amount"), _sendable(price, "price")
            except _Malformed as exc:
                raise errors.InvalidOrder(f"{self.id} {exc}") from None
            request = {"cointype": coin, "amount": float(size), "rate": float(rate)}
            request = {**request, "markettype": market, **(params or {})}
            call = self.v2PrivatePostMyBuy if side == "buy" else self.v2PrivatePostMySell
            answer = await call(request)
            with _reading(self.id, f"my/{side}"):
                order_id = _text(self._checked(answer), "id", "the answer")
                size = _number(answer, "amount", "the answer", size)
                rate = _number(answer, "rate", "the answer", rate)
            return _order(answer, order_id, symbol, side, size, rate, None, "open")

        async def cancel_order(
            self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            rest = dict(params or {})
            side = rest.pop("side", None)
            if side not in ("buy", "sell"):
                raise errors.ArgumentsRequired(
                    f'{self.id} cancelOrder() requires a side parameter, "buy" or "sell"'
                )
            call = (
                self.v2PrivatePostMyBuyCancel if side == "buy" else self.v2PrivatePostMySellCancel
            )
            answer = await call({"id": str(id), **rest})
            with _reading(self.id, f"my/{side}/cancel"):
                self._checked(answer)
            return _order(answer, str(id), symbol, side, None, None, None, "canceled")

        def handle_errors(self, code: int, reason: str, *request: Any) -> None:
            response = request[4]  # after url, method, headers and body; ccxt's own order
            if isinstance(response, dict) and response.get("status") == "error":
                raise self._refusal(response)

        def _checked(self, answer: Any) -> dict[str, Any]:
            """The answer when its status is "ok"; the venue's refusal raised otherwise."""
            if isinstance(answer, dict) and answer.get("status") == "error":
                raise self._refusal(answer)
            if not isinstance(answer, dict) or answer.get("status") != "ok":
                found = answer.get("status") if isinstance(answer, dict) else type(answer).__name__
                raise _Malformed(f"status is {found!r}, not 'ok'")
            return answer

        def _refusal(self, answer: dict[str, Any]) -> Exception:
            message = answer.get("message")
            words = message.lower() if isinstance(message, str) else ""
            name = next((n for keys, n in _REFUSALS if any(k in words for k in keys)), None)
            error_class = getattr(errors, name) if name else errors.ExchangeError
            return error_class(f"{self.id} {json.dumps(answer)}")

    return CoinSpotV2


@contextmanager
def _reading(venue: str, path: str) -> Iterator[None]:
    """Turn a malformed answer into ccxt's BadResponse naming the endpoint and the field."""
    try:
        yield
    except _Malformed as exc:
        from ccxt.base.errors import BadResponse

        raise BadResponse(f"{venue} v2 {path}: {exc}") from None


def _pair(symbol: Any) -> tuple[str, str]:
    """("BTC", "AUD") for "BTC/AUD": CoinSpot's cointype and markettype."""
    base, _, quote = symbol.partition("/") if isinstance(symbol, str) else ("", "", "")
    if not base or not quote or "/" in quote:
        from ccxt.base.errors import BadSymbol

        raise BadSymbol(f"coinspot: {symbol!r} is not a symbol like BTC/AUD")
    return base, quote


def _rows(answer: dict[str, Any], key: str) -> list[Any]:
    rows = answer.get(key)
    if not isinstance(rows, list):
        raise _Malformed(f"{key!r} is {'missing' if rows is None else 'not a list'}")
    return rows


def _open_order(row: Any, side: str, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise _Malformed(f"{where} is not an object")
    coin, market = _text(row, "coin", where), _text(row, "market", where)
    symbol = market if "/" in market else f"{coin}/{market}"
    created = _text(row, "created", where)
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        raise _Malformed(f"{where} 'created' {created!r} is not a time") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when  # the document: all UTC
    amount, rate = _number(row, "amount", where), _number(row, "rate", where)
    return _order(row, _text(row, "id", where), symbol, side, amount, rate, when, "open")


def _order(
    info: Any,
    order_id: str,
    symbol: str | None,
    side: str,
    amount: str | None,
    price: str | None,
    when: datetime | None,
    status: str,
) -> dict[str, Any]:
    """A ccxt unified Order, numbers as exact strings; what CoinSpot does not say is None."""
    stamp = None if when is None else (when - _EPOCH) // timedelta(milliseconds=1)
    moment = None if when is None else when.astimezone(UTC).isoformat(timespec="milliseconds")
    return {
        **dict.fromkeys(_UNSAID),
        "info": info,
        "id": order_id,
        "timestamp": stamp,
        "datetime": None if moment is None else moment.replace("+00:00", "Z"),
        "status": status,
        "symbol": symbol,
        "type": "limit",
        "timeInForce": "GTC",
        "side": side,
        "price": price,
        "amount": amount,
        "trades": [],
    }


def _text(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and key == "id":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise _Malformed(f"{where} has {'no' if value is None else 'an unreadable'} {key!r}")
    return value


def _number(row: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    """A positive number as the venue wrote it; ``default`` (an echo of what was sent) when the
    answer leaves it out or garbles it, as a placed order's id matters more than its echo."""
    value = row.get(key)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = repr(value) if isinstance(value, float) else str(value)
        if _positive(text) is not None:
            return text
        why = f"{where} {key!r} is {text!r}, not a positive number"
    else:
        why = f"{where} has {'no' if value is None else 'an unreadable'} {key!r}"
    if default is None:
        raise _Malformed(why)
    return default


def _positive(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() and number > 0 else None


def _sendable(value: Any, what: str) -> str:
    """``value`` as the exact decimal a JSON number will carry, within CoinSpot's precision."""
    number = None
    if isinstance(value, int | float | str | Decimal) and not isinstance(value, bool):
        number = _positive(repr(value) if isinstance(value, float) else str(value))
    if number is None:
        raise _Malformed(f"the {what} {value!r} is not a positive number")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_DECIMALS:
        raise _Malformed(f"the {what} {number} has more than {_DECIMALS} decimal places")
    if Decimal(repr(float(number))) != number:
        raise _Malformed(f"the {what} {number} cannot be sent exactly as a JSON number")
    return str(number)
