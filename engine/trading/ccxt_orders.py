"""Reading ccxt's answers for the live broker: orders, trades, balances, errors, numbers, times.

What CoinSpot's answers through ccxt 4.5 look like (read from its source), and how they are read:

- fetchMyTrades: trades with no id, no order id and no taker/maker, the fee in AUD with GST,
  price as total ÷ amount, ``since`` rounded down to the day. Trades before ``since`` are left
  out, and a trade without an id gets one from a digest of it, the same on every reading.
- Every {"status": "error"} answer is a plain ExchangeError; the venue's message is the reason.
- fetchBalance: totals only, nothing reported as reserved.

Numbers are read exactly (floats through their shortest repr), and no message made from an
error ever quotes the exchange's credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.trading.model import ZERO, Balance, Side, split_symbol

log = logging.getLogger(__name__)

_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)
_SECRETS = ("apiKey", "secret", "password", "uid", "privateKey")
_KEY = "the venue refused the API key: check in the vault that it is right, enabled and may trade"
_RATE = "the venue is limiting our request rate; nothing was done, try again shortly"
# ccxt's error classes, most specific first: what each means, and whether the venue surely did
# nothing (True) or may have acted before the answer was lost (False).
_MEANINGS = (
    ("AuthenticationError", _KEY, True),
    ("InsufficientFunds", "not enough funds at the venue for this order", True),
    ("BadSymbol", "the venue does not list this symbol", True),
    ("InvalidOrder", "the venue found the order invalid", True),
    ("RateLimitExceeded", _RATE, True),
    ("DDoSProtection", _RATE, True),
    ("OnMaintenance", "the venue is down for maintenance", True),
    ("InvalidNonce", "the venue refused the request's nonce; is the key used elsewhere?", True),
    ("RequestTimeout", "the request timed out", False),
    ("ExchangeNotAvailable", "the venue was unavailable", False),
    ("NetworkError", "the connection failed", False),
    ("BadResponse", "the venue's answer could not be read", False),
    ("ExchangeError", "the venue refused", True),
)


@dataclass(frozen=True, slots=True)
class VenueOrder:  # named as Reconciliation.unknown_orders reports it
    venue_order_id: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class Trade:
    id: str
    order_id: str | None
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal  # in the quote currency
    liquidity: str
    ts: datetime


def read_venue_order(raw: Any) -> VenueOrder:
    """A ccxt Order structure, exact."""
    return VenueOrder(
        str(raw["id"]),
        raw["symbol"],
        Side(raw["side"]),
        required_decimal(raw["amount"]),
        to_decimal(raw.get("price")),
        from_ms(raw.get("timestamp")),
    )


def read_trades(raws: Iterable[Any], since: datetime, venue: str) -> tuple[Trade, ...]:
    """ccxt's Trade structures from ``since`` on, exact, with ids and fees in the quote."""
    trades: list[Trade] = []
    repeats = Counter[str]()
    for raw in raws:
        amount, ts = required_decimal(raw["amount"]), from_ms(raw["timestamp"])
        if ts is None or ts < since:
            continue
        price = to_decimal(raw.get("price")) or required_decimal(raw["cost"]) / amount
        trade_id = raw.get("id")
        if trade_id is None:  # CoinSpot: the same trade always digests to the same id
            key = f"{raw['symbol']}|{raw['side']}|{raw['timestamp']}|{amount}|{price}"
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            repeats[digest] += 1
            trade_id = digest if repeats[digest] == 1 else f"{digest}-{repeats[digest]}"
        base, quote = split_symbol(raw["symbol"])
        fee = ZERO
        for charge in raw.get("fees") or ([raw["fee"]] if raw.get("fee") else []):
            currency = charge.get("currency")
            if currency in (None, quote, base):
                fee += required_decimal(charge["cost"]) * (price if currency == base else 1)
            else:  # e.g. an exchange token: it has no price here
                log.warning("%s trade %s: fee in %s left out", venue, trade_id, currency)
        order_id = raw.get("order")
        trades.append(
            Trade(
                str(trade_id),
                None if order_id is None else str(order_id),
                raw["symbol"],
                Side(raw["side"]),
                amount,
                price,
                fee,
                raw.get("takerOrMaker") or "taker",
                ts,
            )
        )
    return tuple(trades)


def read_balances(raw: Any) -> dict[str, Balance]:
    """A ccxt Balance structure: every currency with a total, exact; nothing used if not said."""
    used = raw.get("used") or {}
    totals = ((currency, to_decimal(total)) for currency, total in raw["total"].items())
    return {
        currency: Balance(currency, total, to_decimal(used.get(currency)) or ZERO)
        for currency, total in totals
        if total is not None
    }


def error_meaning(exc: Exception, exchange: Any) -> tuple[str, bool]:
    """What a failed call means, with the venue's own words; and whether it surely did nothing."""
    from ccxt.base import errors  # loaded already when ccxt raised

    for name, meaning, surely in _MEANINGS:
        if isinstance(exc, getattr(errors, name)):
            return (f"{meaning} ({venue_text(exc, exchange)})" if surely else meaning), surely
    if isinstance(exc, _MALFORMED):
        text = venue_text(exc, exchange)
        return f"the venue's answer could not be read ({type(exc).__name__}: {text})", False
    return f"the request failed ({type(exc).__name__}: {venue_text(exc, exchange)})", False


def venue_text(exc: Exception, exchange: Any) -> str:
    """The venue's own message when its JSON answer is quoted, else the error's text; redacted."""
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            message = json.loads(text[start:]).get("message")
        except (ValueError, AttributeError):
            message = None
        text = message if isinstance(message, str) and message else text
    return redact(text, exchange)[:200] or type(exc).__name__


def secrets_of(exchange: Any) -> list[str]:
    """The credentials the exchange holds, which no message may quote."""
    values = (getattr(exchange, name, None) for name in _SECRETS)
    return [value for value in values if isinstance(value, str) and value]


def redact(text: str, exchange: Any) -> str:
    for secret in secrets_of(exchange):
        text = text.replace(secret, "***")
    return text


def to_decimal(value: Any) -> Decimal | None:
    """An exact Decimal of a ccxt number: floats through their shortest repr, strings as written."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TypeError(f"expected a number, got {value!r}")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def required_decimal(value: Any) -> Decimal:
    number = to_decimal(value)
    if number is None:
        raise ValueError("a number the answer must hold is missing")
    return number


def from_ms(ms: Any) -> datetime | None:
    """A ccxt timestamp in milliseconds, as an aware UTC datetime."""
    return None if ms is None else datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
