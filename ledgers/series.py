"""Reading the large tables series by series.

Tickers, order-book snapshots and candles hold one time series per market (per market and
timeframe for candles), keyed (venue, symbol[, timeframe], ts). Every read of them goes along
that primary key: the series are found by seeking from one to the next (as many index seeks as
series, never a scan of the rows), and a read across series is one index range per series,
merged newest first. No other index is needed on the tables that grow fastest, so ticks are
written as cheaply as they can be, and no filter can make a read walk a year of rows: a search
or a symbol no series matches reads nothing at all.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Subquery, Table, select, union_all

from ledgers import schema

# The series of each large table: the primary key's columns before ``ts``.
SERIES_KEYS: dict[str, tuple[str, ...]] = {
    "tickers": ("venue", "symbol"),
    "order_book_snapshots": ("venue", "symbol"),
    "candles": ("venue", "symbol", "timeframe"),
}
# Series read by one statement at most: SQLite refuses a compound of more than 500 selects.
ARMS = 200

Series = tuple[str, ...]


def table(name: str) -> Table:
    return schema.Base.metadata.tables[name]


async def series(conn: Any, name: str) -> list[Series]:
    """Every series of a large table, in key order, by seeking from each to the next along the
    primary key: about one index seek per series, never a read of the rows between.

    In one trip to the database: on PostgreSQL one recursive statement walks the seeks; on
    SQLite they run one after another in the connection's own thread (through aiosqlite a
    statement is two hops between threads and SQLAlchemy's work around it: some 130 of them
    took 60-100 ms for ledger stats at a year of data, the seeks themselves a millisecond)."""
    if conn.dialect.name == "postgresql":
        return [tuple(row) for row in await conn.execute(_walk(name))]
    raw = (await conn.get_raw_connection()).driver_connection
    run = getattr(raw, "_execute", None)  # aiosqlite: run a function in its thread
    if run is not None:
        return await run(_seeks, raw._conn, name)
    return await conn.run_sync(lambda sync: _seeks(sync.connection.driver_connection, name))


def _walk(name: str) -> Any:
    """PostgreSQL's loose index scan: from the first key, each next key by a row comparison
    the primary key's index answers with one seek."""
    from sqlalchemy import text

    keys = ", ".join(SERIES_KEYS[name])
    first = SERIES_KEYS[name][0]
    outer = ", ".join(f"s.{k}" for k in SERIES_KEYS[name])
    return text(
        f"WITH RECURSIVE s ({keys}) AS ("  # names from SERIES_KEYS, never input
        f" (SELECT {keys} FROM {name} WHERE {first} >= '' ORDER BY {keys} LIMIT 1)"
        f" UNION ALL SELECT n.* FROM s, LATERAL (SELECT {keys} FROM {name} t"
        f" WHERE ({keys}) > ({outer}) ORDER BY {keys} LIMIT 1) n"
        f") SELECT {keys} FROM s"
    )


def seek_statements(name: str) -> tuple[str, list[str]]:
    """SQLite's seeks for ``name``: the first key, then for each depth (deepest first is tried
    first) the next key with the same prefix and a later column at that depth. Every key sorts
    at or after the empty string: a seek, where a bare ORDER BY … LIMIT 1 reads as a scan to
    the planner; and a row value comparison would be one statement, but SQLite seeks on its
    first column only."""
    keys = SERIES_KEYS[name]
    cols = ", ".join(keys)
    first = f"SELECT {cols} FROM {name} WHERE {keys[0]} >= '' ORDER BY {cols} LIMIT 1"
    steps = []
    for depth in range(len(keys)):
        same = [f"{k} = ?" for k in keys[:depth]]
        where = " AND ".join([*same, f"{keys[depth]} > ?"])
        steps.append(
            f"SELECT {cols} FROM {name} WHERE {where} ORDER BY {', '.join(keys[depth:])} LIMIT 1"
        )
    return first, steps


def _seeks(db: Any, name: str) -> list[Series]:
    """The seeks on a sqlite3 connection, in its thread."""
    first, steps = seek_statements(name)
    row = db.execute(first).fetchone()
    found: list[Series] = []
    while row is not None:
        last = tuple(row)
        found.append(last)
        row = None
        for depth in range(len(steps) - 1, -1, -1):
            row = db.execute(steps[depth], last[: depth + 1]).fetchone()
            if row is not None:
                break
    return found


def newest_first(
    name: str,
    chosen: Sequence[Series],
    *,
    columns: Sequence[Any] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    each: int | None = None,
) -> Select[Any]:
    """One statement reading ``chosen`` series (at most ``ARMS``) newest first: a range of the
    primary key each, at most ``each`` rows of each, merged."""
    arms = _arms(name, chosen, columns, since, until, each)
    if len(arms) == 1:
        return arms[0] if each is not None else arms[0].order_by(table(name).c.ts.desc())
    if each is not None:  # an arm with its own LIMIT is a subquery to SQLite
        arms = [select(arm.subquery()) for arm in arms]
    merged = union_all(*arms).subquery()
    return select(merged).order_by(merged.c.ts.desc())


def newest_of_each(
    name: str,
    chosen: Sequence[Series],
    each: int,
    *,
    columns: Sequence[Any] | None = None,
    since: datetime | None = None,
) -> Subquery:
    """The newest ``each`` rows of every one of ``chosen`` series, unordered, to aggregate."""
    arms = [select(arm.subquery()) for arm in _arms(name, chosen, columns, since, None, each)]
    return (arms[0] if len(arms) == 1 else union_all(*arms)).subquery()


def _arms(
    name: str,
    chosen: Sequence[Series],
    columns: Sequence[Any] | None,
    since: datetime | None,
    until: datetime | None,
    each: int | None,
) -> list[Select[Any]]:
    assert 0 < len(chosen) <= ARMS, "read series a statement's worth at a time"
    t = table(name)
    cols = list(columns) if columns else list(t.c)
    keys = [t.c[k] for k in SERIES_KEYS[name]]
    arms = []
    for values in chosen:
        arm = select(*cols).where(*(k == v for k, v in zip(keys, values, strict=True)))
        if since is not None:
            arm = arm.where(t.c.ts >= since)
        if until is not None:
            arm = arm.where(t.c.ts < until)
        arms.append(arm.order_by(t.c.ts.desc()).limit(each) if each is not None else arm)
    return arms


def chunks(chosen: Sequence[Series]) -> list[Sequence[Series]]:
    return [chosen[i : i + ARMS] for i in range(0, len(chosen), ARMS)]


async def merged(streams: Sequence[AsyncIterator[Any]], ts: int) -> AsyncIterator[Any]:
    """Rows of several newest-first streams, newest first (column ``ts`` orders them)."""
    if len(streams) == 1:
        async for row in streams[0]:
            yield row
        return
    heads: list[tuple[_Newer, int, Any]] = []
    for i, stream in enumerate(streams):
        row = await anext(stream, None)
        if row is not None:
            heads.append((_Newer(row[ts]), i, row))
    heapq.heapify(heads)
    while heads:
        _, i, row = heads[0]
        yield row
        following = await anext(streams[i], None)
        if following is None:
            heapq.heappop(heads)
        else:
            heapq.heapreplace(heads, (_Newer(following[ts]), i, following))


class _Newer:
    """Orders timestamps newest first in a min-heap."""

    __slots__ = ("ts",)

    def __init__(self, ts: datetime) -> None:
        self.ts = ts

    def __lt__(self, other: _Newer) -> bool:
        return self.ts > other.ts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Newer) and self.ts == other.ts

    __hash__ = None  # type: ignore[assignment]
