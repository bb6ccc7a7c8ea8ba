"""Report figures: which numbers count, which citation applies, when a result value matches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.tracing import (
    UNTRACED_TAG,
    cite,
    extract_figures,
    fmt,
    mark_untraced,
    trace,
)

Number = Decimal | float | int | str

REPORT = """\
# ETH/AUD momentum study — 2026-12-07

## 1. Summary

The 14-bar RSI on the 1h chart averaged 61.2 [r3] and the best model's hit rate was 54.1% [r7].
ETH/AUD closed at A$4,210.55 [r1], up +3.4% [r1], while the 4h MACD histogram ended at -0.82 [r3].

## 2. Data

1. Candles: 8,760 hourly bars [r1] from 2025-12-07 to 2026-12-07T14:30:00Z.
2. Headlines scored: 1.2k [r2], with a mean sentiment of 0.31 [r2].
3) Traded volume: AUD 3.4M [r1].

## 3. Models

| Model | Hit rate | Sharpe | Max drawdown |
|---|---:|---:|---:|
| baseline | 50.2% [r7] | 0.41 [r7] | −12.5% [r7] |
| ma_cross_20 | **54.1%** [r7] | 1.07 [r7] | −8.3% [r7] |

The p-value was 3e-3 [r7]; fees cost $1,234.50 [r8] by 14:30 UTC.

```python
rsi = talib.RSI(close, timeperiod=14)
```
"""

RESULTS: dict[str, object] = {
    "r1": {
        "symbol": "ETH/AUD",
        "timeframe": "1h",
        "bars": 8760,
        "close": "4210.55",
        "change": 0.0342,
        "volume": 3412345.6,
    },
    "r2": {"headlines": 1187, "sentiment": {"mean": 0.3142}},
    "r3": {
        "params": {"window": 14},
        "rsi": {"mean": 61.234},
        "macd": {"histogram": [-0.5, -0.8213]},
    },
    "r7": {
        "models": [
            {"name": "baseline", "hit_rate": 0.5021, "sharpe": 0.4104, "max_drawdown": -0.125},
            {"name": "ma_cross_20", "hit_rate": 0.541, "sharpe": 1.0718, "max_drawdown": -0.0834},
        ],
        "p_value": 0.0031,
    },
    "r8": {"fees": {"total": "1234.5", "paid": True}},
}


def texts(markdown: str) -> list[str]:
    return [figure.text for figure in extract_figures(markdown)]


def only(markdown: str, results: dict[str, object]) -> bool:
    """Whether the one figure in ``markdown`` traces."""
    (found,) = trace(markdown, results).traces
    return found.traced


# --- what counts as a figure -------------------------------------------------------------------


def test_a_realistic_report_yields_its_figures_and_nothing_else() -> None:
    assert texts(REPORT) == [
        "61.2", "54.1%", "A$4,210.55", "+3.4%", "-0.82", "8,760", "1.2k", "0.31", "AUD 3.4M",
        "50.2%", "0.41", "−12.5%", "54.1%", "1.07", "−8.3%", "3e-3", "$1,234.50", "14",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "markdown",
    [
        "r7 RSI14 ma_cross_20 v1.2.3 MA-50 14-bar 20_day",
        "1h/4h, 15m and 1d candles",
        "2026-12-07, 14:30, 09:15:00 and 2026-12-07T14:30:00Z or 2026-12-07 14:30:00+10:00",
        "1. first\n2) second\n   10. nested\n> 4. quoted",
        "## 3. Results\n### 2.1 Data\n# 4 Outlook",
        "[r3] [r3, r7] [r12,r7]",
        "see https://example.com/runs/1234?bars=500",
    ],
)
def test_names_dates_markers_citations_and_links_are_not_figures(markdown: str) -> None:
    assert texts(markdown) == []


@pytest.mark.parametrize(
    ("written", "value", "places", "step"),
    [
        ("61.2", "61.2", 1, "0.1"),
        ("1,234.5", "1234.5", 1, "0.1"),
        ("1,234,567", "1234567", 0, "1"),
        ("-3", "-3", 0, "1"),
        ("−3.25", "-3.25", 2, "0.01"),
        ("+4", "4", 0, "1"),
        ("1.25k", "1250", 2, "10"),
        ("3.4M", "3400000", 1, "100000"),
        ("2B", "2000000000", 0, "1000000000"),
        ("1e-3", "0.001", 0, "0.001"),
        ("2.5E6", "2500000", 1, "100000"),
    ],
)
def test_a_figure_has_its_value_places_and_step(
    written: str, value: str, places: int, step: str
) -> None:
    (figure,) = extract_figures(f"It was {written} then.")
    assert (figure.text, figure.value, figure.places, figure.step) == (
        written,
        Decimal(value),
        places,
        Decimal(step),
    )


@pytest.mark.parametrize(
    ("written", "currency", "value", "signed"),
    [
        ("$1,234.50", "$", "1234.50", False),
        ("A$6", "A$", "6", False),
        ("AUD 1,234", "AUD", "1234", False),
        ("-$12", "$", "-12", True),
        ("A$-12", "A$", "-12", True),
        ("+€3", "€", "3", True),
    ],
)
def test_currency_and_sign_are_part_of_a_figure(
    written: str, currency: str, value: str, signed: bool
) -> None:
    (figure,) = extract_figures(f"Fees ({written}) were paid.")
    assert (figure.text, figure.currency, figure.value, figure.signed) == (
        written,
        currency,
        Decimal(value),
        signed,
    )


def test_a_percentage_keeps_its_value_in_percent() -> None:
    (figure,) = extract_figures("Hit rate 54.1%.")
    assert (figure.percent, figure.value) == (True, Decimal("54.1"))


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("A 3-5% move.", ["3", "5%"]),
        ("A 3/5 ratio.", ["3", "5"]),
        ("Bold **61.2** and italic _61.2_ and code `61.2`.", ["61.2", "61.2", "61.2"]),
        ("RSI fell (-3.2%) to 61.", ["-3.2%", "61"]),
        ("A 2.5kg bag and a 3.4Mbps link.", []),
    ],
)
def test_what_stands_next_to_a_number_decides_whether_it_is_a_figure(
    markdown: str, expected: list[str]
) -> None:
    assert texts(markdown) == expected


@pytest.mark.parametrize(
    ("markdown", "citations"),
    [
        ("RSI 61.2 and MACD 0.8 [r3].", [("r3",), ("r3",)]),
        ("RSI 61.2 [r3] and hit rate 54.1% [r7].", [("r3",), ("r7",)]),
        ("Both 61.2 and 54.1% [r3, r7].", [("r3", "r7"), ("r3", "r7")]),
        ("RSI 61.2. Hit rate 54.1% [r7].", [(), ("r7",)]),
        ("RSI 61.2! Hit rate 54.1% [r7]?", [(), ("r7",)]),
        ("| 61.2 | 54.1% [r7] |", [(), ("r7",)]),
        ("RSI 61.2\nhit rate [r3]", [()]),
        ("[r3] says RSI 61.2.", [()]),
    ],
)
def test_a_figure_carries_the_next_citation_in_its_sentence(
    markdown: str, citations: list[tuple[str, ...]]
) -> None:
    assert [figure.citations for figure in extract_figures(markdown)] == citations


# --- tracing -----------------------------------------------------------------------------------


def test_every_figure_of_a_realistic_report_traces() -> None:
    report = trace(REPORT, RESULTS)
    assert [t.path for t in report.traces if not t.traced] == []
    assert (report.figures, report.traced, report.traced_uncited, report.untraced) == (18, 18, 1, 0)
    paths = {t.figure.text: t.path for t in report.traces}
    assert paths["54.1%"] == "r7.models[1].hit_rate"
    assert paths["-0.82"] == "r3.macd.histogram[1]"
    assert paths["AUD 3.4M"] == "r1.volume"
    assert paths["$1,234.50"] == "r8.fees.total"
    assert paths["14"] == "r3.params.window"  # the code block's figure, found uncited


def test_a_planted_figure_is_flagged_and_marked() -> None:
    planted = REPORT.replace("averaged 61.2 [r3]", "averaged 61.9 [r3]").replace(
        "## 2. Data", "An edge of 7.7 points.\n\n## 2. Data"
    )
    report = trace(planted, RESULTS)
    assert [t.figure.text for t in report.traces if not t.traced] == ["61.9", "7.7"]
    assert (report.figures, report.traced, report.untraced) == (19, 17, 2)

    marked = mark_untraced(planted, report)
    assert f"averaged 61.9 {UNTRACED_TAG} [r3]" in marked
    assert f"An edge of 7.7 {UNTRACED_TAG} points." in marked
    assert marked.count(UNTRACED_TAG) == 2
    assert "54.1% [r7]." in marked  # traced figures are left alone
    footer = marked.split("\n---\n")[-1]
    assert "**⚠ Untraced figures (2)**" in footer
    assert "- line 5: 61.9 (cites r3)" in footer
    assert "- line 8: 7.7 (uncited)" in footer


def test_a_fully_traced_report_is_not_marked() -> None:
    assert mark_untraced(REPORT, trace(REPORT, RESULTS)) == REPORT


def test_a_cited_figure_is_looked_for_only_in_the_results_it_cites() -> None:
    results = {"r3": {"rsi": 61.2}, "r7": {"hit_rate": 0.541}}
    assert not only("The hit rate was 54.1% [r3].", results)
    assert not only("The hit rate was 54.1% [r9].", results)
    assert only("The hit rate was 54.1% [r3, r7].", results)
    uncited = trace("The hit rate was 54.1%.", results)
    assert (uncited.traced, uncited.traced_uncited) == (1, 1)
    assert uncited.traces[0].result_id == "r7"


@pytest.mark.parametrize(
    ("figure", "value", "traces"),
    [
        ("61.2", 61.234, True),
        ("61.2", 61.2, True),
        ("61.2", 61.15, True),  # a tie rounds half-up to 61.2
        ("61.2", 61.1499, False),
        ("61.2", 61.2499, True),
        ("61.2", 61.25, False),  # a tie rounds half-up to 61.3
        ("61.2", 61.26, False),
        ("-61.2", -61.15, True),
        ("-61.2", -61.25, False),  # half-up rounds a tie away from zero: -61.3
        ("61", 60.5, True),
        ("61", 61.5, False),
        ("0.0", -0.049, True),
        ("0.0", 0.05, False),
    ],
)
def test_a_value_traces_when_it_rounds_half_up_to_the_figure(
    figure: str, value: float, traces: bool
) -> None:
    assert only(f"It was {figure} [r1].", {"r1": {"x": value}}) is traces
    assert (fmt(value, extract_figures(figure)[0].places) == figure) is traces


@pytest.mark.parametrize(
    ("figure", "value", "traces"),
    [
        ("54.1%", 54.1, True),
        ("54.1%", 0.541, True),
        ("54.1%", 0.5405, True),
        ("54.1%", 0.5415, False),
        ("54.1%", 5.41, False),
        ("54.1", 0.541, False),  # only a percentage matches a fraction
        ("54%", 0.5449, True),
        ("+3.2%", 0.032, True),
        ("+3.2%", -0.032, False),
        ("−3.2%", -0.032, True),
        ("−3.2%", 0.032, False),
        ("3.2%", -0.032, True),  # "fell 3.2%": an unsigned figure matches by magnitude
        ("3.2", -3.2, True),
        ("1.2k", 1249, True),
        ("1.2k", 1250, False),
        ("1.2k", 1150, True),
        ("3.4M", 3_350_000, True),
        ("2B", 2.4e9, True),
        ("2B", 2.5e9, False),
        ("1e-3", 0.0012, True),
        ("1,234.5", "1234.46", True),  # exact amounts arrive as strings
        ("1", True, False),  # a bool is not a number
    ],
)
def test_percentages_signs_and_scales_match_by_their_rules(
    figure: str, value: object, traces: bool
) -> None:
    assert only(f"It was {figure} [r1].", {"r1": {"x": value}}) is traces


# --- rendering figures that trace --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "percent", "signed", "expected"),
    [
        (61.25, 1, False, False, "61.3"),
        (-61.25, 1, False, False, "-61.3"),
        (2.675, 2, False, False, "2.68"),  # a float is read as it prints, not as its binary value
        (1234.5, 2, False, False, "1,234.50"),
        (Decimal("1234567"), 0, False, False, "1,234,567"),
        ("0.5415", 1, True, False, "54.2%"),
        (0.032, 1, True, True, "+3.2%"),
        (-0.032, 1, True, True, "-3.2%"),
        (-0.001, 2, False, False, "0.00"),
        (0, 0, False, True, "0"),
    ],
)
def test_fmt_rounds_half_up(
    value: Number, places: int, percent: bool, signed: bool, expected: str
) -> None:
    assert fmt(value, places, percent=percent, signed=signed) == expected


def test_cite_appends_the_citation() -> None:
    assert cite("r7", 0.541, 1, percent=True) == "54.1% [r7]"


@pytest.mark.parametrize(
    "call",
    [
        lambda: fmt(float("nan"), 1),
        lambda: fmt("1,234", 1),
        lambda: fmt(1.5, -1),
        lambda: cite("7", 1.5, 1),
    ],
)
def test_fmt_and_cite_refuse_what_would_not_trace(call: Callable[[], str]) -> None:
    with pytest.raises(ValueError):
        call()


NUMBERS = (
    st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6)
    | st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str)
)
NAMES = ("ETH/AUD", "1h", "2026-12-07")
LEAVES = NUMBERS | st.booleans() | st.none() | st.sampled_from(NAMES)
NESTED = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["rsi", "hit_rate", "folds", "mean"]), inner, max_size=4)
    ),
    max_leaves=12,
)


def numbers(node: object) -> Iterator[Number]:
    if isinstance(node, dict):
        for child in node.values():
            yield from numbers(child)
    elif isinstance(node, list):
        for child in node:
            yield from numbers(child)
    elif isinstance(node, Number) and not isinstance(node, bool) and node not in NAMES:
        yield node


@given(st.lists(NESTED, min_size=1, max_size=4), st.data())
def test_every_figure_rendered_by_fmt_traces(
    results_list: list[object], data: st.DataObject
) -> None:
    results = {f"r{i}": result for i, result in enumerate(results_list)}
    lines = []
    for rid, result in results.items():
        for value in numbers(result):
            places = data.draw(st.integers(0, 6), label="places")
            percent = data.draw(st.booleans(), label="percent")
            signed = data.draw(st.booleans(), label="signed")
            lines.append(
                f"- The value was {cite(rid, value, places, percent=percent, signed=signed)}."
            )
    report = trace("\n".join(lines), results)
    assert (report.figures, report.traced, report.traced_uncited) == (len(lines), len(lines), 0)
