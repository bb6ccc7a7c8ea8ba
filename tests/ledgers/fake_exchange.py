"""An offline, scriptable stand-in for a ccxt async exchange (CoinSpot-like by default).

Responses follow the unified structures of the ccxt Manual (docs.ccxt.com, "Unified API"):
"Market Structure" (load_markets), "Ticker Structure" (fetch_ticker/fetch_tickers), "Order Book
Structure" (fetch_order_book) and "OHLCV Structure" (fetch_ohlcv); failures are ccxt's own classes
from the Manual's "Error Handling" / "Exception Hierarchy" section.

    fake = FakeExchange()                        # BTC/AUD, ETH/AUD, SOL/AUD, ... priced in AUD
    fake.set_price("BTC/AUD", 140_000.0)
    fake.fail_next(ccxt.NetworkError("down"), times=3)
    fake.count("fetch_tickers")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ccxt

COINSPOT_PRICES: dict[str, float] = {
    "BTC/AUD": 150_000.0,
    "ETH/AUD": 5_000.0,
    "SOL/AUD": 250.0,
    "XRP/AUD": 3.5,
    "DOGE/AUD": 0.35,
    "ADA/AUD": 1.2,
    "LTC/AUD": 140.0,
    "USDT/AUD": 1.55,
}

# What ccxt's coinspot declares for the calls the market source makes.
COINSPOT_HAS: dict[str, Any] = {
    "fetchTicker": True,
    "fetchTickers": True,
    "fetchOrderBook": True,
    "fetchOHLCV": None,
}

GARBAGE = "<html><body>502 Bad Gateway</body></html>"


@dataclass(frozen=True)
class Call:
    """One call the fake received."""

    name: str
    args: dict[str, Any]


@dataclass
class _Scripted:
    method: str | None  # None: the next call of any method
    times: int
    error: BaseException | None = None
    garbage: Any = None


_UNSCRIPTED = object()


def market_structure(
    symbol: str,
    *,
    active: bool | None = True,
    price_precision: float | None = 0.01,
    amount_precision: float | None = 1e-8,
    min_amount: float | None = None,
) -> dict[str, Any]:
    """A spot market in ccxt's Market Structure (precision mode TICK_SIZE, like coinspot)."""
    base, quote = symbol.split("/")
    return {
        "id": base.lower(),
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "baseId": base.lower(),
        "quoteId": quote.lower(),
        "active": active,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "taker": None,
        "maker": None,
        "precision": {"amount": amount_precision, "price": price_precision},
        "limits": {
            "amount": {"min": min_amount, "max": None},
            "price": {"min": None, "max": None},
            "cost": {"min": None, "max": None},
        },
        "info": {},
    }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


class FakeExchange:
    """Shaped like ``ccxt.async_support.<venue>``; every call is recorded in ``calls``."""

    def __init__(
        self,
        prices: Mapping[str, float] | None = None,
        *,
        id: str = "coinspot",
        has: Mapping[str, Any] | None = None,
        timestamp_ms: int | None = None,
        rate_limit_ms: int = 1000,
    ) -> None:
        """List and price ``prices`` (COINSPOT_PRICES by default); ``has`` overrides COINSPOT_HAS.

        ``timestamp_ms`` stamps the tickers; None, like CoinSpot, whose tickers carry no time.
        """
        self.id = id
        self.has = {**COINSPOT_HAS, **(has or {})}
        self.rateLimit = rate_limit_ms
        self.enableRateLimit = True
        self.timestamp_ms = timestamp_ms
        self.markets: dict[str, dict[str, Any]] = {}
        self.symbols: list[str] = []
        self.calls: list[Call] = []
        self.closed = False
        self._tickers: dict[str, Any] = {}
        self._books: dict[str, dict[str, Any]] = {}
        self._ohlcv: dict[tuple[str, str], list[list[Any]]] = {}
        self._script: list[_Scripted] = []
        for symbol, price in (COINSPOT_PRICES if prices is None else prices).items():
            self.add_market(symbol)
            self.set_price(symbol, price)

    # --- driving the fake -------------------------------------------------------------------

    def add_market(self, symbol: str, **fields: Any) -> None:
        """List ``symbol``; keyword arguments go to ``market_structure``."""
        self.markets[symbol] = market_structure(symbol, **fields)
        self.symbols = sorted(self.markets)

    def delist(self, symbol: str) -> None:
        self.markets.pop(symbol, None)
        self._tickers.pop(symbol, None)
        self.symbols = sorted(self.markets)

    def set_price(
        self,
        symbol: str,
        last: float,
        *,
        bid: float | None = None,
        ask: float | None = None,
        open: float | None = None,
        percentage: float | None = None,
        base_volume: float | None = None,
        quote_volume: float | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Set a listed symbol's ticker; bid and ask default to 0.05% either side of ``last``."""
        if symbol not in self.markets:
            raise ValueError(f"{symbol} is not listed on the fake; add_market() it first")
        stamp = self.timestamp_ms if timestamp_ms is None else timestamp_ms
        self._tickers[symbol] = {
            "symbol": symbol,
            "info": {},
            "timestamp": stamp,
            "datetime": _iso(stamp),
            "high": None,
            "low": None,
            "bid": last * 0.9995 if bid is None else bid,
            "bidVolume": None,
            "ask": last * 1.0005 if ask is None else ask,
            "askVolume": None,
            "vwap": None,
            "open": open,
            "close": last,
            "last": last,
            "previousClose": None,
            "change": None if open is None else last - open,
            "percentage": percentage,
            "average": None,
            "baseVolume": base_volume,
            "quoteVolume": quote_volume,
        }

    def set_ticker(self, symbol: str, ticker: Any) -> None:
        """Store any object as ``symbol``'s ticker, e.g. a malformed one."""
        self._tickers[symbol] = ticker

    def set_book(
        self,
        symbol: str,
        bids: Sequence[Sequence[Any]],
        asks: Sequence[Sequence[Any]],
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        self._books[symbol] = {
            "bids": [list(level) for level in bids],
            "asks": [list(level) for level in asks],
            "timestamp": timestamp_ms,
        }

    def set_ohlcv(self, symbol: str, timeframe: str, rows: Iterable[Sequence[Any]]) -> None:
        """Store ``[ms, open, high, low, close, volume]`` rows, oldest first."""
        self._ohlcv[(symbol, timeframe)] = [list(row) for row in rows]

    def fail_next(self, error: BaseException, *, times: int = 1, method: str | None = None) -> None:
        """Raise ``error`` on the next ``times`` calls (of ``method`` only, when given)."""
        self._script.append(_Scripted(method, times, error=error))

    def garbage_next(
        self, value: Any = GARBAGE, *, times: int = 1, method: str | None = None
    ) -> None:
        """Answer the next ``times`` calls (of ``method`` only, when given) with ``value``."""
        self._script.append(_Scripted(method, times, garbage=value))

    def count(self, name: str) -> int:
        return sum(1 for call in self.calls if call.name == name)

    # --- the ccxt surface -------------------------------------------------------------------

    async def load_markets(self, reload: bool = False, params: dict[str, Any] | None = None) -> Any:
        if (scripted := self._enter("load_markets", reload=reload)) is not _UNSCRIPTED:
            return scripted
        return {symbol: self._copy(market) for symbol, market in self.markets.items()}

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        if (scripted := self._enter("fetch_tickers", symbols=symbols)) is not _UNSCRIPTED:
            return scripted
        return {
            symbol: self._copy(ticker)
            for symbol, ticker in self._tickers.items()
            if symbol in self.markets and (symbols is None or symbol in symbols)
        }

    async def fetch_ticker(self, symbol: str, params: dict[str, Any] | None = None) -> Any:
        if (scripted := self._enter("fetch_ticker", symbol=symbol)) is not _UNSCRIPTED:
            return scripted
        self._listed(symbol)
        return self._copy(self._tickers.get(symbol, {"symbol": symbol, "last": None}))

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        if (scripted := self._enter("fetch_order_book", symbol=symbol, limit=limit)) is not (
            _UNSCRIPTED
        ):
            return scripted
        self._listed(symbol)
        book = self._books.get(symbol) or self._default_book(symbol)
        return {
            "symbol": symbol,
            "bids": [list(level) for level in book["bids"][:limit]],
            "asks": [list(level) for level in book["asks"][:limit]],
            "timestamp": book["timestamp"],
            "datetime": _iso(book["timestamp"]),
            "nonce": None,
        }

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        args = {"symbol": symbol, "timeframe": timeframe, "since": since, "limit": limit}
        if (scripted := self._enter("fetch_ohlcv", **args)) is not _UNSCRIPTED:
            return scripted
        if self.has.get("fetchOHLCV") is not True:
            raise ccxt.NotSupported(f"{self.id} fetchOHLCV() is not supported yet")
        self._listed(symbol)
        rows = [
            row
            for row in self._ohlcv.get((symbol, timeframe), [])
            if since is None or row[0] >= since
        ]
        return [list(row) for row in rows[:limit]]

    async def close(self) -> None:
        self.calls.append(Call("close", {}))
        self.closed = True

    # --- internals ---------------------------------------------------------------------------

    def _enter(self, name: str, **args: Any) -> Any:
        """Record the call, then play the first scripted outcome that applies to it."""
        self.calls.append(Call(name, args))
        for scripted in self._script:
            if scripted.method in (None, name):
                scripted.times -= 1
                if scripted.times <= 0:
                    self._script.remove(scripted)
                if scripted.error is not None:
                    raise scripted.error
                return scripted.garbage
        return _UNSCRIPTED

    def _listed(self, symbol: str) -> None:
        if symbol not in self.markets:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")

    def _default_book(self, symbol: str) -> dict[str, Any]:
        """Fifty levels a side, 0.01% apart, around the last price."""
        ticker = self._tickers.get(symbol)
        last = ticker["last"] if isinstance(ticker, dict) and ticker.get("last") else 1.0
        return {
            "bids": [[last * (1 - 0.0001 * i), 0.5 * i] for i in range(1, 51)],
            "asks": [[last * (1 + 0.0001 * i), 0.5 * i] for i in range(1, 51)],
            "timestamp": self.timestamp_ms,
        }

    @staticmethod
    def _copy(structure: Any) -> Any:
        return dict(structure) if isinstance(structure, dict) else structure
