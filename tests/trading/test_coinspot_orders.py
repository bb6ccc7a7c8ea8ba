"""CoinSpot's v2 order endpoints through the ccxt subclass, offline.

The exchange is the real subclass; only its HTTP call (``fetch``) is replaced by ``Wire``, which
answers from tests/fixtures/coinspot_v2 (shapes and their provenance in SOURCE.md) and then does
what ccxt's own ``fetch`` does with a body: parse it, ``handle_errors``, then the HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from engine.trading.coinspot_orders import coinspot_exchange
from engine.trading.live import LiveBroker, build_exchange
from engine.trading.model import Order, OrderState, OrderType, Origin, Side
from ledgers.clock import ManualClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "coinspot_v2"
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
KEY, SECRET = "pk-LIVE-7f3a", "sk-LIVE-very-secret-91c2"
ROOT = "https://www.coinspot.com.au/api"
OPEN, BUY, SELL = "/v2/ro/my/orders/market/open", "/v2/my/buy", "/v2/my/sell"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class Wire:
    """CoinSpot's side of the HTTP call: an answer per path, every request body recorded."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange
        self.answers: dict[str, tuple[int, str]] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def answer(self, path: str, body: str, status: int = 200) -> None:
        self.answers[path] = (status, body)

    async def fetch(
        self, url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        assert url.startswith(ROOT) and method == "POST"
        assert headers["key"] == KEY and SECRET not in (body or "")
        path = url.removeprefix(ROOT)
        self.sent.append((path, json.loads(body)))
        status, text = self.answers[path]
        response = self.exchange.parse_json(text)
        self.exchange.handle_errors(status, "", url, method, {}, text, response, headers, body)
        self.exchange.handle_http_status_code(status, "", url, method, text)
        return response

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in b.items() if k != "nonce"} for p, b in self.sent if p == path]


@pytest.fixture
async def exchange() -> AsyncIterator[Any]:
    venue = coinspot_exchange(KEY, SECRET, 5000)
    venue.enableRateLimit = False  # ccxt would wait a second between calls
    try:
        yield venue
    finally:
        await venue.close()


@pytest.fixture
def wire(exchange: Any) -> Wire:
    wire = Wire(exchange)
    exchange.fetch = wire.fetch
    return wire


async def test_it_is_ccxts_coinspot_that_can_list_open_orders(exchange: Any) -> None:
    venue = build_exchange("coinspot", KEY, SECRET, timeout_ms=5000)
    try:
        assert isinstance(venue, ccxt_async.coinspot)
        assert type(venue) is type(exchange)
        assert (venue.enableRateLimit, venue.timeout) == (True, 5000)
        wanted = ("createOrder", "cancelOrder", "fetchOpenOrders", "fetchMyTrades", "fetchBalance")
        assert all(venue.has[key] is True for key in wanted)
        assert venue.has["createMarketOrder"] is False
        assert not any(secret in f"{venue!r} {venue}" for secret in (KEY, SECRET))
    finally:
        await venue.close()


async def test_open_orders_are_unified_with_the_venues_exact_numbers(
    exchange: Any, wire: Wire
) -> None:
    wire.answer(OPEN, fixture("my_open_market_orders.json"))

    orders = await exchange.fetch_open_orders()

    assert [(o["id"], o["symbol"], o["side"]) for o in orders] == [
        ("6650a20bd4f1c9e2b3a45678", "SHIB/AUD", "buy"),  # oldest first
        ("6650a2c1e8b3d4f5a6b7c8d9", "ETH/USDT", "sell"),
        ("6650a1f3c2e4b7d8a9f01234", "BTC/AUD", "buy"),
    ]
    shib = orders[0]
    assert (shib["amount"], shib["price"]) == ("1234567890.12345678", "0.00003712")
    assert Decimal(shib["amount"]) == Decimal("1234567890.12345678")  # a float keeps 17 digits
    assert (shib["type"], shib["status"], shib["filled"], shib["remaining"]) == (
        "limit",
        "open",
        None,  # CoinSpot does not say how much of an open order has filled
        None,
    )
    assert orders[2]["timestamp"] == int(
        datetime(2026, 11, 20, 9, 12, 3, 417000, UTC).timestamp() * 1000
    )
    assert orders[2]["datetime"] == "2026-11-20T09:12:03.417Z"
    assert shib["info"]["total"] == "45827.16008138"
    assert wire.bodies(OPEN) == [{}]


async def test_open_orders_of_one_symbol_are_asked_for_and_kept(exchange: Any, wire: Wire) -> None:
    wire.answer(OPEN, fixture("my_open_market_orders.json"))  # as if the venue did not filter

    orders = await exchange.fetch_open_orders("BTC/AUD")

    assert [o["id"] for o in orders] == ["6650a1f3c2e4b7d8a9f01234"]
    assert wire.bodies(OPEN) == [{"cointype": "BTC", "markettype": "AUD"}]


@pytest.mark.parametrize(
    ("side", "path", "answer", "venue_id"),
    [
        ("buy", BUY, "place_buy_order.json", "6650b3e1a7c4d2f9e0b1a2c3"),
        ("sell", SELL, "place_sell_order.json", "6650b40fc1d2e3f4a5b6c7d8"),
    ],
)
async def test_a_limit_order_is_placed_and_named_by_the_venue(
    exchange: Any, wire: Wire, side: str, path: str, answer: str, venue_id: str
) -> None:
    wire.answer(path, fixture(answer))
    sent = json.loads(fixture(answer))

    order = await exchange.create_order(
        "BTC/AUD", "limit", side, float(sent["amount"]), float(sent["rate"])
    )

    assert (order["id"], order["status"], order["side"], order["type"]) == (
        venue_id,
        "open",
        side,
        "limit",
    )
    assert (Decimal(order["amount"]), Decimal(order["price"])) == (
        Decimal(str(sent["amount"])),
        Decimal(str(sent["rate"])),
    )
    assert wire.bodies(path) == [
        {"cointype": "BTC", "amount": sent["amount"], "rate": sent["rate"], "markettype": "AUD"}
    ]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("BTC/AUD", "market", "buy", 0.01, None), "limit orders only"),
        (("BTC/AUD", "limit", "buy", 0.01, None), "needs a price"),
        (("BTC/AUD", "limit", "hold", 0.01, 150000.0), "buy or sell"),
        (("BTC/AUD", "limit", "buy", 0.123456789, 150000.0), "more than 8 decimal places"),
        (("BTC/AUD", "limit", "buy", -1.0, 150000.0), "not a positive number"),
    ],
)
async def test_an_order_coinspot_cannot_take_is_refused_before_sending(
    exchange: Any, wire: Wire, args: tuple[Any, ...], why: str
) -> None:
    with pytest.raises(ccxt.InvalidOrder, match=why):
        await exchange.create_order(*args)
    assert wire.sent == []


async def test_a_cancel_goes_to_the_sides_v2_endpoint(exchange: Any, wire: Wire) -> None:
    wire.answer("/v2/my/sell/cancel", fixture("cancel_order.json"))

    order = await exchange.cancel_order("6650b40fc1d2e3f4a5b6c7d8", "ETH/AUD", {"side": "sell"})

    assert (order["id"], order["status"]) == ("6650b40fc1d2e3f4a5b6c7d8", "canceled")
    assert wire.bodies("/v2/my/sell/cancel") == [{"id": "6650b40fc1d2e3f4a5b6c7d8"}]
    with pytest.raises(ccxt.ArgumentsRequired, match="side"):
        await exchange.cancel_order("6650b40fc1d2e3f4a5b6c7d8", "ETH/AUD")


@pytest.mark.parametrize(
    ("answer", "status", "error", "message"),
    [
        ("error_insufficient_funds.json", 200, ccxt.InsufficientFunds, "Insufficient funds"),
        ("error_invalid_amount.json", 200, ccxt.InvalidOrder, "Invalid amount"),
        ("error_coin_not_found.json", 400, ccxt.BadSymbol, "Coin not found"),
        (
            '{"status": "error", "message": "Something odd"}',
            400,
            ccxt.ExchangeError,
            "Something odd",
        ),
    ],
)
async def test_a_refusal_is_the_matching_ccxt_error_with_the_venues_words(
    exchange: Any, wire: Wire, answer: str, status: int, error: type[Exception], message: str
) -> None:
    wire.answer(BUY, fixture(answer) if answer.endswith(".json") else answer, status)

    with pytest.raises(error) as raised:
        await exchange.create_order("BTC/AUD", "limit", "buy", 0.01, 150000.0)

    assert type(raised.value) is error
    assert f'"message": "{message}"' in str(raised.value)
    assert SECRET not in str(raised.value)


def _open_answer(**order: Any) -> str:
    row = json.loads(fixture("my_open_market_orders_after_buy.json"))["buyorders"][0]
    row.update(order)
    return json.dumps({"status": "ok", "message": "ok", "buyorders": [row], "sellorders": []})


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (_open_answer(created=None), "buyorders[0] has no 'created'"),
        (_open_answer(created="yesterday"), "buyorders[0] 'created' 'yesterday' is not a time"),
        (_open_answer(amount="lots"), "buyorders[0] 'amount' is 'lots', not a positive number"),
        (_open_answer(rate=0), "buyorders[0] 'rate' is '0', not a positive number"),
        (_open_answer(id=None), "buyorders[0] has no 'id'"),
        (_open_answer(market=["BTC", "AUD"]), "buyorders[0] has an unreadable 'market'"),
        ('{"status": "ok", "message": "ok", "buyorders": []}', "'sellorders' is missing"),
        ('{"status": "ok", "buyorders": {}, "sellorders": []}', "'buyorders' is not a list"),
        ('{"status": "ok", "buyorders": [7], "sellorders": []}', "buyorders[0] is not an object"),
        ('{"buyorders": [], "sellorders": []}', "status is None, not 'ok'"),
        ("[]", "status is 'list', not 'ok'"),
    ],
)
async def test_a_malformed_open_order_list_is_a_bad_response(
    exchange: Any, wire: Wire, answer: str, says: str
) -> None:
    wire.answer(OPEN, answer)

    with pytest.raises(ccxt.BadResponse) as raised:
        await exchange.fetch_open_orders()

    assert str(raised.value) == f"coinspot v2 ro/my/orders/market/open: {says}"


@pytest.mark.parametrize(
    "answer",
    ['{"status": "ok", "message": "ok", "coin": "BTC"}', '{"status": "ok", "id": ""}', '"ok"'],
)
async def test_a_placement_answer_naming_no_order_is_a_bad_response(
    exchange: Any, wire: Wire, answer: str
) -> None:
    wire.answer(BUY, answer)

    with pytest.raises(ccxt.BadResponse, match="coinspot v2 my/buy: "):
        await exchange.create_order("BTC/AUD", "limit", "buy", 0.01, 150000.0)


async def test_the_live_broker_places_and_settles_an_order_through_v2(
    exchange: Any, wire: Wire
) -> None:
    clock = ManualClock(NOW)
    broker = LiveBroker(exchange, "coinspot", now=clock.now)  # its `has` check passes
    wire.answer(BUY, fixture("place_buy_order.json"))
    wire.answer(OPEN, fixture("my_open_market_orders_after_buy.json"))
    wire.answer("/ro/my/transactions", fixture("v1_ro_my_transactions_none.json"))
    wire.answer("/my/balances", fixture("v1_my_balances.json"))
    new = Order(
        client_id="o1",
        venue="coinspot",
        symbol="BTC/AUD",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=Decimal("150000"),
        origin=Origin.MANUAL,
        mode="live",
        created_at=NOW,
        updated_at=NOW,
    )

    placed = (await broker.submit(new)).order
    clock.advance(60)
    settled = await broker.reconcile([placed])

    assert (placed.state, placed.venue_order_id) == (OrderState.OPEN, "6650b3e1a7c4d2f9e0b1a2c3")
    assert (settled.executions, settled.unknown_orders) == ([], [])
    assert settled.balances["BTC"].total == Decimal("0.12345678")
    assert wire.bodies(BUY) == [
        {"cointype": "BTC", "amount": 0.01, "rate": 150000.0, "markettype": "AUD"}
    ]

    wire.answer(OPEN, fixture("my_open_market_orders_none.json"))
    wire.answer("/ro/my/transactions", fixture("v1_ro_my_transactions_filled.json"))
    clock.advance(60)
    [execution] = await broker.poll([placed])

    assert execution.order.state is OrderState.FILLED
    [fill] = execution.fills
    assert (fill.quantity, fill.price, fill.fee) == (
        Decimal("0.01"),
        Decimal("150000"),
        Decimal("1.50000000"),
    )
