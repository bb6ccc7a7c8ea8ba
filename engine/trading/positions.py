"""A paper book read from the database: its positions (marked as an engine would mark them),
orders, fills and tax lots.

For a command when no engine owns the database: it needs none of its own (no market feed,
scheduler, collectors, write-behind or Lab) to show the book. The figures are the engine's:
the book's fills replayed in recorded order over its account, each position marked at the
newest quote of its symbol when the engine would have one. An engine started for a command
quotes the simulated market's watchlist at once, and asks a venue for nothing; so does this.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.holdings import InstrumentSteps, LotView, PositionView
from engine.trading.books import SIM_MARKET, book_id, state_key
from engine.trading.integrity import replay_what_holds
from engine.trading.model import OrderState
from engine.trading.portfolio import CostMethod, Portfolio
from engine.trading.store import TradingStore
from engine.trading.views import lot_view, position_view

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.events import FillEvent, OrderEvent
    from ledgers.database import Database


def _book(settings: Settings) -> tuple[str, str]:
    """(the market, the book) the settings trade."""
    market = SIM_MARKET if settings.sim.enabled else settings.market.venue
    return market, book_id(settings.trading.mode, market)


async def _portfolio(settings: Settings, store: TradingStore, book: str) -> Portfolio:
    t = settings.trading
    # The account is written once, when the book first opens (then with the starting cash).
    account = await store.get_state(state_key(book, "account"))
    if account is None:
        cash = {settings.market.quote: t.starting_cash}
    else:
        cash = {c: Decimal(v) for c, v in account.get("cash", {}).items()}
    portfolio, _ = replay_what_holds(await store.fills(book), cash, CostMethod(t.cost_method))
    return portfolio


async def read_positions(
    settings: Settings, db: Database
) -> tuple[list[PositionView], list[InstrumentSteps]]:
    """The open positions of the configured book, and the steps of their instruments."""
    market, book = _book(settings)
    portfolio = await _portfolio(settings, TradingStore(db), book)
    held = [p.symbol for p in portfolio.positions({})]
    marks: dict[str, Decimal] = {}
    steps: list[InstrumentSteps] = []
    if market == SIM_MARKET and held:
        marks, steps = await _simulated(settings, db, held)
    return [position_view(p) for p in portfolio.positions(marks)], steps


async def read_orders(
    settings: Settings, db: Database, *, open_only: bool = False, limit: int = 200
) -> list[OrderEvent]:
    """The book's orders, newest first, as ``EngineAPI.orders`` lists them."""
    from engine.trading.messages import order_event  # the events' module: not for positions

    states = [OrderState.OPEN, OrderState.PARTIALLY_FILLED] if open_only else None
    found = await TradingStore(db).orders(_book(settings)[1], states=states, limit=limit)
    return [order_event(o) for o in found]


async def read_fills(settings: Settings, db: Database, limit: int = 200) -> list[FillEvent]:
    """The book's newest fills first, as ``EngineAPI.fills`` lists them."""
    from engine.trading.messages import fill_event

    book = _book(settings)[1]
    found = await TradingStore(db).fills(book, limit=limit, newest_first=True)
    return [fill_event(f, book) for f in found]


async def read_lots(settings: Settings, db: Database) -> list[LotView]:
    """The book's open tax lots, as ``EngineAPI.lots`` lists them."""
    portfolio = await _portfolio(settings, TradingStore(db), _book(settings)[1])
    return [lot_view(lot, settings.trading.tax_timezone) for lot in portfolio.lots()]


async def read_steps(
    settings: Settings, db: Database, symbols: Iterable[str]
) -> list[InstrumentSteps]:
    """What the engine's market would know of these symbols' steps: the simulated market's
    (an engine started for a command asks a real venue for nothing)."""
    wanted = sorted(set(symbols))
    if _book(settings)[0] != SIM_MARKET or not wanted:
        return []
    return (await _simulated(settings, db, wanted))[1]


async def _simulated(
    settings: Settings, db: Database, symbols: Iterable[str]
) -> tuple[dict[str, Decimal], list[InstrumentSteps]]:
    """Marks and steps from the simulated market, at the time an engine's clock would show."""
    from engine.simtime import not_before_book, sim_clock
    from engine.trading.venue import exact, rules_from_instrument
    from ledgers.sources.sim import SimMarket

    s = settings
    clock = sim_clock(s.database_url(), s.sim.speed)
    await not_before_book(clock, db, SIM_MARKET)
    source = SimMarket(s.sim.seed, s.sim.symbols, s.market.quote, clock, s.sim.tick_seconds)
    instruments = {i.symbol: i for i in await source.load_instruments()}
    watched = [symbol for symbol in s.market.watchlist if symbol in instruments]
    newest = {tick.symbol: tick.last for tick in await source.fetch_ticks(watched)}
    marks = {}
    for symbol, last in newest.items():
        mark = exact(last)
        if mark is not None:
            marks[symbol] = mark
    steps = []
    for symbol in symbols:
        instrument = instruments.get(symbol)
        if instrument is None:
            continue
        rules = rules_from_instrument(
            instrument, taker_fee=s.trading.taker_fee, maker_fee=s.trading.maker_fee
        )
        steps.append(InstrumentSteps(symbol, rules.amount_step or None, rules.price_step or None))
    return marks, steps
