"""CoinSpot's market list and tickers from its own price list (GET /pubapi/latest).

The response shape follows CoinSpot's public API documentation ("Latest Prices",
https://www.coinspot.com.au/api): {"status": "ok", "prices": {"btc": {"bid", "ask", "last"}}},
with prices as strings; the same sample appears in ccxt's coinspot.fetch_tickers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import ccxt
import pytest

from ledgers.clock import ManualClock
from ledgers.sources.base import SourceError
from ledgers.sources.catalyst import ListingsCollector
from ledgers.sources.coinspot import CoinSpotMarket
from tests.ledgers.fake_exchange import Call, FakeExchange

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

LATEST = {
    "status": "ok",
    "prices": {
        "btc": {"bid": "150000.10", "ask": "150120.00", "last": "150050.5"},
        "eth": {"bid": "5000", "ask": "5010", "last": "5005"},
        "dot": {"bid": "9.81", "ask": "9.90", "last": "9.85"},
        "link": {"bid": "28.1", "ask": "27.9", "last": "28.0"},  # crossed
        "newcoin": {"bid": "0", "ask": "0", "last": "0"},  # listed, never traded
        "btc_usdt": {"bid": "97000", "ask": "97100", "last": "97050"},
    },
}


class PriceListExchange(FakeExchange):
    def __init__(self, latest: Any = LATEST, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latest = latest
        self.errors: list[Exception] = []

    async def publicGetLatest(self, params: dict[str, Any] | None = None) -> Any:
        self.calls.append(Call("publicGetLatest", {}))
        if self.errors:
            raise self.errors.pop(0)
        return self.latest


def market(latest: Any = LATEST) -> tuple[CoinSpotMarket, PriceListExchange]:
    fake = PriceListExchange(latest)
    return CoinSpotMarket(exchange=fake, clock=ManualClock(NOW)), fake


async def test_every_coin_in_the_price_list_is_an_aud_instrument() -> None:
    source, _ = market()
    symbols = {i.symbol for i in await source.load_instruments()}
    assert {"DOT/AUD", "LINK/AUD", "NEWCOIN/AUD", "BTC/AUD", "ETH/AUD"} <= symbols
    assert "BTC_USDT/AUD" not in symbols  # other markets' keys are not coins
    assert all(i.venue == "coinspot" for i in await source.load_instruments())


async def test_ticks_come_from_one_price_list_call() -> None:
    source, fake = market()
    await source.load_instruments()
    calls = len(fake.calls)
    ticks = {
        t.symbol: t
        for t in await source.fetch_ticks(
            ["BTC/AUD", "DOT/AUD", "LINK/AUD", "NEWCOIN/AUD", "NOPE/AUD"]
        )
    }
    assert set(ticks) == {"BTC/AUD", "DOT/AUD", "LINK/AUD"}  # unlisted and never-traded left out
    btc = ticks["BTC/AUD"]
    assert (btc.bid, btc.ask, btc.last, btc.ts) == (150000.10, 150120.0, 150050.5, NOW)
    assert ticks["LINK/AUD"].bid is None and ticks["LINK/AUD"].last == 28.0  # crossed quote dropped
    assert [c.name for c in fake.calls[calls:]] == ["publicGetLatest"]


@pytest.mark.parametrize(
    "latest",
    [
        {"status": "error", "message": "maintenance"},
        "<html>502</html>",
        {"status": "ok", "prices": []},
        {"status": "ok"},
    ],
    ids=["status", "html", "prices-list", "missing-prices"],
)
async def test_bad_price_lists_are_source_errors(latest: Any) -> None:
    source, _ = market(latest)
    with pytest.raises(SourceError, match="coinspot latest prices: malformed"):
        await source.fetch_ticks(["BTC/AUD"])


async def test_network_trouble_is_transient() -> None:
    source, fake = market()
    await source.load_instruments()
    fake.errors.append(ccxt.RequestTimeout("timed out"))
    with pytest.raises(SourceError) as err:
        await source.fetch_ticks(["BTC/AUD"])
    assert err.value.transient


async def test_a_new_coin_in_the_price_list_is_a_listing() -> None:
    source, fake = market()
    listings = ListingsCollector(source.load_instruments)
    assert (await listings.collect(None, NOW)).catalysts == ()  # type: ignore[arg-type]  # first run is silent
    fake.latest = {
        "status": "ok",
        "prices": {**LATEST["prices"], "sui": {"bid": "5", "ask": "5.1", "last": "5.05"}},
    }
    events = (await listings.collect(None, NOW)).catalysts  # type: ignore[arg-type]
    assert [(e.type, e.currencies) for e in events] == [("listing", ("SUI",))]
