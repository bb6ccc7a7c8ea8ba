"""Persistence of the book: orders, fills, the risk audit, durable switches and equity marks.

Every change to a book is written through ``TradingStore.writing``: one transaction holding
the book's lock (BEGIN IMMEDIATE on SQLite, a row lock on PostgreSQL), in which the caller
re-reads what it decides on, and its orders and fills take the book's next sequence numbers.
A crash leaves either the whole change or none of it; fills are keyed by their id, so a replay
never duplicates; replay follows the sequence, not timestamps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.trading.model import Execution, Fill, Order, OrderState, OrderType, Origin, Side
from ledgers.database import Database, begin_immediate
from ledgers.schema import (
    BookRow,
    EquityMarkRow,
    FillRow,
    OrderRow,
    RiskDecisionRow,
    TradingStateRow,
)

_ORDERS = OrderRow.__table__
_FILLS = FillRow.__table__
_DECISIONS = RiskDecisionRow.__table__
_STATE = TradingStateRow.__table__
_MARKS = EquityMarkRow.__table__
_BOOKS = BookRow.__table__


def _insert(conn: AsyncConnection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


# The order path's statements, built once per dialect and run with bound parameters: building
# one per call cost more than running it (SQLAlchemy keys and coerces every new construct).
_STATEMENTS: dict[tuple[str, str], Any] = {}
_ORDER_KEEPS = ("client_id", "created_at", "seq")


def _statement(conn: AsyncConnection, name: str) -> Any:
    key = (conn.dialect.name, name)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = _build(conn, name)
    return _STATEMENTS[key]


def _build(conn: AsyncConnection, name: str) -> Any:
    if name == "upsert_order":
        stmt = _insert(conn, _ORDERS)
        excluded = stmt.excluded
        # The sequence an order got when first stored stays; every write still moves the
        # book's own number, so other processes see that it changed.
        updates = {c.name: excluded[c.name] for c in _ORDERS.c if c.name not in _ORDER_KEEPS}
        return stmt.on_conflict_do_update(index_elements=["client_id"], set_=updates)
    if name == "insert_fills":
        return _insert(conn, _FILLS).on_conflict_do_nothing(index_elements=["fill_id"])
    if name == "order_by_id":
        return select(_ORDERS).where(_ORDERS.c.client_id == bindparam("client_id"))
    if name == "known_fills":
        return select(_FILLS.c.fill_id).where(
            _FILLS.c.fill_id.in_(bindparam("ids", expanding=True))
        )
    raise KeyError(name)


def order_values(order: Order) -> dict[str, Any]:
    return {
        "client_id": order.client_id,
        "venue": order.venue,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "quantity": order.quantity,
        "limit_price": order.limit_price,
        "origin": order.origin.value,
        "mode": order.mode,
        "book": order.book,
        "state": order.state.value,
        "filled": order.filled,
        "cost": order.cost,
        "fees": order.fees,
        "reason": order.reason,
        "venue_order_id": order.venue_order_id,
        "strategy": order.strategy,
        "expires_at": order.expires_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def order_from_row(row: Any) -> Order:
    return Order(
        client_id=row.client_id,
        venue=row.venue,
        symbol=row.symbol,
        side=Side(row.side),
        type=OrderType(row.type),
        quantity=row.quantity,
        limit_price=row.limit_price,
        origin=Origin(row.origin),
        mode=row.mode,
        created_at=row.created_at,
        updated_at=row.updated_at,
        state=OrderState(row.state),
        filled=row.filled,
        cost=row.cost,
        fees=row.fees,
        reason=row.reason,
        venue_order_id=row.venue_order_id,
        strategy=row.strategy,
        expires_at=row.expires_at,
    )


def fill_values(fill: Fill, book: str, seq: int) -> dict[str, Any]:
    return {
        "book": book,
        "seq": seq,
        "fill_id": fill.fill_id,
        "client_id": fill.client_id,
        "venue": fill.venue,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "liquidity": fill.liquidity,
        "slippage_bps": fill.slippage_bps,
        "ts": fill.ts,
    }


def fill_from_row(row: Any) -> Fill:
    return Fill(
        fill_id=row.fill_id,
        client_id=row.client_id,
        venue=row.venue,
        symbol=row.symbol,
        side=Side(row.side),
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        liquidity=row.liquidity,
        ts=row.ts,
        slippage_bps=row.slippage_bps,
    )


class BookWriter:
    """One transaction on one book, holding its lock: reads see the book as it is now, and
    every write takes the book's next sequence number."""

    def __init__(self, conn: AsyncConnection, book: str, seq: int) -> None:
        self.conn = conn
        self.book = book
        self.seq = seq  # the newest number given in this book
        self.read_seq = seq  # what it was when the lock was taken

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    async def order(self, client_id: str) -> Order | None:
        by_id = _statement(self.conn, "order_by_id")
        row = (await self.conn.execute(by_id, {"client_id": client_id})).first()
        return order_from_row(row) if row else None

    async def fills(self) -> list[Fill]:
        return await _book_fills(self.conn, self.book)

    async def orders(self, states: Sequence[OrderState] | None = None) -> list[Order]:
        """The book's orders (of these states), in recorded order."""
        query = select(_ORDERS).where(_ORDERS.c.book == self.book).order_by(_ORDERS.c.seq)
        if states is not None:
            query = query.where(_ORDERS.c.state.in_([s.value for s in states]))
        return [order_from_row(r) for r in await self.conn.execute(query)]

    async def decisions(self) -> list[Any]:
        """The book's audit, oldest first."""
        query = select(_DECISIONS).where(_DECISIONS.c.book == self.book).order_by(_DECISIONS.c.id)
        return list(await self.conn.execute(query))

    async def resequence(self, fills: Sequence[Fill]) -> None:
        """Give these fills new sequence numbers in this order (after every existing one)."""
        for fill in fills:
            await self.conn.execute(
                update(_FILLS).where(_FILLS.c.fill_id == fill.fill_id).values(seq=self._next())
            )

    async def get_state(self, key: str) -> dict[str, Any] | None:
        return await _get_state(self.conn, key)

    async def set_state(self, key: str, value: dict[str, Any], at: datetime) -> None:
        await _set_state(self.conn, key, value, at)

    async def record_decision(self, decision: Any) -> None:
        """Audit one risk decision (a ``RiskDecision``) with the order it decided."""
        await self.conn.execute(
            _DECISIONS.insert(),
            {
                "at": decision.at,
                "mode": self.book.partition(":")[0],
                "book": self.book,
                "client_id": decision.client_id,
                "symbol": decision.symbol,
                "side": decision.side,
                "quantity": decision.quantity,
                "price": decision.price,
                "notional": decision.notional,
                "origin": decision.origin,
                "allowed": decision.allowed,
                "rule": decision.rule,
                "message": decision.message,
            },
        )

    async def save_order(self, order: Order) -> None:
        """Write an order's newest version (before the engine acts on it)."""
        await self._upsert_order(order)

    async def save_executions(self, executions: Iterable[Execution]) -> list[Fill]:
        """Write orders with their fills; returns the fills that were new."""
        executions = list(executions)
        fills = [f for e in executions for f in e.fills]
        known: set[str] = set()
        if fills:
            known_fills = _statement(self.conn, "known_fills")
            rows = await self.conn.execute(known_fills, {"ids": [f.fill_id for f in fills]})
            known = {r.fill_id for r in rows}
        for execution in executions:
            await self._upsert_order(execution.order)
        new = [f for f in fills if f.fill_id not in known]
        if new:
            stmt = _statement(self.conn, "insert_fills")
            await self.conn.execute(stmt, [fill_values(f, self.book, self._next()) for f in new])
        return new

    async def _upsert_order(self, order: Order) -> None:
        if order.book != self.book:
            raise ValueError(
                f"order {order.client_id} is of the {order.book} book, not {self.book}"
            )
        values = {**order_values(order), "seq": self._next()}
        await self.conn.execute(_statement(self.conn, "upsert_order"), values)


class TradingStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Awaited inside every book transaction, under the book's lock: raises when this
        # process no longer owns the database, so a deposed engine writes nothing.
        self.fence: Callable[[], Awaitable[None]] | None = None

    @asynccontextmanager
    async def writing(self, book: str) -> AsyncIterator[BookWriter]:
        """A transaction holding ``book``'s lock; commits on leaving, rolls back on an error."""
        async with self.db.engine.connect() as conn:
            async with conn.begin():
                await begin_immediate(conn)
                seq = await _lock_book(conn, book)
                if self.fence is not None:
                    await self.fence()
                writer = BookWriter(conn, book, seq)
                yield writer
                if writer.seq != seq:
                    await conn.execute(
                        update(_BOOKS).where(_BOOKS.c.book == book).values(seq=writer.seq)
                    )

    async def save_order(self, order: Order) -> None:
        """Write one order's newest version in its own transaction on its book."""
        async with self.writing(order.book) as w:
            await w.save_order(order)

    async def order(self, client_id: str) -> Order | None:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(select(_ORDERS).where(_ORDERS.c.client_id == client_id))
            ).first()
        return order_from_row(row) if row else None

    async def orders(
        self,
        book: str,
        *,
        states: Sequence[OrderState] | None = None,
        symbol: str | None = None,
        limit: int | None = 200,
    ) -> list[Order]:
        """Orders of one book, newest first."""
        query = select(_ORDERS).where(_ORDERS.c.book == book)
        if states is not None:
            query = query.where(_ORDERS.c.state.in_([s.value for s in states]))
        if symbol:
            query = query.where(_ORDERS.c.symbol == symbol)
        query = query.order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.client_id.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self.db.engine.connect() as conn:
            return [order_from_row(r) for r in await conn.execute(query)]

    async def fills(
        self,
        book: str,
        *,
        symbol: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Fill]:
        """Fills of one book, in recorded order (or newest first)."""
        async with self.db.engine.connect() as conn:
            return await _book_fills(
                conn, book, symbol=symbol, since=since, limit=limit, newest_first=newest_first
            )

    async def decisions(
        self, book: str | None = None, limit: int = 100, *, refused_only: bool = False
    ) -> list[Any]:
        query = select(_DECISIONS).order_by(_DECISIONS.c.at.desc(), _DECISIONS.c.id.desc())
        if book is not None:
            query = query.where(_DECISIONS.c.book == book)
        if refused_only:
            query = query.where(_DECISIONS.c.allowed.is_(False))
        async with self.db.engine.connect() as conn:
            return list(await conn.execute(query.limit(limit)))

    async def get_state(self, key: str) -> dict[str, Any] | None:
        async with self.db.engine.connect() as conn:
            return await _get_state(conn, key)

    async def set_state(self, key: str, value: dict[str, Any], at: datetime) -> None:
        async with self.db.engine.begin() as conn:
            await _set_state(conn, key, value, at)

    async def record_mark(
        self,
        book: str,
        at: datetime,
        quote: str,
        *,
        equity: Decimal,
        cash: Decimal,
        market_value: Decimal,
        unrealized: Decimal,
        realized: Decimal,
    ) -> None:
        values = {
            "book": book,
            "mode": book.partition(":")[0],
            "ts": at,
            "quote": quote,
            "equity": equity,
            "cash": cash,
            "market_value": market_value,
            "unrealized": unrealized,
            "realized": realized,
        }
        async with self.db.engine.begin() as conn:
            stmt = _insert(conn, _MARKS).values(values)
            excluded = stmt.excluded
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["book", "ts"],
                    set_={k: excluded[k] for k in values if k not in ("book", "ts")},
                )
            )

    async def marks(
        self, book: str, *, since: datetime | None = None, limit: int = 2000
    ) -> list[tuple[datetime, Decimal]]:
        """One book's equity curve, oldest first (the newest ``limit`` points)."""
        query = select(_MARKS.c.ts, _MARKS.c.equity).where(_MARKS.c.book == book)
        if since is not None:
            query = query.where(_MARKS.c.ts >= since)
        query = query.order_by(_MARKS.c.ts.desc()).limit(limit)
        async with self.db.engine.connect() as conn:
            rows = list(await conn.execute(query))
        return [(r.ts, r.equity) for r in reversed(rows)]

    async def books(self) -> list[str]:
        """Every book that has an order, a mark or an account."""
        async with self.db.engine.connect() as conn:
            found = {r[0] for r in await conn.execute(select(_ORDERS.c.book).distinct())}
            found |= {r[0] for r in await conn.execute(select(_MARKS.c.book).distinct())}
            keys = await conn.execute(select(_STATE.c.key).where(_STATE.c.key.like("%/account")))
            found |= {k[0].rsplit("/", 1)[0] for k in keys}
        return sorted(found)


async def _lock_book(conn: AsyncConnection, book: str) -> int:
    """Take the book's lock in this transaction and return its newest sequence number."""
    query = select(_BOOKS.c.seq).where(_BOOKS.c.book == book)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = (await conn.execute(query)).first()
    if found is None:
        await conn.execute(
            _insert(conn, _BOOKS)
            .values(book=book, seq=0)
            .on_conflict_do_nothing(index_elements=["book"])
        )
        found = (await conn.execute(query)).first()
    return int(found.seq)


async def _book_fills(
    conn: AsyncConnection,
    book: str,
    *,
    symbol: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[Fill]:
    query = select(_FILLS).where(_FILLS.c.book == book)
    if symbol:
        query = query.where(_FILLS.c.symbol == symbol)
    if since is not None:
        query = query.where(_FILLS.c.ts >= since)
    query = query.order_by(_FILLS.c.seq.desc() if newest_first else _FILLS.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return [fill_from_row(r) for r in await conn.execute(query)]


async def _get_state(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(_STATE.c.value).where(_STATE.c.key == key))).first()
    return dict(row.value) if row else None


async def _set_state(conn: AsyncConnection, key: str, value: dict[str, Any], at: datetime) -> None:
    stmt = _insert(conn, _STATE).values(key=key, value=value, updated_at=at)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
    )
