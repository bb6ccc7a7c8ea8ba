"""The trader: the one path from an order request to a broker, through the risk guard.

Every request, whatever placed it (the desk, the CLI, a strategy, an agent's proposal), is
checked by the guard and audited; an order's every transition is persisted before the engine
acts on it; fills move the portfolio only after they are stored.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from engine.events import Event, PortfolioEvent, TradingEvent
from engine.trading.books import book_id, state_key
from engine.trading.integrity import checkpoint, replay_what_holds
from engine.trading.messages import fill_event, order_event, risk_event
from engine.trading.model import (
    ZERO,
    Book,
    Execution,
    Fill,
    MarketRules,
    Order,
    OrderInputError,
    OrderRequest,
    OrderState,
    Position,
    Side,
    split_symbol,
)
from engine.trading.paper import PaperBroker
from engine.trading.portfolio import CostMethod, Mark, Portfolio
from engine.trading.risk import RiskContext, RiskDecision, RiskGuard, RiskLimits
from engine.trading.store import BookWriter, TradingStore
from engine.trading.venue import BookUnavailable, MarketAccess

log = logging.getLogger("omc.trading")

KILL_SWITCH = "kill_switch"
LIVE_ARMED = "live_armed"


class TradingError(Exception):
    """A trading command cannot be done; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order: Order
    decision: RiskDecision | None  # None for a repeated client id (nothing new was decided)
    fills: tuple[Fill, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.order.state not in (OrderState.REJECTED,)


class Trader:
    """One paper book (the simulated market's, or a venue's paper account): portfolio, resting
    orders, the risk guard and their persistence."""

    mode = "paper"
    needs_book = True  # paper fills walk the book
    sends_in_transaction = True  # a paper order executes inside the transaction that stores it

    def __init__(
        self,
        store: TradingStore,
        market: MarketAccess,
        publish: Callable[[Event], None],
        now: Callable[[], datetime],
        *,
        limits: RiskLimits | None = None,
        starting_cash: Decimal = Decimal("10000"),
        quote: str = "AUD",
        method: CostMethod = CostMethod.FIFO,
    ) -> None:
        self.store = store
        self.market = market
        self.publish = publish
        self.now = now
        self.guard = RiskGuard(limits or RiskLimits())
        self.quote = quote
        self.method = method
        self.starting_cash = starting_cash
        self.venue = market.venue  # the book's market, fixed for this trader's life
        self.book = book_id(self.mode, self.venue)
        self.broker = PaperBroker(self.venue, self._rules)
        self.portfolio = Portfolio({quote: starting_cash}, method)
        self.kill_switch = False
        self.armed = False
        self.day_start: tuple[str, Decimal] | None = None
        self._recent: deque[datetime] = deque(maxlen=1000)
        self._marks: dict[str, Decimal] = {}
        self._lock = asyncio.Lock()
        self.last_mark: Mark | None = None
        self.version = -1  # the book's sequence when this process last loaded or wrote it
        self.attention: str | None = None  # why the book cannot be replayed, if it cannot
        self._latest: datetime | None = None  # the book's newest fill

    # -- start-up ------------------------------------------------------------------------

    async def open(self) -> None:
        """Load the book: switches, the account's start, fills, working orders; settle leftovers.

        A book that cannot be replayed still opens: it takes no orders ("needs attention",
        with the reason) and shows what is consistent, so reads and ``omc book`` still work.
        """
        now = self.now()
        async with self._writing(load=False) as w:
            kill = await w.get_state(KILL_SWITCH)
            self.kill_switch = bool(kill and kill.get("on"))
            armed = await w.get_state(state_key(self.book, LIVE_ARMED))
            self.armed = bool(armed and armed.get("on"))
            account_key = state_key(self.book, "account")
            if await w.get_state(account_key) is None:
                opened = {"cash": {self.quote: str(self.starting_cash)}, "opened": now.isoformat()}
                await w.set_state(account_key, opened, now)
            await self._load(w)
            await self._settle_leftovers(w, now)
            day = await w.get_state(state_key(self.book, "day_start"))
            if day is not None:
                self.day_start = (day["date"], Decimal(day["equity"]))
        await self._after_open()
        if self.attention:
            log.error("the %s book needs attention: %s", self.book, self.attention)
        self.publish(self.trading_event())

    async def _load(self, w: BookWriter) -> None:
        """(Re)build the portfolio and working orders from what the book has stored."""
        account = await w.get_state(state_key(self.book, "account")) or {}
        cash = {c: Decimal(v) for c, v in account.get("cash", {}).items()}
        fills = await w.fills()
        self.portfolio, self.attention = replay_what_holds(fills, cash, self.method)
        self.broker = PaperBroker(self.venue, self._rules)
        self.broker.restore(await w.orders([OrderState.OPEN, OrderState.PARTIALLY_FILLED]))
        self._latest = max((f.ts for f in fills), default=None)

    async def _settle_leftovers(self, w: BookWriter, now: datetime) -> None:
        # An order still NEW was persisted but never reached the broker (the engine stopped
        # in between): it did not trade, and resending on its own could surprise the user.
        for order in await w.orders([OrderState.NEW]):
            settled = order.transition(
                OrderState.REJECTED, now, reason="not sent: the engine stopped before sending it"
            )
            await w.save_order(settled)

    async def _after_open(self) -> None:
        """What a book does once loaded, outside the lock (the live book asks its venue)."""

    @asynccontextmanager
    async def _writing(
        self, *, load: bool = True, order: str | None = None
    ) -> AsyncIterator[BookWriter]:
        """The book's transaction; if another process wrote to the book since this one last
        looked, the book is first loaded again from what is stored. ``order``: a client id
        to read with the lock (``TradingStore.writing``)."""
        committed = False
        writer: BookWriter | None = None
        try:
            async with self.store.writing(self.book, order=order) as writer:
                if load and writer.read_seq != self.version:
                    await self._load(writer)
                yield writer
            committed = True
        finally:
            # Whatever failed, memory may be ahead of the database: look again next time.
            self.version = writer.seq if committed and writer is not None else -1

    def _stamp(self) -> datetime:
        """Now, but never before the book's newest fill: time does not run back over a book."""
        now = self.now()
        return max(now, self._latest) if self._latest is not None else now

    # -- orders ----------------------------------------------------------------------------

    async def place(self, request: OrderRequest) -> PlaceResult:
        """Check, persist and execute one order; a refused one is stored as rejected."""
        async with self._lock:
            result, _ = await self._place(request)
            return result

    async def _place(self, request: OrderRequest) -> tuple[PlaceResult, Order | None]:
        client_id = request.client_id or new_client_id()
        if self.market.venue != self.venue:
            raise TradingError(
                f"the market is now {self.market.venue}; the {self.book} book takes no new orders"
            )
        rules = self._rules(request.symbol)
        book: Book | None = None
        book_error: str | None = None
        if rules is not None:  # fetched before the lock: a venue's book is a network call
            try:
                book = await self.market.book(request.symbol)
            except BookUnavailable as exc:
                book_error = str(exc)
        async with self._writing(order=client_id) as w:
            existing = await w.order(client_id)
            if existing is not None:
                if existing.book != self.book:
                    raise OrderInputError(
                        f"client id {client_id} is already used by an order of the "
                        f"{existing.book} book; choose another id"
                    )
                return PlaceResult(existing, None), None
            now = self._stamp()
            if request.expires_at is not None and request.expires_at <= now:
                raise OrderInputError(
                    f"expiry {request.expires_at.isoformat()} is already past "
                    f"(now {now.isoformat()})"
                )
            decision = self.guard.check(request, self._context(request, book, now))
            decision = replace(decision, client_id=client_id)
            if decision.allowed and self.attention:
                message = f"the book needs attention ({self.attention}); see omc book check"
                decision = replace(decision, allowed=False, rule="book_attention", message=message)
            checkpoint("decision")
            await w.record_decision(decision)
            order = self._order(request, client_id, now)
            if not decision.allowed or (book is None and self.needs_book):
                reason = decision.message if not decision.allowed else book_error or "no order book"
                rejected = order.transition(OrderState.REJECTED, now, reason=reason)
                await w.save_order(rejected)
                self.publish(risk_event(decision, reason))
                self.publish(order_event(rejected))
                return PlaceResult(rejected, decision), None
            self._recent.append(now)
            if not self.sends_in_transaction:
                await w.save_order(order)  # stored NEW before the venue is asked
                checkpoint("order")
                return PlaceResult(order, decision), order
            # A paper order is matched in this transaction: it is stored once, as executed.
            checkpoint("order")
            assert book is not None  # checked above for a book-walking broker
            execution = self.broker.submit(order, book, self._available, now)
            fills = await self._store(w, [execution], fresh=True)
            checkpoint("fills")
        self._announce([execution], fills)
        checkpoint("portfolio")
        return PlaceResult(execution.order, decision, tuple(fills)), None

    def _order(self, request: OrderRequest, client_id: str, now: datetime) -> Order:
        return Order(
            client_id=client_id,
            venue=self.venue,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            quantity=request.quantity,
            limit_price=request.limit_price,
            origin=request.origin,
            mode=self.mode,
            created_at=now,
            updated_at=now,
            strategy=request.strategy,
            expires_at=request.expires_at,
        )

    async def preview(self, request: OrderRequest) -> tuple[RiskDecision, Execution | None]:
        """The guard's verdict and the fill the book would give now; nothing is kept."""
        now = self.now()
        book: Book | None = None
        if self._rules(request.symbol) is not None:
            try:
                book = await self.market.book(request.symbol)
            except BookUnavailable:
                book = None
        decision = self.guard.check(request, self._context(request, book, now))
        if book is None:
            return decision, None
        order = self._order(request, "preview", now)
        if request.quantity <= 0:
            return decision, None
        scratch = PaperBroker(self.venue, self._rules)
        return decision, scratch.submit(order, book, self._available, now)

    async def _cancel_one(self, client_id: str, reason: str) -> Execution | None:
        return self.broker.cancel(client_id, self.now(), reason)

    def _due(self) -> list[Order]:
        now = self.now()
        return [o for o in self.working() if o.expires_at is not None and o.expires_at <= now]

    async def _expire_one(self, order: Order) -> Execution | None:
        return self.broker.expire(order.client_id, self.now())

    async def _cancel_every(self, reason: str) -> list[Execution]:
        return self.broker.cancel_all(self.now(), reason)

    def working(self, symbol: str | None = None) -> list[Order]:
        return self.broker.working(symbol)

    async def cancel(self, client_id: str, reason: str = "cancelled by user") -> Order:
        async with self._lock:
            async with self._writing() as w:
                execution = await self._cancel_one(client_id, reason)
                if execution is None:
                    order = await w.order(client_id)
                    if order is None or order.book != self.book:
                        raise TradingError(f"no order {client_id} in the {self.book} book")
                    raise TradingError(
                        f"order {client_id} is {order.state.value}; nothing to cancel"
                    )
                fills = await self._store(w, [execution])
            self._announce([execution], fills)
            return execution.order

    async def cancel_all(self, reason: str = "cancelled: cancel all") -> list[Order]:
        async with self._lock:
            async with self._writing() as w:
                executions = await self._cancel_every(reason)
                fills = await self._store(w, executions)
            self._announce(executions, fills)
            return [e.order for e in executions]

    async def set_kill_switch(
        self, on: bool, *, cancel_all: bool = False, reason: str = ""
    ) -> None:
        """The kill switch halts every new order, survives restarts, and may cancel all."""
        now = self.now()
        await self.store.set_state(
            KILL_SWITCH, {"on": on, "at": now.isoformat(), "reason": reason}, now
        )
        self.kill_switch = on
        log.warning("kill switch %s%s", "ON" if on else "off", f": {reason}" if reason else "")
        self.publish(self.trading_event(reason or None))
        if on and cancel_all:
            await self.cancel_all("cancelled by the kill switch")

    async def check_orders(self) -> int:
        """Fill resting limit orders the market has crossed, expire those whose time ran out
        (the ``trading.orders`` job)."""
        async with self._lock:
            books: list[Book] = []
            for symbol in sorted({o.symbol for o in self.broker.working()}):
                if not self._may_cross(symbol):
                    continue
                try:  # fetched before the lock: a venue's book is a network call
                    books.append(await self.market.book(symbol))
                except BookUnavailable as exc:
                    log.warning("resting orders on %s not checked: %s", symbol, exc)
            async with self._writing() as w:
                executions = [e for o in self._due() if (e := await self._expire_one(o))]
                for book in books:
                    executions.extend(self.broker.on_book(book, self.now()))
                fills = await self._store(w, executions)
            self._announce(executions, fills)
        if self.portfolio.symbols:
            # Positions follow the quotes between the mark job's recorded marks.
            self.publish(self.portfolio_event())
        return len(executions)

    def _may_cross(self, symbol: str) -> bool:
        quote = self.market.quote(symbol)
        if quote is None:
            return True  # no quote to rule it out: look at the book
        for order in self.broker.working(symbol):
            price = order.limit_price
            if price is None:
                return True
            if order.side is Side.BUY and (quote.ask is None or quote.ask <= price):
                return True
            if order.side is Side.SELL and (quote.bid is None or quote.bid >= price):
                return True
        return False

    async def _store(
        self, w: BookWriter, executions: Sequence[Execution], *, fresh: bool = False
    ) -> list[Fill]:
        """Write executions in the book's transaction and move the portfolio by the new fills
        (``fresh``: see ``BookWriter.save_executions``)."""
        if not executions:
            return []
        new = await w.save_executions(executions, fresh=fresh)
        for fill in new:
            self.portfolio.apply(fill)
            self._latest = max(self._latest, fill.ts) if self._latest else fill.ts
        return new

    def _announce(self, executions: Sequence[Execution], fills: Sequence[Fill]) -> None:
        for execution in executions:
            self.publish(order_event(execution.order))
        for fill in fills:
            self.publish(fill_event(fill, self.book))
        if fills:
            self.publish(self.portfolio_event())

    # -- marks -----------------------------------------------------------------------------

    def marks(self) -> dict[str, Decimal]:
        for symbol in self.portfolio.symbols:
            quote = self.market.quote(symbol)
            if quote is not None and quote.last is not None:
                self._marks[symbol] = quote.last
        return self._marks

    def mark_now(self) -> Mark:
        self.last_mark = self.portfolio.mark(self.marks(), self.quote)
        return self.last_mark

    async def record_mark(self) -> int:
        """Mark the book to market, keep the equity curve and the day's starting equity."""
        mark = self.mark_now()
        now = self.now()
        today = now.date().isoformat()
        if self.day_start is None or self.day_start[0] != today:
            self.day_start = (today, mark.equity)
            await self.store.set_state(
                state_key(self.book, "day_start"),
                {"date": today, "equity": str(mark.equity)},
                now,
            )
        await self.store.record_mark(
            self.book,
            now,
            self.quote,
            equity=mark.equity,
            cash=mark.cash,
            market_value=mark.market_value,
            unrealized=mark.unrealized,
            realized=mark.realized,
        )
        self.publish(self.portfolio_event(mark))
        return 1

    def portfolio_event(self, mark: Mark | None = None) -> PortfolioEvent:
        mark = mark or self.mark_now()
        day_pnl = mark.equity - self.day_start[1] if self.day_start else None
        return PortfolioEvent(
            self.mode,
            self.book,
            self.now(),
            self.quote,
            mark.equity,
            mark.cash,
            mark.market_value,
            mark.unrealized,
            mark.realized,
            day_pnl,
        )

    def trading_event(self, reason: str | None = None) -> TradingEvent:
        return TradingEvent(
            self.now(),
            self.mode,
            self.book,
            self.kill_switch,
            self.armed,
            reason,
            attention=self.attention,
        )

    def positions(self) -> list[Position]:
        return self.portfolio.positions(self.marks())

    # -- the guard's view ------------------------------------------------------------------

    def _context(self, request: OrderRequest, book: Book | None, now: datetime) -> RiskContext:
        symbol = request.symbol
        rules = self._rules(symbol)
        quote = self.market.quote(symbol)
        bid = ask = last = None
        quote_ts: datetime | None = None
        if quote is not None:
            bid, ask, last, quote_ts = quote.bid, quote.ask, quote.last, quote.ts
        if book is not None and (quote_ts is None or book.ts >= quote_ts):
            bid, ask, quote_ts = book.best_bid, book.best_ask, book.ts
            last = last or book.mid
        marks = self.marks()
        if last is not None:
            marks[symbol] = last
        mark = self.portfolio.mark(marks, self.quote)
        base, quote_ccy = split_symbol(symbol)
        held = self.portfolio.holdings(base, quote_ccy)
        position_value = held * last if last is not None else ZERO
        day_start = self.day_start[1] if self.day_start else mark.equity
        cutoff = now - timedelta(seconds=60)
        return RiskContext(
            now=now,
            mode=self.mode,
            armed=self.armed,
            kill_switch=self.kill_switch,
            rules=rules,
            bid=bid,
            ask=ask,
            last=last,
            quote_ts=quote_ts,
            equity=mark.equity,
            day_start_equity=day_start,
            position_value=position_value,
            base_available=self._available(base),
            quote_available=self._available(quote_ccy),
            open_orders=len(self.working()),
            recent_orders=[t for t in self._recent if t >= cutoff],
            known_symbols=self.market.symbols(),
        )

    def _available(self, currency: str) -> Decimal:
        cash = self.portfolio.cash
        if currency in cash:
            total = cash[currency]
        else:
            total = self.portfolio.held(currency)
        return total - self.broker.reserved(currency)

    def _rules(self, symbol: str) -> MarketRules | None:
        return self.market.rules(symbol)


def new_client_id() -> str:
    return "omc-" + uuid.uuid4().hex[:20]
