"""Read paths over the ledgers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, cast, func, or_, select, text

from ledgers import schema, series
from ledgers.counts import row_counts
from ledgers.database import Database
from ledgers.market import Candle
from ledgers.provenance import from_data, is_simulated

_TABLES = schema.Base.tables()


@dataclass(frozen=True, slots=True)
class TableStat:
    table: str
    rows: int
    newest: datetime | None
    estimated: bool  # rows is the database's estimate of a large table, not a count


async def ledger_stats(db: Database) -> list[TableStat]:
    """Rows and newest timestamp of every ledger table. A large table's rows are the
    database's estimate (``ledgers.counts``); no table is counted row by row."""
    async with db.engine.connect() as conn:
        counts = await row_counts(conn, list(schema.LEDGER_TABLES))
        newest = await _newest(conn)
    return [
        TableStat(name, counts[name].rows, newest[name], counts[name].estimated)
        for name in schema.LEDGER_TABLES
    ]


async def table_stats(db: Database) -> list[tuple[str, int, datetime | None]]:
    """(table, rows, newest) of every ledger table; rows of a large table are an estimate."""
    return [(s.table, s.rows, s.newest) for s in await ledger_stats(db)]


async def _newest(conn: Any) -> dict[str, datetime | None]:
    """The newest timestamp of each ledger table: of a large table, the newest of its series,
    one seek each; of the others, their time column's maximum."""
    others = [name for name in schema.LEDGER_TABLES if name not in series.SERIES_KEYS]
    columns = [
        select(func.max(getattr(_TABLES[name], schema.LEDGER_TABLES[name]))).scalar_subquery()
        for name in others
    ]
    row = (await conn.execute(select(*columns))).one()
    found: dict[str, datetime | None] = dict(zip(others, row, strict=True))
    for name in series.SERIES_KEYS:
        found[name] = max(
            await _series_newest(conn, name, await series.series(conn, name)), default=None
        )
    return found


async def _series_newest(conn: Any, name: str, chosen: Sequence[series.Series]) -> list[datetime]:
    """The newest timestamp of each of ``chosen`` series of a large table (one seek each)."""
    keys = series.SERIES_KEYS[name]
    stamps: list[datetime] = []
    for part in series.chunks(chosen):
        values = {
            f"{k}_{i}": v for i, one in enumerate(part) for k, v in zip(keys, one, strict=True)
        }
        row = (await conn.execute(_newest_of(name, len(part)), values)).one()
        stamps.extend(ts for ts in row if ts is not None)
    return stamps


@functools.cache
def _newest_of(name: str, count: int) -> Any:
    """``SELECT (max ts of series 0), (… of series 1), …`` for ``count`` series of a large
    table, its values bound by name (``venue_0``, ``symbol_0``…). Written as SQL of its own
    (the names are the schema's, never input): made with SQLAlchemy's expressions, a hundred
    subqueries took a command 30 ms to compile, more than the seeks themselves; its results
    are still typed as the table's time column."""
    keys = series.SERIES_KEYS[name]
    # ORDER BY … LIMIT 1, not max(ts): a planner without statistics yet (a table not analysed
    # since it filled) plans max() as an aggregate over every row of the series.
    arms = [
        f"(SELECT ts FROM {name} WHERE "
        + " AND ".join(f"{k} = :{k}_{i}" for k in keys)
        + f" ORDER BY ts DESC LIMIT 1) AS ts_{i}"
        for i in range(count)
    ]
    ts = series.table(name).c.ts.type
    return text("SELECT " + ", ".join(arms)).columns(**{f"ts_{i}": ts for i in range(count)})


async def recent_candles(
    db: Database, venue: str, symbol: str, timeframe: str, limit: int
) -> list[Candle]:
    """The newest ``limit`` bars, oldest first."""
    c = schema.Candle
    stmt = (
        select(c)
        .where(c.venue == venue, c.symbol == symbol, c.timeframe == timeframe)
        .order_by(c.ts.desc())
        .limit(limit)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        Candle(r.venue, r.symbol, r.timeframe, r.ts, r.open, r.high, r.low, r.close, r.volume)
        for r in reversed(rows)
    ]


async def newest_candles(db: Database, venue: str, symbols: Sequence[str]) -> list[Candle]:
    """The newest stored bar of each (symbol, timeframe) — the forming bars at restart: one
    seek per series, not a read of every bar of the symbols."""
    wanted = set(symbols)
    out: list[Candle] = []
    async with db.engine.connect() as conn:
        chosen = [
            s for s in await series.series(conn, "candles") if s[0] == venue and s[1] in wanted
        ]
        for part in series.chunks(chosen):
            rows = (await conn.execute(series.newest_first("candles", part, each=1))).all()
            out.extend(
                Candle(
                    r.venue, r.symbol, r.timeframe, r.ts, r.open, r.high, r.low, r.close, r.volume
                )
                for r in rows
            )
    return out


async def iter_candles(
    db: Database,
    symbol: str,
    timeframe: str,
    *,
    venue: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    chunk: int = 1000,
) -> AsyncIterator[Candle]:
    """Stream bars oldest first, venue by venue, without loading them all (a chunk at a time:
    the event loop turns between chunks, so a year of bars never stalls a desk for long)."""
    if venue is None:
        async with db.engine.connect() as conn:
            found = await series.series(conn, "candles")
        venues = [v for v, s, tf in found if s == symbol and tf == timeframe]
    else:
        venues = [venue]
    c = schema.Candle
    for one in venues:
        stmt = select(c).where(c.venue == one, c.symbol == symbol, c.timeframe == timeframe)
        if since:
            stmt = stmt.where(c.ts >= since)
        if until:
            stmt = stmt.where(c.ts < until)
        async with db.engine.connect() as conn:
            result = await conn.stream(stmt.order_by(c.ts).execution_options(yield_per=chunk))
            async for r in result:
                yield Candle(
                    r.venue, r.symbol, r.timeframe, r.ts, r.open, r.high, r.low, r.close, r.volume
                )


async def candle_venues(
    db: Database,
    symbol: str,
    timeframe: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, int]:
    """How many bars of ``symbol`` each venue holds in the period: a range of one series each."""
    c = schema.Candle
    out: dict[str, int] = {}
    async with db.engine.connect() as conn:
        for venue, s, tf in await series.series(conn, "candles"):
            if s != symbol or tf != timeframe:
                continue
            stmt = select(func.count()).where(
                c.venue == venue, c.symbol == symbol, c.timeframe == timeframe
            )
            if since is not None:
                stmt = stmt.where(c.ts >= since)
            if until is not None:
                stmt = stmt.where(c.ts < until)
            n = int((await conn.execute(stmt)).scalar() or 0)
            if n:
                out[venue] = n
    return out


# Columns searched by free text, per table (kept to human-readable ones).
_SEARCHABLE = {
    "instruments": ("symbol", "base"),
    "tickers": ("symbol",),
    "order_book_snapshots": ("symbol",),
    "candles": ("symbol", "timeframe"),
    "job_runs": ("job", "status", "error"),
    "glass_metrics": ("source", "entity", "metric"),
    "human_items": ("source", "title", "body"),
    "mood_readings": ("source", "label"),
    "catalyst_events": ("source", "type", "title"),
    "orders": ("client_id", "symbol", "state", "origin", "reason", "strategy"),
    "fills": ("fill_id", "client_id", "symbol", "side"),
    "risk_decisions": ("client_id", "symbol", "rule", "message", "origin"),
    "equity_marks": ("mode",),
    "backtests": ("id", "strategy", "symbol"),
    "deployments": ("name", "strategy", "symbol"),
}

LEDGER_NAMES = {
    "exchange": ("instruments", "tickers", "order_book_snapshots", "candles"),
    "glass": ("glass_metrics",),
    "human": ("human_items", "mood_readings"),
    "catalyst": ("catalyst_events",),
    "engine": ("job_runs",),
    "trading": ("orders", "fills", "risk_decisions", "equity_marks", "backtests", "deployments"),
}


def table_columns(table: str) -> list[str]:
    return [c.name for c in _model(table).__table__.columns]


def _model(table: str) -> type[schema.Base]:
    try:
        return _TABLES[table]
    except KeyError:
        known = ", ".join(sorted(_TABLES))
        raise ValueError(f"unknown table {table!r}; tables: {known}") from None


def _filtered(
    table: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    search: str | None = None,
    symbol: str | None = None,
    simulated: bool | None = None,
) -> Select[Any]:
    model = _model(table)
    cols = model.__table__.columns
    ts = cols[schema.LEDGER_TABLES[table]]
    stmt = select(*cols)
    if simulated is not None:
        origin = cols["source"] if "source" in cols else cols["venue"] if "venue" in cols else None
        if origin is not None:
            stmt = stmt.where(from_data(origin, simulated))
    if since is not None:
        stmt = stmt.where(ts >= since)
    if until is not None:
        stmt = stmt.where(ts < until)
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(or_(*(func.lower(cols[c]).like(pattern) for c in _SEARCHABLE[table])))
    if symbol:
        base = symbol.split("/")[0].upper()
        if "symbol" in cols:
            stmt = stmt.where(cols["symbol"] == symbol.upper())
        elif "currencies" in cols:
            # JSON containment differs per database; the text form works on both.
            stmt = stmt.where(cast(cols["currencies"], Text).like(f'%"{base}"%'))
        elif "entity" in cols:
            stmt = stmt.where(func.lower(cols["entity"]) == base.lower())
    return stmt.order_by(ts.desc())


async def browse(
    db: Database,
    table: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    search: str | None = None,
    symbol: str | None = None,
    simulated: bool | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A page of any ledger table, newest first, filtered; returns (columns, rows).
    ``simulated`` keeps only rows of the simulated market (True) or of real sources (False)."""
    columns = table_columns(table)
    if table in series.SERIES_KEYS:
        ts = columns.index("ts")
        rows: list[tuple[Any, ...]] = []
        async with db.engine.connect() as conn:
            found = await series.series(conn, table)
            chosen = _chosen(table, found, search=search, symbol=symbol, simulated=simulated)
            for part in series.chunks(chosen):
                stmt = series.newest_first(
                    table, part, since=since, until=until, each=limit + offset
                )
                rows += [tuple(r) for r in await conn.execute(stmt.limit(limit + offset))]
        rows.sort(key=lambda r: r[ts], reverse=True)
        return columns, rows[offset : offset + limit]
    stmt = _filtered(
        table, since=since, until=until, search=search, symbol=symbol, simulated=simulated
    )
    async with db.engine.connect() as conn:
        found_rows = (await conn.execute(stmt.limit(limit).offset(offset))).all()
    return columns, [tuple(r) for r in found_rows]


async def iter_rows(
    db: Database,
    table: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    search: str | None = None,
    symbol: str | None = None,
    simulated: bool | None = None,
    chunk: int = 1000,
) -> AsyncIterator[tuple[Any, ...]]:
    """Every matching row, newest first, streamed (for exports, and studies): a chunk at a
    time, so the event loop turns between chunks."""
    if table in series.SERIES_KEYS:
        async with db.engine.connect() as conn:
            found = await series.series(conn, table)
        chosen = _chosen(table, found, search=search, symbol=symbol, simulated=simulated)
        streams = [
            _stream(db, series.newest_first(table, part, since=since, until=until), chunk)
            for part in series.chunks(chosen)
        ]
        async for row in series.merged(streams, table_columns(table).index("ts")):
            yield row
        return
    stmt = _filtered(
        table, since=since, until=until, search=search, symbol=symbol, simulated=simulated
    )
    async for row in _stream(db, stmt, chunk):
        yield row


async def _stream(db: Database, stmt: Select[Any], chunk: int) -> AsyncIterator[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        result = await conn.stream(stmt.execution_options(yield_per=chunk))
        async for r in result:
            yield tuple(r)


def _chosen(
    table: str,
    found: Sequence[series.Series],
    *,
    search: str | None,
    symbol: str | None,
    simulated: bool | None,
) -> list[series.Series]:
    """The series of a large table the filters keep: they name series (a market, a timeframe),
    so they are applied to the series, and only the rows of those are read."""
    keys = series.SERIES_KEYS[table]
    needle = search.lower() if search else None
    chosen = []
    for values in found:
        named = dict(zip(keys, values, strict=True))
        if simulated is not None and is_simulated(named["venue"]) != simulated:
            continue
        if symbol and named["symbol"] != symbol.upper():
            continue
        if needle and not any(needle in named[c].lower() for c in _SEARCHABLE[table]):
            continue
        chosen.append(values)
    return chosen


async def glass_series(
    db: Database, metrics: Sequence[str], since: datetime, *, simulated: bool | None = None
) -> list[tuple[str, str, str, datetime, float]]:
    """(source, entity, metric, ts, value) rows of ``metrics`` since ``since``, oldest first."""
    g = schema.GlassMetricRow
    stmt = (
        select(g.source, g.entity, g.metric, g.ts, g.value)
        .where(g.metric.in_(list(metrics)), g.ts >= since)
        .order_by(g.ts)
    )
    if simulated is not None:
        stmt = stmt.where(from_data(g.source, simulated))
    async with db.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(stmt)).all()]  # type: ignore[misc]


async def newest_mood(
    db: Database, *, simulated: bool | None = None
) -> tuple[str, datetime, float, str] | None:
    m = schema.MoodReadingRow
    stmt = select(m.source, m.ts, m.value, m.label).order_by(m.ts.desc()).limit(1)
    if simulated is not None:
        stmt = stmt.where(from_data(m.source, simulated))
    async with db.engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    return tuple(row) if row else None  # type: ignore[return-value]


async def newest_on_market(db: Database, market: str) -> datetime | None:
    """The newest time anything of ``market`` was stored at: an order, a fill, an equity mark
    of its books, a candle. A simulated clock never restarts before it."""
    found: list[datetime] = []
    checks = [
        select(func.max(schema.OrderRow.created_at)).where(schema.OrderRow.venue == market),
        select(func.max(schema.OrderRow.updated_at)).where(schema.OrderRow.venue == market),
        select(func.max(schema.FillRow.ts)).where(schema.FillRow.venue == market),
        select(func.max(schema.EquityMarkRow.ts)).where(
            schema.EquityMarkRow.book.like(f"%:{market}")
        ),
    ]
    async with db.engine.connect() as conn:
        for query in checks:
            value = (await conn.execute(query)).scalar()
            if value is not None:
                found.append(value)
        bars = [s for s in await series.series(conn, "candles") if s[0] == market]
        found += await _series_newest(conn, "candles", bars)  # a seek per series
    return max(found, default=None)
