"""Market data from a ccxt exchange: CoinSpot first, any ccxt venue after.

ccxt is imported only where it is needed (building a real exchange, classifying an error):
importing it costs ~0.75 s and the desk's start-up budget is 0.5 s.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ledgers.clock import Clock, WallClock
from ledgers.market import BookSnapshot, Candle, Instrument, Tick, from_ms, utc
from ledgers.sources.base import SourceError, UnknownSymbolError

# Anything the mapping code trips over in a response that is not the documented unified structure.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


class CcxtMarket:
    """A MarketSource backed by a ccxt async exchange (injected, or built from ``venue``)."""

    simulated = False

    def __init__(
        self,
        venue: str = "coinspot",
        *,
        quote: str = "AUD",
        exchange: Any | None = None,
        clock: Clock | None = None,
        timeout_ms: int = 10_000,
        api_key: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.venue = venue
        self.quote = quote  # the desk's quote currency; settles markets that share a venue id
        self._clock = clock or WallClock()
        self._secrets = tuple(s for s in (api_key, secret) if s)
        self._owns_exchange = exchange is None
        if exchange is None:
            exchange = _build_exchange(venue, timeout_ms, api_key, secret)
        self.exchange = exchange
        self.has_ohlcv = self.exchange.has.get("fetchOHLCV") is True
        self._symbols: frozenset[str] | None = None

    async def load_instruments(self) -> list[Instrument]:
        """Every market the venue lists, reloaded from the venue."""
        with self._failures("load_markets"):
            markets = await self.exchange.load_markets(reload=True)
            if not isinstance(markets, Mapping):
                raise TypeError(f"markets should be a mapping, got {type(markets).__name__}")
            found = (self._instrument(market) for market in markets.values())
            instruments = [instrument for instrument in found if instrument is not None]
            self._settle_shared_market_ids()
        self._symbols = frozenset(instrument.symbol for instrument in instruments)
        return instruments

    async def fetch_ticks(self, symbols: Sequence[str]) -> list[Tick]:
        """Latest ticks of the listed ``symbols``; unlisted symbols and unusable tickers are left out."""
        known = await self._known_symbols()
        wanted = [symbol for symbol in dict.fromkeys(symbols) if symbol in known]
        if not wanted:
            return []
        tickers: list[tuple[str, Any]] = []
        if self.exchange.has.get("fetchTickers") is True:
            with self._failures("fetch_tickers"):
                batch = await self.exchange.fetch_tickers(wanted)
                if not isinstance(batch, Mapping):
                    raise TypeError(f"tickers should be a mapping, got {type(batch).__name__}")
            # Some venues (CoinSpot) answer with every market whatever was asked.
            tickers = [(symbol, batch.get(symbol)) for symbol in wanted]
        else:
            for symbol in wanted:
                try:
                    with self._failures("fetch_ticker", symbol):
                        tickers.append((symbol, await self.exchange.fetch_ticker(symbol)))
                except UnknownSymbolError:
                    continue  # delisted since the markets were loaded: left out like any unlisted one
        now = self._clock.now()
        ticks = (self._tick(symbol, ticker, now) for symbol, ticker in tickers)
        return [tick for tick in ticks if tick is not None]

    async def fetch_book(self, symbol: str, depth: int = 20) -> BookSnapshot:
        """An order-book snapshot of ``symbol``, at most ``depth`` levels a side."""
        await self._require_listed(symbol)
        with self._failures("fetch_order_book", symbol):
            book = await self.exchange.fetch_order_book(symbol, limit=depth)
            stamp = book.get("timestamp")
            return BookSnapshot(
                venue=self.venue,
                symbol=symbol,
                ts=self._clock.now() if stamp is None else from_ms(stamp),
                bids=_levels(book["bids"], depth),
                asks=_levels(book["asks"], depth),
            )

    async def fetch_candles(
        self, symbol: str, timeframe: str, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        """Bars of ``symbol`` from ``since``; only venues with an OHLCV endpoint serve them."""
        if not self.has_ohlcv:
            raise SourceError(
                f"{self.venue} serves no candles (no fetchOHLCV); they are built from ticks",
                transient=False,
            )
        await self._require_listed(symbol)
        since_ms = None if since is None else int(utc(since).timestamp() * 1000)
        with self._failures("fetch_ohlcv", symbol):
            rows = await self.exchange.fetch_ohlcv(symbol, timeframe, since_ms, limit)
            return [self._candle(symbol, timeframe, row) for row in rows]

    async def close(self) -> None:
        """Close the exchange's HTTP session if it was built here; an injected one is its owner's."""
        if self._owns_exchange:
            await self.exchange.close()

    async def _known_symbols(self) -> frozenset[str]:
        if self._symbols is None:
            self._symbols = frozenset(i.symbol for i in await self.load_instruments())
        return self._symbols

    async def _require_listed(self, symbol: str) -> None:
        if symbol not in await self._known_symbols():
            raise UnknownSymbolError(symbol, self.venue)

    def _instrument(self, market: Any) -> Instrument | None:
        if not isinstance(market, Mapping) or not isinstance(market.get("symbol"), str):
            return None
        symbol = market["symbol"]
        pair = symbol.split(":")[0].split("/")
        return Instrument(
            venue=self.venue,
            symbol=symbol,
            base=_text(market.get("base")) or pair[0],
            quote=_text(market.get("quote")) or pair[-1],
            active=market.get("active") is not False,  # ccxt's None means "not reported"
            price_precision=_number(_dig(market, "precision", "price")),
            amount_precision=_number(_dig(market, "precision", "amount")),
            min_amount=_number(_dig(market, "limits", "amount", "min")),
            taker_fee=_non_negative(market.get("taker")),
            maker_fee=_non_negative(market.get("maker")),
        )

    def _settle_shared_market_ids(self) -> None:
        """Keep one market per venue market id, the one quoted in the desk's quote currency.

        ccxt's coinspot lists BTC/AUD and BTC/USDT under the one id "btc" (EOS/AUD and A/AUD under
        "eos"), so its fetch_tickers raises ArgumentsRequired on every real response (ccxt 4.5).
        CoinSpot's price list is in AUD and keyed by coin, so the AUD market of that coin is right.
        """
        by_id = getattr(self.exchange, "markets_by_id", None)
        if not isinstance(by_id, dict):
            return
        for market_id, markets in by_id.items():
            if isinstance(markets, list) and len(markets) > 1:
                by_id[market_id] = [_preferred_market(str(market_id), markets, self.quote)]

    def _tick(self, symbol: str, ticker: Any, now: datetime) -> Tick | None:
        """The tick a unified ticker structure describes, or None when it cannot be trusted."""
        if not isinstance(ticker, Mapping):
            return None
        raw_last = ticker.get("last")
        last = _number(ticker.get("close") if raw_last is None else raw_last)
        if last is None or last <= 0:
            return None
        stamp = ticker.get("timestamp")
        if stamp is None:
            ts = now  # CoinSpot's tickers carry no time: they are as fresh as the poll
        else:
            stamp = _number(stamp)
            if stamp is None or stamp <= 0:
                return None
            try:
                ts = from_ms(stamp)
            except (OverflowError, OSError, ValueError):
                return None
        change = _number(ticker.get("percentage"))
        opened = _number(ticker.get("open"))
        if change is None and opened is not None and opened > 0:
            change = (last - opened) / opened * 100.0
        return Tick(
            venue=self.venue,
            symbol=symbol,
            ts=ts,
            last=last,
            bid=_positive(ticker.get("bid")),
            ask=_positive(ticker.get("ask")),
            base_volume=_non_negative(ticker.get("baseVolume")),
            quote_volume=_non_negative(ticker.get("quoteVolume")),
            change_pct=change,
        )

    def _candle(self, symbol: str, timeframe: str, row: Sequence[Any]) -> Candle:
        stamp, open_, high, low, close, volume = row
        return Candle(
            venue=self.venue,
            symbol=symbol,
            timeframe=timeframe,
            ts=from_ms(_finite(stamp)),
            open=_finite(open_),
            high=_finite(high),
            low=_finite(low),
            close=_finite(close),
            volume=0.0 if volume is None else _finite(volume),
        )

    @contextmanager
    def _failures(self, operation: str, symbol: str | None = None) -> Iterator[None]:
        """Turn whatever the exchange call or its response raises into a SourceError."""
        where = f"{self.venue} {operation}" + (f" {symbol}" if symbol else "")
        try:
            yield
        except SourceError:
            raise
        except _MALFORMED as exc:
            text = self._redact(f"{type(exc).__name__}: {exc}")
            raise SourceError(f"{where}: malformed response ({text})") from exc
        except Exception as exc:
            error = self._translate(exc, where, symbol)
            if error is None:
                raise
            # A message that held a credential must not travel on as the chained cause.
            leaks = any(secret in str(exc) for secret in self._secrets)
            raise error from (None if leaks else exc)

    def _translate(self, exc: Exception, where: str, symbol: str | None) -> SourceError | None:
        from ccxt.base import (
            errors,
        )  # lazy, see the module docstring; loaded already when ccxt raised

        if not isinstance(exc, errors.BaseError):
            return None
        text = self._redact(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, errors.BadSymbol):
            return UnknownSymbolError(symbol or "a requested symbol", self.venue)
        if isinstance(exc, errors.NetworkError):
            return SourceError(f"{where}: network trouble, retrying may help ({text})")
        if isinstance(exc, errors.AuthenticationError):  # PermissionDenied is one too
            return SourceError(f"{where}: credentials refused ({text})", transient=False)
        if isinstance(exc, errors.NotSupported):
            return SourceError(f"{where}: not supported by this venue ({text})", transient=False)
        if isinstance(exc, errors.BadResponse):
            return SourceError(f"{where}: malformed response ({text})")
        return SourceError(f"{where}: exchange error, treated as transient ({text})")

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _build_exchange(venue: str, timeout_ms: int, api_key: str | None, secret: str | None) -> Any:
    import ccxt.async_support as ccxt_async  # lazy, see the module docstring

    if venue not in ccxt_async.exchanges:
        raise SourceError(f"ccxt knows no exchange called {venue!r}", transient=False)
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": timeout_ms}
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    return getattr(ccxt_async, venue)(config)


def _preferred_market(market_id: str, markets: list[Any], quote: str) -> Any:
    def rank(market: Any) -> tuple[bool, bool]:
        fields = market if isinstance(market, Mapping) else {}
        other_quote = fields.get("quote") != quote
        other_coin = str(fields.get("base", "")).lower() != market_id.lower()
        return other_quote, other_coin

    return min(markets, key=rank)


def _levels(levels: Sequence[Any], depth: int) -> tuple[tuple[float, float], ...]:
    """``[price, amount, ...]`` book levels as ``(price, amount)`` pairs, ``depth`` at most."""
    return tuple((_finite(level[0]), _finite(level[1])) for level in levels[:depth])


def _dig(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (None, bools, strings, NaN, infinities)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _non_negative(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _finite(value: Any) -> float:
    """A number a response must hold; anything else is a malformed response (ValueError)."""
    number = _number(value)
    if number is None:
        raise ValueError(f"expected a finite number, got {value!r}")
    return number
