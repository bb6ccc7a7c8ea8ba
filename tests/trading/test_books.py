"""One book per market: the simulated market and each venue's paper account never mix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.trading.books import book_label
from engine.trading.trader import Trader
from ledgers.database import Database
from ledgers.migrate import upgrade
from ledgers.types import Money, UTCDateTime
from tests.trading.test_trader import Market, buy, make_trader

D = Decimal
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


class VenueMarket(Market):
    venue = "coinspot"


@pytest.fixture
async def db(database: Database) -> Database:
    return database


@pytest.fixture
async def database_url_at_0003(db_url: str):  # type: ignore[no-untyped-def]
    """A database at the revision before books were separated."""
    db = Database(db_url)
    await upgrade(db.engine, "0003")
    try:
        yield db
    finally:
        await db.dispose()


async def test_the_simulated_market_and_a_venue_keep_separate_books(db: Database) -> None:
    sim = make_trader(db, Market(), [])
    await sim.open()
    result = await sim.place(buy("10"))
    assert result.fills
    venue = make_trader(db, VenueMarket(), [])
    await venue.open()  # the sim book's orders and fills are not this book's
    assert venue.book == "paper:coinspot" and sim.book == "paper:sim"
    assert venue.portfolio.cash["AUD"] == D("10000")
    assert venue.positions() == []
    assert await venue.store.orders(venue.book) == []
    assert (await venue.place(buy("1"))).fills
    # Both reopen with exactly their own history.
    again_sim, again_venue = make_trader(db, Market(), []), make_trader(db, VenueMarket(), [])
    await again_sim.open()
    await again_venue.open()
    assert again_sim.portfolio.holdings("BTC", "AUD") == D("10")
    assert again_venue.portfolio.holdings("BTC", "AUD") == D("1")
    assert sorted(await db_books(again_sim)) == ["paper:coinspot", "paper:sim"]


async def test_a_client_id_of_another_book_is_refused_not_misread(db: Database) -> None:
    sim = make_trader(db, Market(), [])
    await sim.open()
    await sim.place(buy("1", client_id="mine-1"))
    venue = make_trader(db, VenueMarket(), [])
    await venue.open()
    from engine.trading.model import OrderInputError

    with pytest.raises(OrderInputError, match="paper:sim book"):
        await venue.place(buy("1", client_id="mine-1"))


async def test_marks_and_day_start_are_per_book(db: Database) -> None:
    sim = make_trader(db, Market(), [])
    venue = make_trader(db, VenueMarket(), [])
    for trader in (sim, venue):
        await trader.open()
    await sim.place(buy("10"))
    await sim.record_mark()
    await venue.record_mark()
    assert len(await sim.store.marks("paper:sim")) == 1
    assert [e for _, e in await venue.store.marks("paper:coinspot")] == [D("10000")]


def test_book_labels_say_which_market() -> None:
    assert book_label("paper:sim") == "paper · simulated market"
    assert book_label("paper:coinspot") == "paper · coinspot"
    assert book_label("live:coinspot") == "LIVE · coinspot"


async def db_books(trader: Trader) -> list[str]:
    return await trader.store.books()


# -- an existing database migrates without losing a row ------------------------------------

_orders = sa.table(
    "orders",
    *(
        sa.column(c)
        for c in ("client_id", "venue", "symbol", "side", "type", "origin", "mode", "state")
    ),
    sa.column("quantity", Money()),
    sa.column("limit_price", Money()),
    sa.column("filled", Money()),
    sa.column("cost", Money()),
    sa.column("fees", Money()),
    sa.column("strategy"),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_fills = sa.table(
    "fills",
    *(sa.column(c) for c in ("fill_id", "client_id", "venue", "symbol", "side", "liquidity")),
    sa.column("quantity", Money()),
    sa.column("price", Money()),
    sa.column("fee", Money()),
    sa.column("slippage_bps", Money()),
    sa.column("ts", UTCDateTime()),
)
_decisions = sa.table(
    "risk_decisions",
    *(sa.column(c) for c in ("mode", "client_id", "symbol", "side", "origin", "allowed", "rule")),
    sa.column("message"),
    sa.column("quantity", Money()),
    sa.column("at", UTCDateTime()),
)
_marks = sa.table(
    "equity_marks",
    sa.column("mode"),
    sa.column("quote"),
    sa.column("ts", UTCDateTime()),
    *(sa.column(c, Money()) for c in ("equity", "cash", "market_value", "unrealized", "realized")),
)
_state = sa.table(
    "trading_state",
    sa.column("key"),
    sa.column("value", sa.JSON),
    sa.column("updated_at", UTCDateTime()),
)
_deployments = sa.table(
    "deployments",
    *(sa.column(c) for c in ("name", "strategy", "symbol", "timeframe", "backtest_id", "active")),
    sa.column("params", sa.JSON),
    sa.column("allocation", Money()),
    sa.column("deployed_at", UTCDateTime()),
)


def _order(client_id: str, venue: str, at: datetime, strategy: str | None = None) -> dict:
    return {
        "client_id": client_id,
        "venue": venue,
        "symbol": "BTC/AUD",
        "side": "buy",
        "type": "market",
        "origin": "strategy" if strategy else "manual",
        "mode": "paper",
        "state": "filled",
        "quantity": D("0.05"),
        "limit_price": None,
        "filled": D("0.05"),
        "cost": D("5000.025"),
        "fees": D("5.000025"),
        "strategy": strategy,
        "created_at": at,
        "updated_at": at,
    }


async def _fill_0003(db: Database) -> None:
    """The shape the soak left behind: sim and venue orders in one paper book."""
    t1, t2 = T0, T0 + timedelta(hours=2)
    async with db.engine.begin() as conn:
        await conn.execute(
            _orders.insert(),
            [_order("sim-1", "sim", t1, "ma_cross:BTC/AUD:1h"), _order("cs-1", "coinspot", t2)],
        )
        await conn.execute(
            _fills.insert(),
            [
                {
                    "fill_id": f"{cid}:0.05",
                    "client_id": cid,
                    "venue": venue,
                    "symbol": "BTC/AUD",
                    "side": "buy",
                    "liquidity": "taker",
                    "quantity": D("0.05"),
                    "price": D("100000.5"),
                    "fee": D("5.000025"),
                    "slippage_bps": D("1.25"),
                    "ts": at,
                }
                for cid, venue, at in (("sim-1", "sim", t1), ("cs-1", "coinspot", t2))
            ],
        )
        await conn.execute(
            _decisions.insert(),
            [
                {
                    "mode": "paper",
                    "client_id": cid,
                    "symbol": "BTC/AUD",
                    "side": "buy",
                    "origin": "manual",
                    "allowed": True,
                    "rule": "ok",
                    "message": "ok",
                    "quantity": D("0.5"),
                    "at": at,
                }
                for cid, at in (("sim-1", t1), ("cs-1", t2), (None, t2 + timedelta(minutes=1)))
            ],
        )
        await conn.execute(
            _marks.insert(),
            [
                {
                    "mode": "paper",
                    "quote": "AUD",
                    "ts": at,
                    "equity": D("10000"),
                    "cash": D("10000"),
                    "market_value": D("0"),
                    "unrealized": D("0"),
                    "realized": D("0"),
                }
                for at in (t1 + timedelta(minutes=1), t2 + timedelta(minutes=1))
            ],
        )
        await conn.execute(
            _state.insert(),
            [
                {"key": "kill_switch", "value": {"on": False}, "updated_at": t1},
                {
                    "key": "paper_account",
                    "value": {"cash": {"AUD": "10000"}, "opened": t1.isoformat()},
                    "updated_at": t1,
                },
                {
                    "key": "paper_day_start",
                    "value": {"date": "2026-11-20", "equity": "9999"},
                    "updated_at": t2,
                },
            ],
        )
        await conn.execute(
            _deployments.insert(),
            [
                {
                    "name": "ma_cross:BTC/AUD:1h",
                    "strategy": "ma_cross",
                    "symbol": "BTC/AUD",
                    "timeframe": "1h",
                    "backtest_id": None,
                    "active": True,
                    "params": {"fast": 2},
                    "allocation": D("1000"),
                    "deployed_at": t1,
                }
            ],
        )


async def _count(db: Database, table: str) -> int:
    async with db.engine.connect() as conn:
        return (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def test_a_shared_book_migrates_into_one_book_per_market_losing_no_row(
    database_url_at_0003: Database,
) -> None:
    db = database_url_at_0003
    await _fill_0003(db)
    before = {t: await _count(db, t) for t in _TABLES}
    await db.upgrade()
    assert {t: await _count(db, t) for t in _TABLES} == before
    async with db.engine.connect() as conn:
        orders = dict((await conn.execute(sa.text("SELECT client_id, book FROM orders"))).all())
        decisions = [
            r[0] for r in await conn.execute(sa.text("SELECT book FROM risk_decisions ORDER BY id"))
        ]
        marks = [
            r[0] for r in await conn.execute(sa.text("SELECT book FROM equity_marks ORDER BY ts"))
        ]
        deployments = [r[0] for r in await conn.execute(sa.text("SELECT book FROM deployments"))]
        keys = sorted(r[0] for r in await conn.execute(sa.text("SELECT key FROM trading_state")))
    assert orders == {"sim-1": "paper:sim", "cs-1": "paper:coinspot"}
    # A decision follows its order; one without an order goes to the book trading then.
    assert decisions == ["paper:sim", "paper:coinspot", "paper:coinspot"]
    assert marks == ["paper:sim", "paper:coinspot"]
    assert deployments == ["paper:sim"]
    assert keys == [
        "kill_switch",
        "paper:coinspot/account",
        "paper:coinspot/day_start",
        "paper:sim/account",
    ]
    # Both books now load, each with its own fill.
    for market in (Market(), VenueMarket()):
        trader = make_trader(db, market, [])
        await trader.open()
        assert trader.portfolio.holdings("BTC", "AUD") == D("0.05")
        assert trader.portfolio.cash["AUD"] == D("10000") - D("5000.025") - D("5.000025")


_TABLES = ("orders", "fills", "risk_decisions", "equity_marks", "deployments")


# -- the engine opens the book of the market it shows --------------------------------------


async def test_switching_the_engine_to_the_simulated_market_switches_the_book(
    db_url: str,
) -> None:
    from engine import config
    from engine.local import LocalEngine
    from ledgers.clock import ManualClock
    from ledgers.sources.ccxt_market import CcxtMarket
    from tests.conftest import FROZEN
    from tests.ledgers.fake_exchange import FakeExchange

    s = config.load(None, database={"url": db_url})
    s.sources.enabled = False
    clock = ManualClock(FROZEN)
    venue = CcxtMarket(exchange=FakeExchange(timestamp_ms=None), clock=clock)
    engine = LocalEngine(s, clock=clock, source=venue, schedule=False)
    await engine.start()
    try:
        await engine.wait_ready()
        before = await engine.trading()
        assert before.trading.book == f"paper:{venue.venue}"
        assert engine.snapshot().mode.book == f"paper:{venue.venue}"
        await engine.use_simulated_market()
        await engine.run_job("market.instruments")
        after = await engine.trading()
        assert after.trading.book == "paper:sim" and engine.snapshot().mode.book == "paper:sim"
        result = await engine.place_order("BTC/AUD", "buy", "0.001")
        assert result.accepted and result.order.book == "paper:sim", result.message
        store = engine.trading_host.store  # type: ignore[union-attr]
        assert await store.orders(f"paper:{venue.venue}") == []
        assert [o.client_id for o in await store.orders("paper:sim")] == [result.order.client_id]
    finally:
        await engine.stop()


async def test_after_switching_to_the_simulated_market_orders_are_stamped_on_its_clock(
    db_url: str,
) -> None:
    from datetime import datetime

    from engine import config
    from engine.local import LocalEngine
    from engine.simtime import remember
    from ledgers.clock import WallClock
    from ledgers.sources.ccxt_market import CcxtMarket
    from tests.ledgers.fake_exchange import FakeExchange

    s = config.load(None, database={"url": db_url})
    s.sources.enabled = False
    # The simulated market of this database had reached a month ahead of the wall clock.
    remember(s.database_url(), datetime.now(UTC) + timedelta(days=30))
    venue = CcxtMarket(exchange=FakeExchange(timestamp_ms=None), clock=WallClock())
    engine = LocalEngine(s, source=venue, schedule=False)
    await engine.start()
    try:
        await engine.wait_ready()
        await engine.trading()
        await engine.use_simulated_market()
        await engine.run_job("market.instruments")
        result = await engine.place_order("BTC/AUD", "buy", "0.001")
        assert result.accepted, result.message
        assert engine.now() - datetime.now(UTC) > timedelta(days=29)
        assert abs(result.order.created_at - engine.now()) < timedelta(minutes=10)
    finally:
        await engine.stop()


def test_an_order_row_is_written_whole() -> None:
    """The order upsert is built once from the table's columns: an order's values must name
    every one of them (bar its sequence), or an update would blank the missing column."""
    from engine.trading.store import _ORDERS, order_values
    from tests.trading.test_paper import order

    columns = {c.name for c in _ORDERS.c} - {"seq"}
    assert set(order_values(order("buy", "1", "100"))) == columns
