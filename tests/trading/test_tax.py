"""The Australian CGT report: financial years, the 12-month discount, totals and the CSV."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.trading.model import Disposal, Fill, Side
from engine.trading.portfolio import Portfolio
from engine.trading.tax import (
    TaxReport,
    TaxRow,
    financial_year,
    held_over_12_months,
    long_term_from,
    report_json,
    tax_report,
    write_csv,
    write_csv_rows,
)

D = Decimal
SYDNEY = ZoneInfo("Australia/Sydney")


def syd(y: int, m: int, d: int, hour: int = 12, minute: int = 0) -> datetime:
    """A Sydney wall-clock time as the aware UTC timestamp the engine stores."""
    return datetime(y, m, d, hour, minute, tzinfo=SYDNEY).astimezone(UTC)


def disposal(
    asset: str,
    acquired: datetime,
    disposed: datetime,
    cost: str,
    proceeds: str,
    quantity: str = "1",
    quote: str = "AUD",
) -> Disposal:
    return Disposal(
        fill_id=f"sell-{asset}-{disposed:%Y%m%d%H%M}",
        lot_id=f"buy-{asset}-{acquired:%Y%m%d%H%M}",
        asset=asset,
        quote=quote,
        acquired_at=acquired,
        disposed_at=disposed,
        quantity=D(quantity),
        cost_base=D(cost),
        proceeds=D(proceeds),
    )


def test_financial_year_runs_from_1_july_to_1_july_local_time() -> None:
    assert financial_year(2025) == (
        datetime(2024, 6, 30, 14, tzinfo=UTC),
        datetime(2025, 6, 30, 14, tzinfo=UTC),
    )
    assert financial_year(2025, "Australia/Perth")[0] == datetime(2024, 6, 30, 16, tzinfo=UTC)


def test_an_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'Mars/Olympus' is not in this system's time-zone"):
        financial_year(2025, "Mars/Olympus")


@pytest.mark.parametrize(
    ("acquired", "disposed", "long_term"),
    [
        (syd(2024, 1, 1), syd(2025, 1, 1, 23, 59), False),  # the anniversary itself: one short
        (syd(2024, 1, 1), syd(2025, 1, 2, 0, 1), True),
        (syd(2024, 2, 29), syd(2025, 3, 1), False),  # 29 Feb + 1 year is 1 March
        (syd(2024, 2, 29), syd(2025, 3, 2), True),
        (syd(2023, 3, 1), syd(2024, 3, 1), False),  # 366 days, yet not past the anniversary
        (syd(2023, 3, 1), syd(2024, 3, 2), True),
        (syd(2023, 2, 28), syd(2024, 2, 29), True),
        # 10:00 on 1 Jan in Sydney is still 31 Dec in UTC: UTC dates would wrongly qualify this.
        (syd(2024, 1, 1, 10), syd(2025, 1, 1, 12), False),
    ],
)
def test_the_12_month_discount_is_judged_on_local_dates(
    acquired: datetime, disposed: datetime, long_term: bool
) -> None:
    assert held_over_12_months(acquired, disposed) is long_term


@pytest.mark.parametrize(
    ("acquired", "first_long_term"),
    [(syd(2024, 1, 1, 23, 50), syd(2025, 1, 2, 0)), (syd(2024, 2, 29), syd(2025, 3, 2, 0))],
)
def test_a_lot_turns_long_term_at_local_midnight_after_its_anniversary(
    acquired: datetime, first_long_term: datetime
) -> None:
    start = long_term_from(acquired)
    assert start == first_long_term
    assert held_over_12_months(acquired, start)
    assert not held_over_12_months(acquired, start - timedelta(microseconds=1))


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        held_over_12_months(datetime(2024, 1, 1), syd(2025, 6, 1))  # noqa: DTZ001


LAST_NIGHT_OF_FY2025 = syd(2025, 6, 30, 23, 30)  # 13:30 UTC on 30 June
FIRST_MINUTES_OF_FY2026 = syd(2025, 7, 1, 0, 30)  # 14:30 UTC, still 30 June in UTC
DISPOSALS = [
    disposal("BTC", syd(2024, 6, 1), LAST_NIGHT_OF_FY2025, "100", "150"),
    disposal("ETH", syd(2025, 1, 10), FIRST_MINUTES_OF_FY2026, "40", "45"),
    disposal("SOL", syd(2024, 3, 1), syd(2024, 7, 1, 0, 0), "80", "50", quantity="12"),
    disposal("ADA", syd(2024, 1, 1), syd(2024, 6, 30, 23, 59), "5", "7"),
    disposal("BTC", syd(2024, 6, 1), syd(2025, 6, 1, 9), "100", "120"),
    disposal("XRP", syd(2024, 2, 29), syd(2025, 3, 1), "10", "20"),
    disposal("XRP", syd(2024, 2, 29), syd(2025, 3, 2), "10", "15"),
    disposal("BTC", syd(2024, 5, 1), LAST_NIGHT_OF_FY2025, "10", "10"),  # same sale, older lot
]


def test_the_report_holds_the_years_disposals_in_order_with_local_dates() -> None:
    report = tax_report(DISPOSALS, 2025)
    assert [(r.asset, r.acquired, r.disposed, r.gain, r.long_term) for r in report.rows] == [
        ("SOL", date(2024, 3, 1), date(2024, 7, 1), D(-30), False),
        ("XRP", date(2024, 2, 29), date(2025, 3, 1), D(10), False),
        ("XRP", date(2024, 2, 29), date(2025, 3, 2), D(5), True),
        ("BTC", date(2024, 6, 1), date(2025, 6, 1), D(20), False),
        ("BTC", date(2024, 5, 1), date(2025, 6, 30), D(0), True),
        ("BTC", date(2024, 6, 1), date(2025, 6, 30), D(50), True),
    ]
    assert (report.gains, report.losses, report.net, report.long_term_gains) == (85, 30, 55, 55)
    assert report.quote == "AUD" and report.fy == 2025


def test_sales_either_side_of_midnight_on_30_june_land_in_different_years() -> None:
    assert LAST_NIGHT_OF_FY2025.date() == FIRST_MINUTES_OF_FY2026.date()  # same UTC date
    assert [r.asset for r in tax_report(DISPOSALS, 2026).rows] == ["ETH"]
    assert [r.disposed for r in tax_report(DISPOSALS, 2024).rows] == [date(2024, 6, 30)]


def test_a_disposal_in_another_quote_currency_is_refused_by_name() -> None:
    usdt = disposal("BTC", syd(2024, 8, 1), syd(2025, 2, 1), "100", "90", quote="USDT")
    with pytest.raises(ValueError, match=r"FY2025 .* \(1 in USDT\)"):
        tax_report([*DISPOSALS, usdt], 2025)
    assert len(tax_report([*DISPOSALS, usdt], 2024).rows) == 1  # outside that year: no matter


def small_report() -> TaxReport:
    return TaxReport(
        fy=2025,
        quote="AUD",
        rows=(
            TaxRow("SOL", date(2024, 3, 1), date(2024, 7, 1), D(12), D(80), D(50), D(-30), False),
            TaxRow(
                "BTC",
                date(2024, 6, 1),
                date(2025, 6, 30),
                D("1E-8"),
                D("100.25"),
                D("1.5E+2"),
                D("49.75"),
                True,
            ),
        ),
    )


def test_csv_has_one_plain_row_per_disposal() -> None:
    out = io.StringIO()
    assert write_csv(small_report(), out) == 2
    assert out.getvalue() == (
        "asset,acquired,disposed,quantity,cost_base,proceeds,gain,held_over_12_months\n"
        "SOL,2024-03-01,2024-07-01,12,80,50,-30,no\n"
        "BTC,2024-06-01,2025-06-30,0.00000001,100.25,150,49.75,yes\n"
    )


def test_csv_from_the_json_report_is_the_same_text() -> None:
    """An attached engine sends the JSON report; the command line writes its CSV from that."""
    direct, attached = io.StringIO(), io.StringIO()
    write_csv(small_report(), direct)
    as_sent = report_json(small_report())
    assert "held_over_12_months" in as_sent["rows"][0]  # a field the CSV writes as yes/no
    as_sent["rows"][0]["note"] = "a field a newer engine may send"  # not a CSV column
    assert write_csv_rows(as_sent, attached) == 2
    assert attached.getvalue() == direct.getvalue()
    assert "\r" not in attached.getvalue()


def test_json_report_keeps_amounts_exact_and_adds_the_totals() -> None:
    assert report_json(small_report()) == {
        "fy": 2025,
        "quote": "AUD",
        "rows": [
            {
                "asset": "SOL",
                "acquired": "2024-03-01",
                "disposed": "2024-07-01",
                "quantity": "12",
                "cost_base": "80",
                "proceeds": "50",
                "gain": "-30",
                "held_over_12_months": False,
            },
            {
                "asset": "BTC",
                "acquired": "2024-06-01",
                "disposed": "2025-06-30",
                "quantity": "0.00000001",
                "cost_base": "100.25",
                "proceeds": "150",
                "gain": "49.75",
                "held_over_12_months": True,
            },
        ],
        "totals": {"gains": "49.75", "losses": "30", "net": "19.75", "long_term_gains": "49.75"},
    }


def test_portfolio_disposals_feed_the_report() -> None:
    def fill(fill_id: str, side: Side, quantity: str, price: str, at: datetime) -> Fill:
        return Fill(
            fill_id, fill_id, "sim", "ETH/AUD", side, D(quantity), D(price), D(1), "taker", at
        )

    p = Portfolio({"AUD": D(10_000)})
    p.apply(fill("b1", Side.BUY, "2", "1000", syd(2024, 1, 1, 9)))
    p.apply(fill("s1", Side.SELL, "1", "1500", syd(2025, 1, 1, 20)))
    p.apply(fill("s2", Side.SELL, "1", "1600", syd(2025, 1, 2, 8)))
    rows = tax_report(p.disposals, 2025).rows
    assert [(r.cost_base, r.proceeds, r.gain, r.long_term) for r in rows] == [
        (D("1000.5"), 1499, D("498.5"), False),  # sold on the anniversary
        (D("1000.5"), 1599, D("598.5"), True),
    ]


def test_gains_and_losses_under_a_dollar_count_in_the_totals() -> None:
    report = tax_report(
        [
            disposal("ADA", syd(2023, 8, 1), syd(2024, 9, 1), "1", "1.5"),  # +0.5, long term
            disposal("ADA", syd(2024, 8, 1), syd(2024, 9, 2), "2", "2.01"),  # +0.01
            disposal("XRP", syd(2024, 8, 1), syd(2024, 9, 3), "1", "0.75"),  # -0.25
            disposal("XRP", syd(2024, 8, 1), syd(2024, 9, 4), "1", "1"),  # nil
        ],
        2025,
    )
    assert (report.gains, report.losses, report.net, report.long_term_gains) == (
        D("0.51"),
        D("0.25"),
        D("0.26"),
        D("0.5"),
    )


@pytest.fixture
def sydney_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's own zone set to Sydney, so local time and UTC differ."""
    monkeypatch.setenv("TZ", "Australia/Sydney")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("sydney_machine")
def test_year_bounds_and_the_discount_date_are_utc_whatever_the_machines_zone() -> None:
    start, end = financial_year(2025)
    assert (start.isoformat(), end.isoformat()) == (
        "2024-06-30T14:00:00+00:00",
        "2025-06-30T14:00:00+00:00",
    )
    assert long_term_from(syd(2024, 1, 1)).isoformat() == "2025-01-01T13:00:00+00:00"


def test_the_report_judges_year_and_discount_in_the_zone_it_is_given() -> None:
    # 00:30 on 1 July in Sydney is 22:30 on 30 June in Perth: FY2025 there, not FY2026.
    perth = tax_report(DISPOSALS, 2025, tz="Australia/Perth")
    assert [r.asset for r in perth.rows][-1] == "ETH"
    assert [r.asset for r in tax_report(DISPOSALS, 2025).rows].count("ETH") == 0
    # Bought 23:30 on 1 Jan 2024 in Sydney (20:30 in Perth), sold at midnight starting 2 Jan 2025
    # in Sydney (21:00 on 1 Jan in Perth): past the anniversary in Sydney, on it in Perth.
    bought = syd(2024, 1, 1, 23, 30)
    on_the_day = disposal("SOL", bought, syd(2025, 1, 2, 0, 0), "1", "2")
    [row] = tax_report([on_the_day], 2025, tz="Australia/Perth").rows
    assert (row.acquired, row.disposed, row.long_term) == (
        date(2024, 1, 1),
        date(2025, 1, 1),
        False,
    )
    [row] = tax_report([on_the_day], 2025).rows
    assert (row.acquired, row.disposed, row.long_term) == (date(2024, 1, 1), date(2025, 1, 2), True)


def test_disposals_in_other_quote_currencies_are_counted_per_currency() -> None:
    foreign = [
        disposal("BTC", syd(2024, 8, 1), syd(2025, 2, 1), "100", "90", quote="USDT"),
        disposal("ETH", syd(2024, 8, 1), syd(2025, 2, 2), "100", "90", quote="USDT"),
        disposal("SOL", syd(2024, 8, 1), syd(2025, 2, 3), "100", "90", quote="EUR"),
    ]
    with pytest.raises(
        ValueError,
        match=r"^FY2025 has disposals not quoted in AUD \(1 in EUR, 2 in USDT\); the tax report"
        r" needs every amount in AUD$",
    ):
        tax_report([*DISPOSALS, *foreign], 2025)


def test_each_row_carries_its_disposals_amounts() -> None:
    [row] = tax_report(
        [disposal("ADA", syd(2024, 8, 1), syd(2024, 9, 1), "3", "5", "12.5")], 2025
    ).rows
    assert (row.asset, row.quantity, row.cost_base, row.proceeds, row.gain) == (
        "ADA",
        D("12.5"),
        3,
        5,
        2,
    )


def test_a_nil_gain_is_written_as_zero_whatever_its_sign() -> None:
    nil = TaxRow(
        "ADA", date(2024, 8, 1), date(2024, 9, 1), D(1), D("-0"), D("-0.00"), D("-0"), False
    )
    report = TaxReport(fy=2025, quote="AUD", rows=(nil,))
    out = io.StringIO()
    write_csv(report, out)
    assert out.getvalue().splitlines()[1] == "ADA,2024-08-01,2024-09-01,1,0,0.00,0,no"
    assert report_json(report)["totals"] == {
        "gains": "0",
        "losses": "0",
        "net": "0",
        "long_term_gains": "0",
    }
