"""CoinSpot's own price list as its market list and ticker source.

ccxt's CoinSpot class lists a fixed 17 pairs, so coins CoinSpot added since (DOT, LINK, AVAX,
…) would look unlisted and listings would never show up in a diff of the market list. The
public latest-prices endpoint (GET /pubapi/latest, ccxt's ``publicGetLatest``, rate-limited by
ccxt like any call) names every coin CoinSpot trades against AUD, with its bid, ask and last.
Order books still go through ccxt (CoinSpot serves them to keyed accounts only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ledgers.market import Instrument, Tick
from ledgers.sources.ccxt_market import CcxtMarket


class CoinSpotMarket(CcxtMarket):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("coinspot", **kwargs)
        self._ccxt_symbols: frozenset[str] = frozenset()

    async def load_instruments(self) -> list[Instrument]:
        """ccxt's markets (for the book) plus every coin in CoinSpot's price list, against AUD."""
        instruments = await super().load_instruments()
        self._ccxt_symbols = frozenset(i.symbol for i in instruments)
        known = set(self._ccxt_symbols)
        for coin in (await self._prices()).keys():
            symbol = f"{coin.upper()}/{self.quote}"
            if symbol not in known:
                known.add(symbol)
                instruments.append(Instrument("coinspot", symbol, coin.upper(), self.quote))
        self._symbols = frozenset(known)
        return instruments

    async def fetch_ticks(self, symbols: Sequence[str]) -> list[Tick]:
        """Every asked-for coin from one price-list call; unlisted or unusable ones left out."""
        known = await self._known_symbols()
        prices = await self._prices()
        now = self._clock.now()
        ticks = []
        for symbol in dict.fromkeys(symbols):
            base, _, quote = symbol.partition("/")
            row = prices.get(base.lower())
            if symbol not in known or quote != self.quote or row is None:
                continue
            last, bid, ask = _price(row.get("last")), _price(row.get("bid")), _price(row.get("ask"))
            if last is None:
                continue  # a coin with no trade yet has nothing to show
            if bid is not None and ask is not None and bid > ask:
                bid = ask = None  # a crossed quote is bad data, the last price still stands
            ticks.append(Tick("coinspot", symbol, now, last, bid, ask))
        return ticks

    async def _prices(self) -> Mapping[str, Mapping[str, Any]]:
        with self._failures("latest prices"):
            response = await self.exchange.publicGetLatest()
            if not isinstance(response, Mapping) or response.get("status") != "ok":
                raise ValueError(f"status is {_status(response)!r}, not 'ok'")
            prices = response["prices"]
            if not isinstance(prices, Mapping):
                raise TypeError("prices should be a mapping")
            # Keys such as "btc_usdt" are other markets; the plain coin ids are the AUD ones.
            return {
                coin: row
                for coin, row in prices.items()
                if isinstance(coin, str) and coin.isalnum() and isinstance(row, Mapping)
            }


def _price(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _status(response: Any) -> Any:
    return response.get("status") if isinstance(response, Mapping) else type(response).__name__
