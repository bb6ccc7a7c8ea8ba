"""Data quality of the ledgers: completeness, timeliness and accuracy per ledger and source.

Each score is 0..1. A source's score is the mean of its three; a ledger's is the mean of its
sources; the overall score is the mean of the ledgers that have any source. Thresholds decide
the alert, not the scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from ledgers import schema, series
from ledgers.database import Database
from ledgers.provenance import from_data, is_simulated

# Ticks are judged on a sample (see ``_tick_sources``): these are their rules.
_TICK_ACCURATE = and_(
    schema.Ticker.last > 0,
    or_(
        schema.Ticker.bid.is_(None),
        schema.Ticker.ask.is_(None),
        schema.Ticker.bid <= schema.Ticker.ask,
    ),
)
_TICK_INCOMPLETE = or_(schema.Ticker.bid.is_(None), schema.Ticker.ask.is_(None))
TICK_SAMPLE = 6_000  # ticks judged at most, shared among the markets (500 each of 12)
TICK_SAMPLE_MIN = 100  # ticks judged at least per market

# Where each other ledger's rows live and how they are judged: the timestamp column, the grouping
# column that names the source, and the condition a row must meet to count as accurate.
_TABLES = [
    (
        "glass",
        schema.GlassMetricRow,
        schema.GlassMetricRow.ts,
        schema.GlassMetricRow.source,
        # Levels are never negative; changes (…_pct) may be.
        or_(
            schema.GlassMetricRow.value >= 0,
            schema.GlassMetricRow.metric.like("%\\_pct", escape="\\"),
        ),
        None,
    ),
    (
        "human",
        schema.HumanItemRow,
        schema.HumanItemRow.published,
        schema.HumanItemRow.source,
        and_(
            schema.HumanItemRow.score >= -1,
            schema.HumanItemRow.score <= 1,
            schema.HumanItemRow.title != "",
        ),
        schema.HumanItemRow.body == "",
    ),
    (
        "human",
        schema.MoodReadingRow,
        schema.MoodReadingRow.ts,
        schema.MoodReadingRow.source,
        and_(schema.MoodReadingRow.value >= 0, schema.MoodReadingRow.value <= 100),
        schema.MoodReadingRow.label == "",
    ),
    (
        "catalyst",
        schema.CatalystEventRow,
        schema.CatalystEventRow.occurred,
        schema.CatalystEventRow.source,
        and_(
            schema.CatalystEventRow.impact >= 1,
            schema.CatalystEventRow.impact <= 10,
            schema.CatalystEventRow.url != "",
        ),
        schema.CatalystEventRow.title == "",
    ),
]
LEDGERS = ("exchange", "glass", "human", "catalyst")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a score is bad enough to alert, and what "late" means per ledger."""

    alert_below: float = 0.7
    window: timedelta = timedelta(hours=24)
    expected_every: dict[str, timedelta] = field(
        default_factory=lambda: {
            "exchange": timedelta(minutes=1),
            "glass": timedelta(hours=2),
            "human": timedelta(hours=1),
            "catalyst": timedelta(days=2),
        }
    )


@dataclass(frozen=True, slots=True)
class SourceQuality:
    ledger: str
    source: str
    rows: int
    newest: datetime | None
    completeness: float  # share of rows with every optional field present
    timeliness: float  # 1 while the newest row is within the expected interval, falling to 0
    accuracy: float  # share of rows passing the ledger's sanity rules
    estimated: bool = False  # rows is an estimate: the shares were judged on a sample

    @property
    def score(self) -> float:
        return round((self.completeness + self.timeliness + self.accuracy) / 3, 4)


@dataclass(frozen=True, slots=True)
class QualityReport:
    at: datetime
    sources: tuple[SourceQuality, ...]
    ledgers: dict[str, float]
    overall: float
    alert_below: float

    @property
    def alert(self) -> bool:
        return self.overall < self.alert_below

    def failing(self) -> list[str]:
        """Ledgers and sources under the alert threshold, for the alert's message."""
        bad = [
            f"{name} {score:.2f}"
            for name, score in self.ledgers.items()
            if score < self.alert_below
        ]
        bad += [
            f"{s.ledger}/{s.source} {s.score:.2f}"
            for s in self.sources
            if s.score < self.alert_below
        ]
        return bad


def timeliness(newest: datetime | None, now: datetime, expected: timedelta) -> float:
    """1.0 up to twice the expected interval late, then falling linearly to 0 at ten times."""
    if newest is None:
        return 0.0
    late = (now - newest) / expected
    if late <= 2:
        return 1.0
    return max(0.0, 1.0 - (late - 2) / 8)


async def measure(
    db: Database,
    now: datetime,
    thresholds: Thresholds | None = None,
    expected: Mapping[str, Iterable[str]] | None = None,
    *,
    simulated: bool | None = None,
) -> QualityReport:
    """Score every source with rows in the window; ``expected`` sources (per ledger) that
    wrote nothing score zero, so a silent collector pulls its ledger down. ``simulated``
    judges only the simulated market's sources (True) or only real ones (False)."""
    t = thresholds or Thresholds()
    since = now - t.window
    sources: list[SourceQuality] = []
    async with db.engine.connect() as conn:
        sources += await _tick_sources(conn, since, now, t, simulated)
        for ledger, model, ts, source, accurate, incomplete in _TABLES:
            missing = (
                func.sum(case((incomplete, 1), else_=0)) if incomplete is not None else func.sum(0)
            )
            # Grouped on an expression, not the column: SQLite would otherwise walk the whole
            # table along its primary key (source first) to group it, where the window's rows
            # are a seek on the time index away (a year of news: 23 ms against 1).
            grouped = func.coalesce(source, "")
            stmt = (
                select(
                    grouped,
                    func.count(),
                    func.max(ts),
                    func.sum(case((accurate, 1), else_=0)),
                    missing,
                )
                .select_from(model)
                .where(ts >= since)
                .group_by(grouped)
            )
            if simulated is not None:
                stmt = stmt.where(from_data(source, simulated))
            for name, rows, newest, good, gaps in (await conn.execute(stmt)).all():
                rows = int(rows)
                sources.append(
                    SourceQuality(
                        ledger,
                        name,
                        rows,
                        newest,
                        1.0 - int(gaps or 0) / rows if rows else 0.0,
                        timeliness(newest, now, t.expected_every[ledger]),
                        int(good or 0) / rows if rows else 0.0,
                    )
                )
    for ledger, names in (expected or {}).items():
        for name in names:
            seen = any(
                s.ledger == ledger and (s.source == name or s.source.startswith(f"{name}:"))
                for s in sources
            )
            if not seen:
                sources.append(SourceQuality(ledger, name, 0, None, 0.0, 0.0, 0.0))
    ledgers: dict[str, float] = {}
    for ledger in LEDGERS:
        scores = [s.score for s in sources if s.ledger == ledger]
        if scores:
            ledgers[ledger] = round(sum(scores) / len(scores), 4)
    overall = round(sum(ledgers.values()) / len(ledgers), 4) if ledgers else 0.0
    return QualityReport(now, tuple(sources), ledgers, overall, t.alert_below)


async def _tick_sources(
    conn: Any, since: datetime, now: datetime, t: Thresholds, simulated: bool | None
) -> list[SourceQuality]:
    """The Exchange ledger's venues, judged on the newest ticks of each market in the window
    rather than on all of them (a day at the defaults is 207,000 ticks; a year of markets, a
    seek each, is read in milliseconds). A market with fewer ticks in the window than its share
    of the sample is judged whole and counted; a fuller one's rows in the window are estimated
    from its sample's rate, and said to be."""
    markets = [
        m
        for m in await series.series(conn, "tickers")
        if simulated is None or is_simulated(m[0]) == simulated
    ]
    if not markets:
        return []
    each = max(TICK_SAMPLE_MIN, TICK_SAMPLE // len(markets))
    tick = schema.Ticker
    judged = [
        tick.venue,
        tick.symbol,
        tick.ts,
        case((_TICK_ACCURATE, 1), else_=0).label("good"),
        case((_TICK_INCOMPLETE, 1), else_=0).label("gap"),
    ]
    venues: dict[str, list[float]] = {}  # rows, good, gaps, judged
    newest: dict[str, datetime] = {}
    estimated: set[str] = set()
    for part in series.chunks(markets):
        sample = series.newest_of_each("tickers", part, each, columns=judged, since=since)
        stmt = select(
            sample.c.venue,
            func.count(),
            func.min(sample.c.ts),
            func.max(sample.c.ts),
            func.sum(sample.c.good),
            func.sum(sample.c.gap),
        ).group_by(sample.c.venue, sample.c.symbol)
        for venue, n, oldest, last, good, gaps in (await conn.execute(stmt)).all():
            n = int(n)
            rows = float(n)
            if n >= each and last > oldest:  # a full sample: the window holds more
                rows = 1 + (n - 1) * (last - since) / (last - oldest)
                estimated.add(venue)
            totals = venues.setdefault(venue, [0.0, 0.0, 0.0, 0.0])
            totals[0] += rows
            totals[1] += int(good or 0)
            totals[2] += int(gaps or 0)
            totals[3] += n
            newest[venue] = max(last, newest.get(venue, last))
    return [
        SourceQuality(
            "exchange",
            venue,
            round(rows),
            newest[venue],
            1.0 - gaps / n,
            timeliness(newest[venue], now, t.expected_every["exchange"]),
            good / n,
            venue in estimated,
        )
        for venue, (rows, good, gaps, n) in sorted(venues.items())
    ]
