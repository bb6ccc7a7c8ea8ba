"""Read paths over the ledgers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, cast, func, or_, select

from ledgers import schema
from ledgers.database import Database
from ledgers.market import Candle
from ledgers.provenance import from_data

_TABLES = {m.class_.__tablename__: m.class_ for m in schema.Base.registry.mappers}


async def table_stats(db: Database) -> list[tuple[str, int, datetime | None]]:
    """Rows and newest timestamp of every ledger table (one statement, one round trip)."""
    columns = []
    for name, ts_col in schema.LEDGER_TABLES.items():
        model = _TABLES[name]
        columns.append(select(func.count()).select_from(model).scalar_subquery())
        columns.append(select(func.max(getattr(model, ts_col))).scalar_subquery())
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(*columns))).one()
    return [(name, int(row[2 * i]), row[2 * i + 1]) for i, name in enumerate(schema.LEDGER_TABLES)]


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
    """The newest stored bar of each (symbol, timeframe) — the forming bars at restart."""
    c = schema.Candle
    newest = (
        select(c.symbol, c.timeframe, func.max(c.ts).label("ts"))
        .where(c.venue == venue, c.symbol.in_(list(symbols)))
        .group_by(c.symbol, c.timeframe)
        .subquery()
    )
    stmt = (
        select(c)
        .join(
            newest,
            (c.symbol == newest.c.symbol)
            & (c.timeframe == newest.c.timeframe)
            & (c.ts == newest.c.ts),
        )
        .where(c.venue == venue)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        Candle(r.venue, r.symbol, r.timeframe, r.ts, r.open, r.high, r.low, r.close, r.volume)
        for r in rows
    ]


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
    """Stream bars oldest first without loading them all (a chunk at a time: the event loop
    turns between chunks, so a year of bars never stalls a desk for long)."""
    c = schema.Candle
    stmt = select(c).where(c.symbol == symbol, c.timeframe == timeframe)
    if venue:
        stmt = stmt.where(c.venue == venue)
    if since:
        stmt = stmt.where(c.ts >= since)
    if until:
        stmt = stmt.where(c.ts < until)
    stmt = stmt.order_by(c.venue, c.ts)
    async with db.engine.connect() as conn:
        result = await conn.stream(stmt.execution_options(yield_per=chunk))
        async for r in result:
            yield Candle(
                r.venue, r.symbol, r.timeframe, r.ts, r.open, r.high, r.low, r.close, r.volume
            )


async def venues_with_candles(db: Database, symbol: str, timeframe: str) -> list[str]:
    c = schema.Candle
    stmt = select(c.venue).where(c.symbol == symbol, c.timeframe == timeframe).distinct()
    async with db.engine.connect() as conn:
        return list((await conn.execute(stmt)).scalars())


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
    stmt = _filtered(
        table, since=since, until=until, search=search, symbol=symbol, simulated=simulated
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt.limit(limit).offset(offset))).all()
    return table_columns(table), [tuple(r) for r in rows]


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
    stmt = _filtered(
        table, since=since, until=until, search=search, symbol=symbol, simulated=simulated
    )
    async with db.engine.connect() as conn:
        result = await conn.stream(stmt.execution_options(yield_per=chunk))
        async for r in result:
            yield tuple(r)


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
        select(func.max(schema.Candle.ts)).where(schema.Candle.venue == market),
    ]
    async with db.engine.connect() as conn:
        for query in checks:
            value = (await conn.execute(query)).scalar()
            if value is not None:
                found.append(value)
    return max(found, default=None)
