"""The live broker against an offline CoinSpot-shaped venue (tests/trading/fake_venue.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import ccxt
import pytest

from engine.trading.live import UNANSWERED, LiveBroker, LiveBrokerError, build_exchange
from engine.trading.model import Order, OrderState, OrderType, Origin, Side
from ledgers.clock import ManualClock
from tests.trading.fake_venue import CCXT_COINSPOT_HAS, LINKED_HAS, FakeVenue

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
KEY, SECRET = "pk-LIVE-7f3a", "sk-LIVE-very-secret-91c2"


def order(
    client_id: str = "o1",
    *,
    symbol: str = "BTC/AUD",
    side: Side = Side.BUY,
    quantity: str = "0.01",
    price: str | None = "150000",
    state: OrderState = OrderState.NEW,
    venue_order_id: str | None = None,
    created_at: datetime = NOW,
) -> Order:
    return Order(
        client_id=client_id,
        venue="coinspot",
        symbol=symbol,
        side=side,
        type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=None if price is None else Decimal(price),
        origin=Origin.MANUAL,
        mode="live",
        created_at=created_at,
        updated_at=created_at,
        state=state,
        venue_order_id=venue_order_id,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def venue(clock: ManualClock) -> FakeVenue:
    return FakeVenue(now=clock.now, api_key=KEY, secret=SECRET)


@pytest.fixture
def broker(venue: FakeVenue, clock: ManualClock) -> LiveBroker:
    return LiveBroker(venue, "coinspot", now=clock.now)


async def resting(
    broker: LiveBroker,
    clock: ManualClock,
    client_id: str = "o1",
    *,
    symbol: str = "BTC/AUD",
    price: str = "150000",
) -> Order:
    """An order placed through the broker and resting at the venue."""
    fresh = order(client_id, symbol=symbol, price=price, created_at=clock.now())
    placed = (await broker.submit(fresh)).order
    assert placed.state is OrderState.OPEN
    clock.advance(30)
    return placed


# --- submit -----------------------------------------------------------------------------------


async def test_a_limit_order_rests_open_with_its_venue_id(
    broker: LiveBroker, venue: FakeVenue
) -> None:
    execution = await broker.submit(order())

    assert execution.order.state is OrderState.OPEN
    assert execution.order.venue_order_id == venue.open_ids()[0]
    assert execution.fills == ()
    [call] = [c for c in venue.calls if c.name == "create_order"]
    assert call.args == {
        "symbol": "BTC/AUD",
        "type": "limit",
        "side": "buy",
        "amount": 0.01,
        "price": 150000.0,
        "params": None,
    }


async def test_an_answer_naming_no_order_is_matched_to_the_open_order(clock: ManualClock) -> None:
    venue = FakeVenue(now=clock.now, ids_on_create=False)  # what ccxt's coinspot answers today
    venue.place_elsewhere("BTC/AUD", "buy", "0.01", "149000")  # close, but another price

    execution = await LiveBroker(venue, "coinspot", now=clock.now).submit(order())

    assert execution.order.state is OrderState.OPEN
    assert execution.order.venue_order_id == venue.open_ids()[1]
    assert venue.count("create_order") == 1


async def test_a_market_order_fills_at_once_where_the_venue_takes_them(clock: ManualClock) -> None:
    venue = FakeVenue(
        now=clock.now,
        id="kraken",
        has=LINKED_HAS,
        linked_trades=True,
        prices={"BTC/AUD": "150010.5"},
        fee_rate="0.002",
        fee_in_base=True,
    )

    execution = await LiveBroker(venue, "kraken", now=clock.now).submit(order(price=None))

    assert execution.order.state is OrderState.FILLED
    [fill] = execution.fills
    assert fill.fill_id == "kraken:t1"
    assert (fill.quantity, fill.price, fill.liquidity) == (
        Decimal("0.01"),
        Decimal("150010.5"),
        "taker",
    )
    assert fill.fee == Decimal("0.00002") * Decimal("150010.5")  # base fee × price, in AUD
    assert execution.order.cost == Decimal("1500.105")
    assert execution.order.fees == fill.fee


async def test_coinspot_market_orders_are_rejected_before_anything_is_sent(
    broker: LiveBroker, venue: FakeVenue
) -> None:
    execution = await broker.submit(order(price=None))

    assert execution.order.state is OrderState.REJECTED
    assert "limit orders only" in (execution.order.reason or "")
    assert venue.count("create_order") == 0


async def test_a_quantity_a_float_cannot_carry_is_rejected_before_sending(
    broker: LiveBroker, venue: FakeVenue
) -> None:
    execution = await broker.submit(order(quantity="0.123456789012345678"))

    assert execution.order.state is OrderState.REJECTED
    assert "more digits" in (execution.order.reason or "")
    assert venue.count("create_order") == 0


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (ccxt.InsufficientFunds("coinspot balance too low"), "not enough funds"),
        (ccxt.InvalidOrder("coinspot amount too small"), "found the order invalid"),
        (ccxt.BadSymbol("coinspot does not have market symbol BTC/AUD"), "does not list"),
        (ccxt.AuthenticationError("coinspot invalid key"), "refused the API key"),
        (ccxt.PermissionDenied("coinspot key may not trade"), "refused the API key"),
        (ccxt.RateLimitExceeded("coinspot 429"), "limiting our request rate"),
        (ccxt.DDoSProtection("coinspot cloudflare"), "limiting our request rate"),
        (ccxt.OnMaintenance("coinspot maintenance"), "down for maintenance"),
        (
            ccxt.ExchangeError('coinspot {"status":"error","message":"Minimum order is $5"}'),
            "the venue refused (Minimum order is $5)",
        ),
    ],
)
async def test_a_refused_order_is_rejected_once_with_a_clear_reason(
    broker: LiveBroker, venue: FakeVenue, error: Exception, says: str
) -> None:
    venue.fail_next(error, method="create_order")

    execution = await broker.submit(order())

    assert execution.order.state is OrderState.REJECTED
    assert execution.order.reason is not None
    assert execution.order.reason.startswith("rejected: ")
    assert says in execution.order.reason
    assert venue.count("create_order") == 1
    assert venue.open_ids() == []


async def test_an_unavailable_venue_is_asked_before_the_order_is_called_not_placed(
    broker: LiveBroker, venue: FakeVenue
) -> None:
    venue.fail_next(ccxt.ExchangeNotAvailable("coinspot 503"), method="create_order")

    execution = await broker.submit(order())

    assert execution.order.state is OrderState.REJECTED
    assert (execution.order.reason or "").startswith("not placed: the venue was unavailable")
    assert venue.count("fetch_open_orders") == 1


async def test_a_timeout_after_the_venue_accepted_adopts_the_order_without_a_duplicate(
    broker: LiveBroker, venue: FakeVenue
) -> None:
    venue.fail_next(ccxt.RequestTimeout("coinspot timed out"), method="create_order", after=True)

    execution = await broker.submit(order())

    assert venue.count("create_order") == 1
    [venue_id] = venue.open_ids()
    assert execution.order.state is OrderState.OPEN
    assert execution.order.venue_order_id == venue_id
    assert execution.order.reason is None


async def test_a_timeout_after_a_market_order_filled_adopts_its_fills(clock: ManualClock) -> None:
    venue = FakeVenue(
        now=clock.now, id="kraken", has=LINKED_HAS, linked_trades=True, prices={"BTC/AUD": "150000"}
    )
    venue.fail_next(ccxt.NetworkError("connection reset"), method="create_order", after=True)

    execution = await LiveBroker(venue, "kraken", now=clock.now).submit(order(price=None))

    assert venue.count("create_order") == 1
    assert execution.order.state is OrderState.FILLED
    assert execution.order.venue_order_id == next(iter(venue.orders))
    assert [fill.fill_id for fill in execution.fills] == ["kraken:t1"]


async def test_a_timeout_before_the_venue_accepted_rejects_as_not_placed(
    broker: LiveBroker, venue: FakeVenue
) -> None:
    venue.fail_next(ccxt.RequestTimeout("coinspot timed out"), method="create_order")

    execution = await broker.submit(order())

    assert execution.order.state is OrderState.REJECTED
    assert (execution.order.reason or "").startswith("not placed: the request timed out")
    assert venue.count("create_order") == 1
    assert venue.orders == {}


async def test_an_order_of_another_local_order_is_never_adopted(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    first = await resting(broker, clock, "o1")
    venue.fail_next(ccxt.RequestTimeout("coinspot timed out"), method="create_order")

    twin = await broker.submit(order("o2", created_at=clock.now()))

    assert twin.order.state is OrderState.REJECTED
    assert twin.order.venue_order_id is None
    assert venue.open_ids() == [first.venue_order_id]


async def test_when_the_lookup_fails_the_order_stays_new_until_reconcile_settles_it(
    venue: FakeVenue, clock: ManualClock
) -> None:
    broker = LiveBroker(venue, "coinspot", now=clock.now, lookup_attempts=2)
    venue.fail_next(ccxt.RequestTimeout("coinspot timed out"), method="create_order", after=True)
    venue.fail_next(ccxt.NetworkError("coinspot down"), method="fetch_open_orders", times=2)

    doubtful = (await broker.submit(order())).order

    assert doubtful.state is OrderState.NEW
    assert doubtful.reason == UNANSWERED
    assert venue.count("fetch_open_orders") == 2
    assert venue.count("create_order") == 1

    [venue_id] = venue.open_ids()
    venue.fill(venue_id, "0.01")  # it traded while nobody was looking
    clock.advance(600)
    restarted = LiveBroker(venue, "coinspot", now=clock.now)
    [execution] = (await restarted.reconcile([doubtful])).executions

    assert execution.order.state is OrderState.FILLED
    assert execution.order.reason is None
    assert [fill.quantity for fill in execution.fills] == [Decimal("0.01")]
    assert venue.count("create_order") == 1


# --- reconcile --------------------------------------------------------------------------------


async def test_reconcile_reports_balances_exactly_and_orders_only_the_venue_knows(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    venue.set_balance("AUD", "1234.56")
    venue.set_balance("BTC", "0.1")
    mine = await resting(broker, clock)
    foreign = venue.place_elsewhere("ETH/AUD", "sell", "0.5", "5100.25")

    result = await LiveBroker(venue, "coinspot", now=clock.now).reconcile([mine])

    assert result.balances["AUD"].total == Decimal("1234.56")
    assert result.balances["BTC"].total == Decimal("0.1")
    assert result.balances["BTC"].reserved == Decimal(0)
    assert result.executions == []
    [unknown] = result.unknown_orders
    assert unknown["venue_order_id"] == foreign
    assert (unknown["symbol"], unknown["side"]) == ("ETH/AUD", "sell")
    assert (unknown["amount"], unknown["price"]) == (Decimal("0.5"), Decimal("5100.25"))


async def test_reconcile_brings_fills_and_venue_cancellations_home(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    partly = await resting(broker, clock, "o1")
    gone = await resting(broker, clock, "o2", symbol="ETH/AUD", price="5000")
    quiet = await resting(broker, clock, "o3", symbol="SOL/AUD", price="250")
    assert partly.venue_order_id and gone.venue_order_id
    venue.fill(partly.venue_order_id, "0.004")
    venue.cancel_at_venue(gone.venue_order_id)
    never_sent = order("o4", symbol="XRP/AUD", price="3.5", created_at=clock.now())

    result = await LiveBroker(venue, "coinspot", now=clock.now).reconcile(
        [partly, gone, quiet, never_sent]
    )

    by_id = {e.order.client_id: e for e in result.executions}
    assert set(by_id) == {"o1", "o2", "o4"}
    filled = by_id["o1"]
    assert filled.order.state is OrderState.PARTIALLY_FILLED
    [fill] = filled.fills
    assert fill.fill_id.startswith("coinspot:")
    assert (fill.quantity, fill.price, fill.fee) == (
        Decimal("0.004"),
        Decimal("150000"),
        Decimal("0.6"),  # CoinSpot's fee, in AUD
    )
    assert by_id["o2"].order.state is OrderState.CANCELLED
    assert by_id["o4"].order.state is OrderState.REJECTED
    assert (by_id["o4"].order.reason or "").startswith("not placed")
    assert result.unknown_orders == []


async def test_trades_of_a_finished_order_are_not_given_to_a_working_one(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    first = await resting(broker, clock, "o1")
    assert first.venue_order_id
    venue.fill(first.venue_order_id, "0.01")
    [done] = await broker.poll([first])
    assert done.order.state is OrderState.FILLED
    clock.advance(30)
    second = await resting(broker, clock, "o2")  # same market, side and price

    result = await LiveBroker(venue, "coinspot", now=clock.now).reconcile([done.order, second])

    assert result.executions == []


async def test_a_finished_order_takes_no_trade_made_after_it_finished(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    first = await resting(broker, clock, "o1")
    assert first.venue_order_id
    venue.fill(first.venue_order_id, "0.01")
    [done] = await broker.poll([first])
    clock.advance(3600)  # its trade is now older than anything a lookup for the next one asks for
    second = await resting(broker, clock, "o2")
    assert second.venue_order_id
    venue.fill(second.venue_order_id, "0.004")

    result = await LiveBroker(venue, "coinspot", now=clock.now).reconcile([done.order, second])

    [execution] = result.executions
    assert execution.order.client_id == "o2"
    assert [fill.quantity for fill in execution.fills] == [Decimal("0.004")]


# --- poll -------------------------------------------------------------------------------------


async def test_poll_reports_each_fill_once(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    placed = await resting(broker, clock)
    assert placed.venue_order_id
    assert await broker.poll([placed]) == []

    venue.fill(placed.venue_order_id, "0.004")
    [first] = await broker.poll([placed])
    assert first.order.state is OrderState.PARTIALLY_FILLED
    assert await broker.poll([first.order]) == []
    [again] = await broker.poll([placed])  # a caller that lost the first answer gets the same ids
    assert [f.fill_id for f in again.fills] == [f.fill_id for f in first.fills]

    clock.advance(60)
    venue.fill(placed.venue_order_id, "0.006", "149990")
    [second] = await broker.poll([first.order])
    assert second.order.state is OrderState.FILLED
    assert [f.quantity for f in second.fills] == [Decimal("0.006")]
    assert second.fills[0].fill_id != first.fills[0].fill_id
    assert second.order.cost == Decimal("600") + Decimal("899.94")


# --- cancel -----------------------------------------------------------------------------------


async def test_cancel_cancels_at_the_venue_with_the_side_coinspot_needs(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    placed = await resting(broker, clock)

    execution = await broker.cancel(placed, clock.now())

    assert execution.order.state is OrderState.CANCELLED
    [call] = [c for c in venue.calls if c.name == "cancel_order"]
    assert call.args["side"] == "buy"
    assert venue.open_ids() == []


async def test_cancelling_an_order_the_venue_filled_brings_it_back_filled(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    placed = await resting(broker, clock)
    assert placed.venue_order_id
    venue.fill(placed.venue_order_id, "0.01")

    execution = await broker.cancel(placed, clock.now())

    assert execution.order.state is OrderState.FILLED
    assert [fill.quantity for fill in execution.fills] == [Decimal("0.01")]


async def test_a_cancel_that_gets_no_answer_raises_and_leaves_the_order(
    broker: LiveBroker, venue: FakeVenue, clock: ManualClock
) -> None:
    placed = await resting(broker, clock)
    venue.fail_next(ccxt.RequestTimeout("coinspot timed out"), method="cancel_order")

    with pytest.raises(LiveBrokerError, match="cancel of order o1: the request timed out"):
        await broker.cancel(placed, clock.now())
    assert venue.open_ids() == [placed.venue_order_id]


# --- secrets and capabilities -----------------------------------------------------------------


async def test_secrets_never_reach_a_reason_a_message_or_a_repr(
    broker: LiveBroker, venue: FakeVenue
) -> None:
    venue.fail_next(ccxt.ExchangeError(f"coinspot refused key={KEY} sign={SECRET}"))
    rejected = await broker.submit(order())
    venue.fail_next(ccxt.AuthenticationError(f"coinspot bad key {KEY} / {SECRET}"))
    with pytest.raises(LiveBrokerError) as raised:
        await broker.balances()

    texts = [rejected.order.reason or "", str(raised.value), repr(broker), repr(rejected)]
    assert all(KEY not in text and SECRET not in text for text in texts)
    assert "***" in texts[0]
    assert raised.value.__cause__ is None


async def test_ccxts_own_coinspot_is_refused_and_ours_is_accepted() -> None:
    import ccxt.async_support as ccxt_async

    plain = ccxt_async.coinspot({"apiKey": KEY, "secret": SECRET})
    adapted = build_exchange("coinspot", KEY, SECRET, timeout_ms=5000)
    try:
        # ccxt's class cannot list open orders, so nothing could be reconciled through it.
        assert {key: plain.has.get(key) for key in CCXT_COINSPOT_HAS} == CCXT_COINSPOT_HAS
        with pytest.raises(LiveBrokerError, match="cannot list open orders") as raised:
            LiveBroker(plain, "coinspot", now=lambda: NOW)
        assert KEY not in str(raised.value) and SECRET not in str(raised.value)
        # build_exchange gives the v2 adapter, which can.
        assert (adapted.enableRateLimit, adapted.timeout) == (True, 5000)
        assert adapted.has["fetchOpenOrders"] is True
        LiveBroker(adapted, "coinspot", now=lambda: NOW)
    finally:
        await plain.close()
        await adapted.close()


def test_an_unknown_venue_is_refused_by_name() -> None:
    with pytest.raises(LiveBrokerError, match="no exchange called 'nowhere'"):
        build_exchange("nowhere", KEY, SECRET)
