"""CcxtMarket against the fake exchange, plus a few offline checks of ccxt's real coinspot."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pytest

from ledgers.clock import ManualClock
from ledgers.market import Candle, Instrument, from_ms
from ledgers.sources.base import MarketSource, SourceError, UnknownSymbolError
from ledgers.sources.ccxt_market import CcxtMarket
from tests.ledgers.fake_exchange import FakeExchange

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)
T0_MS = 1_740_830_400_000  # 2025-03-01T12:00:00Z


def market_on(fake: FakeExchange, **kwargs: Any) -> CcxtMarket:
    return CcxtMarket("coinspot", exchange=fake, clock=ManualClock(NOW), **kwargs)


# --- construction --------------------------------------------------------------------------


def test_importing_the_module_leaves_ccxt_unloaded() -> None:
    code = "import ledgers.sources.ccxt_market, sys; assert 'ccxt' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


async def test_real_coinspot_is_built_rate_limited_and_closed() -> None:
    market = CcxtMarket("coinspot", timeout_ms=7_000)
    try:
        assert isinstance(market, MarketSource)
        assert isinstance(market.exchange, ccxt.async_support.coinspot)
        assert market.exchange.enableRateLimit is True
        assert market.exchange.timeout == 7_000
        assert market.venue == "coinspot" and market.simulated is False
        assert market.has_ohlcv is False  # CoinSpot has no OHLCV endpoint
    finally:
        await market.close()


def test_an_unknown_venue_is_a_permanent_error_naming_it() -> None:
    with pytest.raises(SourceError, match="notavenue") as caught:
        CcxtMarket("notavenue")
    assert caught.value.transient is False


async def test_close_closes_only_an_exchange_built_here() -> None:
    fake = FakeExchange()
    await market_on(fake).close()
    assert fake.closed is False


# --- instruments -----------------------------------------------------------------------------


async def test_instruments_map_the_market_structure() -> None:
    fake = FakeExchange({"BTC/AUD": 150_000.0})
    fake.add_market("ETH/AUD", price_precision=0.5, amount_precision=0.001, min_amount=0.01)
    fake.add_market("OLD/AUD", active=False)
    fake.markets["ODD/AUD"] = {"symbol": "ODD/AUD", "precision": None, "limits": "?"}
    fake.markets["junk"] = "not a market"

    instruments = {i.symbol: i for i in await market_on(fake).load_instruments()}

    assert instruments["ETH/AUD"] == Instrument(
        "coinspot", "ETH/AUD", "ETH", "AUD", True, 0.5, 0.001, 0.01
    )
    assert instruments["OLD/AUD"].active is False
    assert instruments["ODD/AUD"] == Instrument("coinspot", "ODD/AUD", "ODD", "AUD")
    assert set(instruments) == {"BTC/AUD", "ETH/AUD", "OLD/AUD", "ODD/AUD"}
    assert fake.calls[0].args == {"reload": True}


# --- ticks -----------------------------------------------------------------------------------


async def test_a_coinspot_ticker_without_time_is_stamped_by_the_clock() -> None:
    fake = FakeExchange()
    fake.set_price("BTC/AUD", 140_000.0, bid=139_900.0, ask=140_100.0)

    [tick] = await market_on(fake).fetch_ticks(["BTC/AUD"])

    assert tick.venue == "coinspot" and tick.symbol == "BTC/AUD"
    assert tick.ts == NOW
    assert (tick.last, tick.bid, tick.ask) == (140_000.0, 139_900.0, 140_100.0)
    assert tick.base_volume is None and tick.change_pct is None


async def test_full_tickers_map_time_volumes_and_change() -> None:
    fake = FakeExchange({"ETH/AUD": 5_000.0, "SOL/AUD": 250.0})
    fake.set_price("ETH/AUD", 5_100.0, percentage=1.5, base_volume=20.0, quote_volume=1e5)
    fake.set_price("SOL/AUD", 275.0, open=250.0, timestamp_ms=T0_MS)

    ticks = {t.symbol: t for t in await market_on(fake).fetch_ticks(["ETH/AUD", "SOL/AUD"])}

    eth, sol = ticks["ETH/AUD"], ticks["SOL/AUD"]
    assert (eth.change_pct, eth.base_volume, eth.quote_volume) == (1.5, 20.0, 1e5)
    assert sol.ts == from_ms(T0_MS) and sol.ts.tzinfo is not None
    assert sol.change_pct == pytest.approx(10.0)  # computed from open, as none was given


async def test_last_falls_back_to_close() -> None:
    fake = FakeExchange({"XRP/AUD": 3.5})
    fake.set_ticker("XRP/AUD", {"symbol": "XRP/AUD", "last": None, "close": 3.4})

    [tick] = await market_on(fake).fetch_ticks(["XRP/AUD"])

    assert tick.last == 3.4 and tick.bid is None


async def test_unlisted_symbols_are_left_out_and_never_requested() -> None:
    fake = FakeExchange()

    ticks = await market_on(fake).fetch_ticks(["BTC/AUD", "NOPE/AUD", "ETH/AUD", "BTC/AUD"])

    assert [t.symbol for t in ticks] == ["BTC/AUD", "ETH/AUD"]
    [call] = [c for c in fake.calls if c.name == "fetch_tickers"]
    assert call.args["symbols"] == ["BTC/AUD", "ETH/AUD"]


async def test_only_unlisted_symbols_cost_no_ticker_call() -> None:
    fake = FakeExchange()

    assert await market_on(fake).fetch_ticks(["NOPE/AUD"]) == []
    assert fake.count("fetch_tickers") == 0


async def test_a_venue_answering_with_every_ticker_is_filtered_to_the_asked_ones() -> None:
    fake = FakeExchange()
    everything = await fake.fetch_tickers()
    fake.garbage_next(everything, method="fetch_tickers")  # CoinSpot ignores the symbols asked

    ticks = await market_on(fake).fetch_ticks(["SOL/AUD"])

    assert [t.symbol for t in ticks] == ["SOL/AUD"]


async def test_markets_are_loaded_once_on_first_use() -> None:
    fake = FakeExchange()
    market = market_on(fake)

    await market.fetch_ticks(["BTC/AUD"])
    await market.fetch_ticks(["BTC/AUD"])

    assert fake.count("load_markets") == 1
    assert fake.count("fetch_tickers") == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"symbol": "BTC/AUD", "last": None, "close": None},
        {"symbol": "BTC/AUD", "last": float("nan")},
        {"symbol": "BTC/AUD", "last": float("inf")},
        {"symbol": "BTC/AUD", "last": -5.0},
        {"symbol": "BTC/AUD", "last": 0},
        {"symbol": "BTC/AUD", "last": "140000"},
        {"symbol": "BTC/AUD", "last": True},
        {"symbol": "BTC/AUD", "last": 1.0, "timestamp": "yesterday"},
        {"symbol": "BTC/AUD", "last": 1.0, "timestamp": 1e30},
        "garbage",
        None,
    ],
)
async def test_an_unusable_ticker_is_skipped_and_the_rest_kept(bad: Any) -> None:
    fake = FakeExchange()
    fake.set_ticker("BTC/AUD", bad)

    ticks = await market_on(fake).fetch_ticks(["BTC/AUD", "ETH/AUD"])

    assert [t.symbol for t in ticks] == ["ETH/AUD"]


async def test_garbage_side_fields_become_none() -> None:
    fake = FakeExchange({"BTC/AUD": 1.0})
    fake.set_ticker(
        "BTC/AUD",
        {"last": 2.0, "bid": float("nan"), "ask": "x", "baseVolume": -1.0, "percentage": "up"},
    )

    [tick] = await market_on(fake).fetch_ticks(["BTC/AUD"])

    assert (tick.bid, tick.ask, tick.base_volume, tick.change_pct) == (None, None, None, None)


async def test_without_fetch_tickers_each_symbol_is_fetched_and_delisted_ones_left_out() -> None:
    fake = FakeExchange(has={"fetchTickers": False})
    market = market_on(fake)
    await market.load_instruments()
    fake.delist("ETH/AUD")  # after the markets were loaded: the venue now answers BadSymbol

    ticks = await market.fetch_ticks(["BTC/AUD", "ETH/AUD", "SOL/AUD"])

    assert [t.symbol for t in ticks] == ["BTC/AUD", "SOL/AUD"]
    assert fake.count("fetch_ticker") == 3 and fake.count("fetch_tickers") == 0


# --- books -----------------------------------------------------------------------------------


async def test_book_levels_are_mapped_and_cut_to_depth() -> None:
    fake = FakeExchange()
    fake.set_book(
        "BTC/AUD",
        bids=[[100.0, 1.0, "id-1"], [99.0, 2.0], [98.0, 3.0]],
        asks=[[101.0, 1.5], [102.0, 2.5], [103.0, 3.5]],
        timestamp_ms=T0_MS,
    )

    book = await market_on(fake).fetch_book("BTC/AUD", depth=2)

    assert book.bids == ((100.0, 1.0), (99.0, 2.0))
    assert book.asks == ((101.0, 1.5), (102.0, 2.5))
    assert book.ts == from_ms(T0_MS) and book.symbol == "BTC/AUD"
    assert fake.calls[-1].args["limit"] == 2


async def test_a_book_without_time_is_stamped_by_the_clock() -> None:
    book = await market_on(FakeExchange()).fetch_book("ETH/AUD")

    assert book.ts == NOW
    assert len(book.bids) == 20 and len(book.asks) == 20
    assert book.bids[0][0] > book.bids[1][0] and book.asks[0][0] < book.asks[1][0]


async def test_the_book_of_an_unlisted_symbol_is_unknown_without_asking_the_venue() -> None:
    fake = FakeExchange()

    with pytest.raises(UnknownSymbolError) as caught:
        await market_on(fake).fetch_book("NOPE/AUD")

    assert caught.value.symbol == "NOPE/AUD" and caught.value.transient is False
    assert fake.count("fetch_order_book") == 0


# --- candles ---------------------------------------------------------------------------------


async def test_candles_from_a_venue_with_ohlcv() -> None:
    fake = FakeExchange(has={"fetchOHLCV": True})
    fake.set_ohlcv(
        "BTC/AUD",
        "1m",
        [[T0_MS - 60_000, 1.0, 9.0, 0.5, 2.0, 3.0], [T0_MS, 2.0, 4.0, 1.5, 3.0, None]],
    )
    market = market_on(fake)

    candles = await market.fetch_candles("BTC/AUD", "1m", since=from_ms(T0_MS), limit=10)

    assert market.has_ohlcv is True
    assert candles == [Candle("coinspot", "BTC/AUD", "1m", from_ms(T0_MS), 2.0, 4.0, 1.5, 3.0, 0.0)]
    assert fake.calls[-1].args == {
        "symbol": "BTC/AUD",
        "timeframe": "1m",
        "since": T0_MS,
        "limit": 10,
    }


async def test_candles_from_a_venue_without_ohlcv_are_a_permanent_error() -> None:
    fake = FakeExchange()
    market = market_on(fake)

    with pytest.raises(SourceError, match="no candles") as caught:
        await market.fetch_candles("BTC/AUD", "1m")

    assert market.has_ohlcv is False and caught.value.transient is False
    assert fake.count("fetch_ohlcv") == 0


# --- errors ----------------------------------------------------------------------------------

ERRORS = [
    (ccxt.NetworkError("connection reset"), True),
    (ccxt.RequestTimeout("timed out"), True),
    (ccxt.ExchangeNotAvailable("maintenance"), True),
    (ccxt.DDoSProtection("cloudflare"), True),
    (ccxt.RateLimitExceeded("slow down"), True),
    (ccxt.InvalidNonce("nonce too small"), True),
    (ccxt.AuthenticationError("invalid key"), False),
    (ccxt.PermissionDenied("read-only key"), False),
    (ccxt.ExchangeError("something odd"), True),
    (ccxt.BadResponse("not json"), True),
]


@pytest.mark.parametrize(("error", "transient"), ERRORS, ids=lambda v: type(v).__name__)
async def test_ccxt_errors_become_source_errors(error: Exception, transient: bool) -> None:
    fake = FakeExchange()
    market = market_on(fake)
    await market.load_instruments()
    fake.fail_next(error, method="fetch_tickers")

    with pytest.raises(SourceError) as caught:
        await market.fetch_ticks(["BTC/AUD"])

    assert type(caught.value) is SourceError
    assert caught.value.transient is transient
    message = str(caught.value)
    assert "coinspot" in message and "fetch_tickers" in message and str(error) in message
    assert caught.value.__cause__ is error


async def test_an_exchange_error_says_it_is_treated_as_transient() -> None:
    fake = FakeExchange()
    fake.fail_next(ccxt.ExchangeError("odd"), method="fetch_order_book")

    with pytest.raises(SourceError, match="exchange error, treated as transient"):
        await market_on(fake).fetch_book("BTC/AUD")


async def test_a_network_error_while_loading_markets_is_transient() -> None:
    fake = FakeExchange()
    fake.fail_next(ccxt.RequestTimeout("timed out"), times=2)
    market = market_on(fake)

    for _ in range(2):
        with pytest.raises(SourceError, match="load_markets") as caught:
            await market.fetch_ticks(["BTC/AUD"])
        assert caught.value.transient is True
    assert [t.symbol for t in await market.fetch_ticks(["BTC/AUD"])] == ["BTC/AUD"]


async def test_bad_symbol_from_the_venue_is_an_unknown_symbol() -> None:
    fake = FakeExchange()
    market = market_on(fake)
    await market.load_instruments()
    fake.fail_next(ccxt.BadSymbol("no such market"), method="fetch_order_book")

    with pytest.raises(UnknownSymbolError) as caught:
        await market.fetch_book("BTC/AUD")

    assert caught.value.symbol == "BTC/AUD" and caught.value.transient is False


async def test_credentials_never_appear_in_messages_nor_their_cause() -> None:
    fake = FakeExchange()
    market = market_on(fake, api_key="KEY-1234", secret="SECRET-5678")
    fake.fail_next(ccxt.AuthenticationError("bad signature for KEY-1234 / SECRET-5678"))

    with pytest.raises(SourceError) as caught:
        await market.load_instruments()

    assert "KEY-1234" not in str(caught.value) and "SECRET-5678" not in str(caught.value)
    assert "***" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__ is True


@pytest.mark.parametrize(
    ("method", "garbage"),
    [
        ("load_markets", ["BTC/AUD"]),
        ("load_markets", None),
        ("fetch_tickers", "<html>502</html>"),
        ("fetch_tickers", [1, 2, 3]),
        ("fetch_order_book", "<html>502</html>"),
        ("fetch_order_book", {"bids": [[1.0, 2.0]]}),
        ("fetch_order_book", {"bids": [["x", 2.0]], "asks": []}),
        ("fetch_order_book", {"bids": [[1.0]], "asks": []}),
        ("fetch_order_book", {"bids": [], "asks": [], "timestamp": "noon"}),
        ("fetch_ohlcv", "<html>502</html>"),
        ("fetch_ohlcv", [[T0_MS, 1.0, 2.0]]),
        ("fetch_ohlcv", [[T0_MS, 1.0, 2.0, 0.5, None, 1.0]]),
        ("fetch_ohlcv", [["noon", 1.0, 2.0, 0.5, 1.5, 1.0]]),
    ],
)
async def test_malformed_responses_are_transient_source_errors(method: str, garbage: Any) -> None:
    fake = FakeExchange(has={"fetchOHLCV": True})
    market = market_on(fake)
    if method != "load_markets":
        await market.load_instruments()
    fake.garbage_next(garbage, method=method)

    with pytest.raises(SourceError, match="malformed response") as caught:
        if method == "fetch_order_book":
            await market.fetch_book("BTC/AUD")
        elif method == "fetch_ohlcv":
            await market.fetch_candles("BTC/AUD", "1m")
        elif method == "fetch_tickers":
            await market.fetch_ticks(["BTC/AUD"])
        else:
            await market.load_instruments()

    assert caught.value.transient is True and "coinspot" in str(caught.value)


# --- ccxt's real coinspot, offline ------------------------------------------------------------

LATEST = {
    "status": "ok",
    "prices": {
        "btc": {"bid": "139900", "ask": "140100", "last": "140000.5"},
        "eth": {"bid": "4990", "ask": "5010", "last": "5000"},
        "eos": {"bid": "1.1", "ask": "1.3", "last": "1.2"},
        "newcoin": {"bid": "1", "ask": "2", "last": "1.5"},
    },
}


async def test_real_coinspot_tickers_parse_despite_its_shared_market_ids() -> None:
    # ccxt's coinspot lists BTC/AUD and BTC/USDT under one id "btc": unsettled, its fetch_tickers
    # raises ArgumentsRequired on any real answer. The HTTP layer is replaced: no network.
    market = CcxtMarket("coinspot", clock=ManualClock(NOW))
    requests: list[str] = []

    async def answer(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        requests.append(url)
        return LATEST

    market.exchange.fetch = answer
    try:
        ticks = await market.fetch_ticks(["BTC/AUD", "ETH/AUD", "EOS/AUD", "SOL/AUD", "BTC/USDT"])
    finally:
        await market.close()

    assert {t.symbol: t.last for t in ticks} == {
        "BTC/AUD": 140000.5,
        "ETH/AUD": 5000.0,
        "EOS/AUD": 1.2,
    }
    assert all(t.ts == NOW for t in ticks)
    assert len(requests) == 1 and requests[0].endswith("/pubapi/latest")


async def test_real_coinspot_order_book_needs_credentials() -> None:
    # CoinSpot's order book is a private endpoint in ccxt: without keys it fails before any request.
    market = CcxtMarket("coinspot")

    async def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no request should be made")

    market.exchange.fetch = no_network
    try:
        with pytest.raises(SourceError, match="credentials refused") as caught:
            await market.fetch_book("BTC/AUD")
    finally:
        await market.close()
    assert caught.value.transient is False
