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
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from engine.trading.model import Execution, Fill, Order, OrderState, OrderType, Origin, Side
from ledgers.database import Database, SQLiteThread, begin_immediate
from ledgers.schema import (
    BookRow,
    EquityMarkRow,
    FillRow,
    OrderRow,
    RiskDecisionRow,
    TradingStateRow,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_ORDERS = OrderRow.__table__
_FILLS = FillRow.__table__
_DECISIONS = RiskDecisionRow.__table__
_STATE = TradingStateRow.__table__
_MARKS = EquityMarkRow.__table__
_BOOKS = BookRow.__table__


def _insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


# The order path's statements, built once per dialect and run with bound parameters: building
# one per call cost more than running it (SQLAlchemy keys and coerces every new construct).
_STATEMENTS: dict[tuple[str, str], Any] = {}
_ORDER_KEEPS = ("client_id", "created_at", "seq")


def _statement(dialect: str, name: str) -> Any:
    key = (dialect, name)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = _build(dialect, name)
    return _STATEMENTS[key]


def _build(dialect: str, name: str) -> Any:
    if name == "upsert_order":
        stmt = _insert(dialect, _ORDERS)
        excluded = stmt.excluded
        # The sequence an order got when first stored stays; every write still moves the
        # book's own number, so other processes see that it changed.
        updates = {c.name: excluded[c.name] for c in _ORDERS.c if c.name not in _ORDER_KEEPS}
        return stmt.on_conflict_do_update(index_elements=["client_id"], set_=updates)
    if name == "insert_fills":
        return _insert(dialect, _FILLS).on_conflict_do_nothing(index_elements=["fill_id"])
    if name == "order_by_id":
        return select(_ORDERS).where(_ORDERS.c.client_id == bindparam("client_id"))
    if name == "known_fills":
        return select(_FILLS.c.fill_id).where(
            _FILLS.c.fill_id.in_(bindparam("ids", expanding=True))
        )
    if name == "book_seq":
        query = select(_BOOKS.c.seq).where(_BOOKS.c.book == bindparam("book"))
        return query.with_for_update() if dialect == "postgresql" else query
    if name == "new_book":
        return (
            _insert(dialect, _BOOKS)
            .values(book=bindparam("book"), seq=0)
            .on_conflict_do_nothing(index_elements=["book"])
        )
    if name == "set_seq":
        where = _BOOKS.c.book == bindparam("b_book")
        return update(_BOOKS).where(where).values(seq=bindparam("b_seq"))
    if name == "insert_decision":
        return _DECISIONS.insert()
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


# One statement of a book's transaction: the statement, its parameters (a dict, a list of
# dicts for many rows, or None), and whether its rows are wanted back.
Op = tuple[Any, Any, bool]


def _run_ops(conn: Connection, ops: Sequence[Op]) -> list[list[Any] | None]:
    results: list[list[Any] | None] = []
    for stmt, params, fetch in ops:
        result = conn.execute(stmt) if params is None else conn.execute(stmt, params)
        results.append(list(result) if fetch else None)
    return results


class _Session:
    """A book's transaction on an async connection (PostgreSQL, an in-memory SQLite)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    async def run(self, ops: Sequence[Op]) -> list[list[Any] | None]:
        results: list[list[Any] | None] = []
        for stmt, params, fetch in ops:
            if params is None:
                result = await self.conn.execute(stmt)
            else:
                result = await self.conn.execute(stmt, params)
            results.append(list(result) if fetch else None)
        return results

    async def commit(self, ops: Sequence[Op]) -> None:
        await self.run(ops)  # the connection's transaction commits when the caller leaves it


class _ThreadSession:
    """A book's transaction on a SQLite file, its statements sent to the database's own
    thread in batches (see ``SQLiteThread``)."""

    dialect = "sqlite"

    def __init__(self, thread: SQLiteThread) -> None:
        self.thread = thread
        self._conn: Connection | None = None  # touched only in the thread
        self._open = False  # whether a transaction may be open there (known in the loop)

    async def run(self, ops: Sequence[Op]) -> list[list[Any] | None]:
        self._open = True
        return await self.thread.call(self._run, ops)

    async def commit(self, ops: Sequence[Op]) -> None:
        self._open = True
        await self.thread.call(self._commit, ops)
        self._open = False

    async def close(self) -> None:
        """Roll back what was not committed (after any batch still running there)."""
        if self._open:
            self._open = False
            await self.thread.call(self._close)

    def _run(self, ops: Sequence[Op]) -> list[list[Any] | None]:
        if self._conn is None:
            self._conn = self.thread.engine.connect()
            self._conn.exec_driver_sql("BEGIN IMMEDIATE")  # the driver began nothing before it
        return _run_ops(self._conn, ops)

    def _commit(self, ops: Sequence[Op]) -> None:
        self._run(ops)
        assert self._conn is not None
        self._conn.commit()
        self._close()
        self.thread.committed()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()  # rolls back whatever was not committed


class BookWriter:
    """One transaction on one book, holding its lock: reads see the book as it is now, and
    every write takes the book's next sequence number.

    Writes wait in the writer until the next read or the commit, and go to the database with
    it: a transaction's statements cross to the database in a few batches, not one by one.
    """

    def __init__(self, session: _Session | _ThreadSession, book: str, seq: int) -> None:
        self._session = session
        self.dialect = session.dialect
        self.book = book
        self.seq = seq  # the newest number given in this book
        self.read_seq = seq  # what it was when the lock was taken
        self._pending: list[Op] = []
        self._known: dict[str, Order | None] = {}  # orders read with the lock, not since written

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _write(self, stmt: Any, params: Any = None) -> None:
        self._pending.append((stmt, params, False))

    async def _read(self, stmt: Any, params: Any = None) -> list[Any]:
        """The rows of one query, after every write waiting before it."""
        ops, self._pending = [*self._pending, (stmt, params, True)], []
        rows = (await self._session.run(ops))[-1]
        assert rows is not None
        return rows

    async def _commit(self) -> None:
        if self.seq != self.read_seq:
            self._write(
                _statement(self.dialect, "set_seq"), {"b_book": self.book, "b_seq": self.seq}
            )
        ops, self._pending = self._pending, []
        await self._session.commit(ops)

    async def order(self, client_id: str) -> Order | None:
        if client_id in self._known:
            return self._known[client_id]
        rows = await self._read(_statement(self.dialect, "order_by_id"), {"client_id": client_id})
        return order_from_row(rows[0]) if rows else None

    async def fills(self) -> list[Fill]:
        return [fill_from_row(r) for r in await self._read(_fills_query(self.book))]

    async def orders(self, states: Sequence[OrderState] | None = None) -> list[Order]:
        """The book's orders (of these states), in recorded order."""
        query = select(_ORDERS).where(_ORDERS.c.book == self.book).order_by(_ORDERS.c.seq)
        if states is not None:
            query = query.where(_ORDERS.c.state.in_([s.value for s in states]))
        return [order_from_row(r) for r in await self._read(query)]

    async def decisions(self) -> list[Any]:
        """The book's audit, oldest first."""
        query = select(_DECISIONS).where(_DECISIONS.c.book == self.book).order_by(_DECISIONS.c.id)
        return await self._read(query)

    async def resequence(self, fills: Sequence[Fill]) -> None:
        """Give these fills new sequence numbers in this order (after every existing one)."""
        for fill in fills:
            self._write(
                update(_FILLS).where(_FILLS.c.fill_id == fill.fill_id).values(seq=self._next())
            )

    async def get_state(self, key: str) -> dict[str, Any] | None:
        rows = await self._read(_state_query(key))
        return dict(rows[0].value) if rows else None

    async def set_state(self, key: str, value: dict[str, Any], at: datetime) -> None:
        self._write(_state_upsert(self.dialect, key, value, at))

    async def record_decision(self, decision: Any) -> None:
        """Audit one risk decision (a ``RiskDecision``) with the order it decided."""
        self._write(
            _statement(self.dialect, "insert_decision"),
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
        self._upsert_order(order)

    async def save_executions(
        self, executions: Iterable[Execution], *, fresh: bool = False
    ) -> list[Fill]:
        """Write orders with their fills; returns the fills that were new. ``fresh``: the
        orders are this transaction's own new ones, so none of their fills is stored yet."""
        executions = list(executions)
        fills = [f for e in executions for f in e.fills]
        known: set[str] = set()
        if fills and not fresh:
            rows = await self._read(
                _statement(self.dialect, "known_fills"), {"ids": [f.fill_id for f in fills]}
            )
            known = {r.fill_id for r in rows}
        for execution in executions:
            self._upsert_order(execution.order)
        new = [f for f in fills if f.fill_id not in known]
        if new:
            self._write(
                _statement(self.dialect, "insert_fills"),
                [fill_values(f, self.book, self._next()) for f in new],
            )
        return new

    def _upsert_order(self, order: Order) -> None:
        if order.book != self.book:
            raise ValueError(
                f"order {order.client_id} is of the {order.book} book, not {self.book}"
            )
        values = {**order_values(order), "seq": self._next()}
        self._write(_statement(self.dialect, "upsert_order"), values)
        self._known.pop(order.client_id, None)


class TradingStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Awaited inside every book transaction, under the book's lock: raises when this
        # process no longer owns the database, so a deposed engine writes nothing.
        self.fence: Callable[[], Awaitable[None]] | None = None

    @asynccontextmanager
    async def writing(self, book: str, *, order: str | None = None) -> AsyncIterator[BookWriter]:
        """A transaction holding ``book``'s lock; commits on leaving, rolls back on an error.
        ``order``: a client id whose order is read as the lock is taken (one trip, not two)."""
        thread = self.db.sqlite_thread()
        if thread is None:
            async with self.db.engine.connect() as conn:
                async with conn.begin():
                    await begin_immediate(conn)
                    async with self._locked(_Session(conn), book, order) as writer:
                        yield writer
            return
        async with thread.turn():
            session = _ThreadSession(thread)
            try:
                async with self._locked(session, book, order) as writer:
                    yield writer
            finally:
                await session.close()

    @asynccontextmanager
    async def _locked(
        self, session: _Session | _ThreadSession, book: str, order: str | None
    ) -> AsyncIterator[BookWriter]:
        seq, found = await _lock_book(session, book, order)
        if self.fence is not None:
            await self.fence()
        writer = BookWriter(session, book, seq)
        if order is not None:
            writer._known[order] = order_from_row(found[0]) if found else None
        yield writer
        await writer._commit()

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
        query = query.order_by(_ORDERS.c.created_at.desc(), _ORDERS.c.seq.desc())
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
        query = _fills_query(
            book, symbol=symbol, since=since, limit=limit, newest_first=newest_first
        )
        async with self.db.engine.connect() as conn:
            return [fill_from_row(r) for r in await conn.execute(query)]

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
            row = (await conn.execute(_state_query(key))).first()
        return dict(row.value) if row else None

    async def set_state(self, key: str, value: dict[str, Any], at: datetime) -> None:
        stmt = _state_upsert(self.db.dialect, key, value, at)
        thread = self.db.sqlite_thread()
        if thread is not None:
            await thread.write(lambda conn: conn.execute(stmt))
            return
        async with self.db.engine.begin() as conn:
            await conn.execute(stmt)

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
        stmt = _insert(self.db.dialect, _MARKS).values(values)
        excluded = stmt.excluded
        upsert = stmt.on_conflict_do_update(
            index_elements=["book", "ts"],
            set_={k: excluded[k] for k in values if k not in ("book", "ts")},
        )
        thread = self.db.sqlite_thread()
        if thread is not None:
            await thread.write(lambda conn: conn.execute(upsert))
            return
        async with self.db.engine.begin() as conn:
            await conn.execute(upsert)

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


async def _lock_book(
    session: _Session | _ThreadSession, book: str, order: str | None
) -> tuple[int, list[Any]]:
    """Take the book's lock in this transaction; its newest sequence number, and the rows of
    ``order`` (read under the lock) when asked."""
    query: Op = (_statement(session.dialect, "book_seq"), {"book": book}, True)
    ops = [query]
    if order is not None:
        ops.append((_statement(session.dialect, "order_by_id"), {"client_id": order}, True))
    found, *rows = await session.run(ops)
    if not found:
        new: Op = (_statement(session.dialect, "new_book"), {"book": book}, False)
        found = (await session.run([new, query]))[1]
    assert found
    return int(found[0].seq), (rows[0] or []) if rows else []


def _fills_query(
    book: str,
    *,
    symbol: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> Any:
    query = select(_FILLS).where(_FILLS.c.book == book)
    if symbol:
        query = query.where(_FILLS.c.symbol == symbol)
    if since is not None:
        query = query.where(_FILLS.c.ts >= since)
    query = query.order_by(_FILLS.c.seq.desc() if newest_first else _FILLS.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return query


def _state_query(key: str) -> Any:
    return select(_STATE.c.value).where(_STATE.c.key == key)


def _state_upsert(dialect: str, key: str, value: dict[str, Any], at: datetime) -> Any:
    stmt = _insert(dialect, _STATE).values(key=key, value=value, updated_at=at)
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )
