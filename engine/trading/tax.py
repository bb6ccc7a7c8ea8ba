"""The Australian capital-gains report: every disposal in a financial year, 1 July – 30 June.

Years, days and the 12-month discount are judged on the local calendar (Sydney by default),
not UTC: a sale at 00:30 on 1 July in Sydney is in the new financial year although it is still
30 June in UTC.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.trading.model import ZERO, Disposal

SYDNEY = "Australia/Sydney"
CSV_HEADER = (
    "asset",
    "acquired",
    "disposed",
    "quantity",
    "cost_base",
    "proceeds",
    "gain",
    "held_over_12_months",
)


@cache
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {tz!r} is not in this system's time-zone database"
            " (install the tzdata package, or give a name such as Australia/Sydney)"
        ) from None


def _local_date(moment: datetime, tz: str) -> date:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone; timestamps must be aware UTC")
    return moment.astimezone(_zone(tz)).date()


def financial_year(fy: int, tz: str = SYDNEY) -> tuple[datetime, datetime]:
    """FY``fy`` as [start, end) in aware UTC: FY2025 is 1 July 2024 to 1 July 2025, local time."""
    zone = _zone(tz)
    start = datetime(fy - 1, 7, 1, tzinfo=zone)
    end = datetime(fy, 7, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _one_year_on(day: date) -> date:
    if day.month == 2 and day.day == 29:
        return date(day.year + 1, 3, 1)
    return day.replace(year=day.year + 1)


def held_over_12_months(acquired: datetime, disposed: datetime, tz: str = SYDNEY) -> bool:
    """Whether a disposal qualifies for the CGT discount on its holding period."""
    # The ATO's test: the asset must be held for at least 12 months, and neither the day it
    # was acquired nor the day it was disposed of counts towards those 12 months. So the
    # disposal has to fall on a local date after the first anniversary of the acquisition
    # (an asset bought on 29 February reaches its anniversary on 1 March).
    return _local_date(disposed, tz) > _one_year_on(_local_date(acquired, tz))


def long_term_from(acquired: datetime, tz: str = SYDNEY) -> datetime:
    """The first moment (aware UTC) at which disposing of an asset acquired then is long-term."""
    day = _one_year_on(_local_date(acquired, tz)) + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=_zone(tz)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TaxRow:
    """One disposal as the ATO sees it; dates are local calendar dates."""

    asset: str
    acquired: date
    disposed: date
    quantity: Decimal
    cost_base: Decimal
    proceeds: Decimal
    gain: Decimal  # negative for a capital loss
    long_term: bool  # held over 12 months: eligible for the CGT discount


@dataclass(frozen=True, slots=True)
class TaxReport:
    fy: int
    rows: tuple[TaxRow, ...]
    quote: str

    @property
    def gains(self) -> Decimal:
        """Capital gains before losses and before the discount."""
        return sum((row.gain for row in self.rows if row.gain > 0), ZERO)

    @property
    def losses(self) -> Decimal:
        """Capital losses as a positive amount."""
        return -sum((row.gain for row in self.rows if row.gain < 0), ZERO)

    @property
    def net(self) -> Decimal:
        return self.gains - self.losses

    @property
    def long_term_gains(self) -> Decimal:
        """The part of ``gains`` from assets held over 12 months (discount eligible)."""
        return sum((row.gain for row in self.rows if row.gain > 0 and row.long_term), ZERO)


def tax_report(
    disposals: Iterable[Disposal], fy: int, *, quote: str = "AUD", tz: str = SYDNEY
) -> TaxReport:
    """The disposals made in FY``fy`` (local time), by disposal time then acquisition time.

    Raises ValueError when a disposal in the year is in another quote currency: its amounts
    would need converting to ``quote`` first, and a report that silently left it out would be
    wrong.
    """
    start, end = financial_year(fy, tz)
    in_year = [d for d in disposals if start <= d.disposed_at < end]
    foreign: dict[str, int] = {}
    for disposal in in_year:
        if disposal.quote != quote:
            foreign[disposal.quote] = foreign.get(disposal.quote, 0) + 1
    if foreign:
        named = ", ".join(f"{count} in {currency}" for currency, count in sorted(foreign.items()))
        raise ValueError(
            f"FY{fy} has disposals not quoted in {quote} ({named}); the tax report needs"
            f" every amount in {quote}"
        )
    in_year.sort(key=lambda d: (d.disposed_at, d.acquired_at))
    rows = tuple(
        TaxRow(
            asset=d.asset,
            acquired=_local_date(d.acquired_at, tz),
            disposed=_local_date(d.disposed_at, tz),
            quantity=d.quantity,
            cost_base=d.cost_base,
            proceeds=d.proceeds,
            gain=d.gain,
            long_term=held_over_12_months(d.acquired_at, d.disposed_at, tz),
        )
        for d in in_year
    )
    return TaxReport(fy=fy, rows=rows, quote=quote)


def _plain(value: Decimal) -> str:
    """A Decimal as written by hand: no exponent, and no "-0"."""
    return format(abs(value) if value.is_zero() else value, "f")


def _row_fields(row: TaxRow) -> dict[str, str]:
    return {
        "asset": row.asset,
        "acquired": row.acquired.isoformat(),
        "disposed": row.disposed.isoformat(),
        "quantity": _plain(row.quantity),
        "cost_base": _plain(row.cost_base),
        "proceeds": _plain(row.proceeds),
        "gain": _plain(row.gain),
        "held_over_12_months": "yes" if row.long_term else "no",
    }


def write_csv(report: TaxReport, out: TextIO) -> int:
    """Write the report's rows as CSV under a header line; returns the rows written."""
    writer = csv.DictWriter(out, fieldnames=CSV_HEADER, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow(_row_fields(row))
    return len(report.rows)


def write_csv_rows(report: dict[str, Any], out: TextIO) -> int:
    """The CSV of a report as ``report_json`` gives it (what an attached engine sends)."""
    writer = csv.DictWriter(out, fieldnames=CSV_HEADER, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in report["rows"]:
        held = row["held_over_12_months"]
        writer.writerow({**row, "held_over_12_months": "yes" if held is True else "no"})
    return len(report["rows"])


def report_json(report: TaxReport) -> dict[str, Any]:
    """The report for ``--json``: amounts as exact strings, rows plus the year's totals."""
    return {
        "fy": report.fy,
        "quote": report.quote,
        "rows": [{**_row_fields(row), "held_over_12_months": row.long_term} for row in report.rows],
        "totals": {
            "gains": _plain(report.gains),
            "losses": _plain(report.losses),
            "net": _plain(report.net),
            "long_term_gains": _plain(report.long_term_gains),
        },
    }
