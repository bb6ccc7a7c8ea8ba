"""The candle chart and the watchlist sparkline, rendered headless and read back as text."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from omc_tui.widgets.chart import CandleChart
from omc_tui.widgets.sparkline import sparkline

T0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday, midnight
CANDLE_GLYPHS = set("│╵╷┃╹╻╿╽")
TOP_HALF_GLYPHS = set("│╵┃╹╿")  # glyphs that reach into the upper half of their cell
BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Candle:
    """Stands in for the engine's frozen candle: the chart only reads the attributes."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 1.0


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CandleChart()


@asynccontextmanager
async def chart_of(
    bars: Sequence[Candle], size: tuple[int, int] = (60, 20), timeframe: str = "1h"
) -> AsyncIterator[CandleChart]:
    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        chart = app.query_one(CandleChart)
        chart.set_bars("XRP/AUD", timeframe, bars)
        await pilot.pause()
        yield chart


def candles(rows: Sequence[tuple[float, float, float, float]], step: int = 3600) -> list[Candle]:
    """(open, high, low, close) rows as consecutive bars ``step`` seconds apart from T0."""
    return [
        Candle(T0 + timedelta(seconds=step * i), o, h, low, c)
        for i, (o, h, low, c) in enumerate(rows)
    ]


def zigzag(count: int, step: int = 3600) -> list[Candle]:
    """Up/down bars in pairs, swinging between 95..99 and 101..105, so any window of a few
    bars spans 95..105 and no single new bar moves the scale."""
    rows: list[tuple[float, float, float, float]] = []
    for i in range(count):
        mid = 100 + (3 if i % 4 < 2 else -3)
        up = (mid - 1, mid + 2, mid - 2, mid + 1)
        down = (mid + 1, mid + 2, mid - 2, mid - 1)
        rows.append(down if i % 2 else up)
    return candles(rows, step)


def lines(chart: CandleChart) -> list[str]:
    return [chart.render_line(y).text for y in range(chart.size.height)]


def style_at(strip: Strip, x: int) -> Style:
    position = 0
    for segment in strip:
        position += segment.cell_length
        if position > x:
            assert segment.style is not None
            return segment.style
    raise AssertionError(f"no cell {x} in {strip.text!r}")


# A 60-column chart of two-decimal prices has a 10-column axis, so bars end at column 49.
AXIS = 50
NEWEST = AXIS - 1


async def test_title_shows_last_ohlc_and_change_from_previous_close() -> None:
    bars = candles([(1.20, 1.24, 1.19, 1.23), (1.23, 1.30, 1.20, 1.25)])
    async with chart_of(bars, size=(80, 12)) as chart:
        title = chart.render_line(0).text.rstrip()
    assert title == "XRP/AUD · 1h · O 1.2300 H 1.3000 L 1.2000 C 1.2500  +1.6%"


@pytest.mark.parametrize(
    ("close", "shown"),
    [
        (140_123.45, "140,123.45"),
        (5_512.3, "5,512.30"),
        (0.35421, "0.35421"),
        (0.00001234, "0.00001234"),
    ],
)
async def test_prices_keep_precision_that_suits_their_magnitude(close: float, shown: str) -> None:
    bars = candles([(close, close, close, close)])
    async with chart_of(bars, size=(100, 10)) as chart:
        title = chart.render_line(0).text
    assert f"C {shown}" in title
    assert "%" not in title  # a single bar has no previous close to compare with


async def test_narrow_title_keeps_close_and_change() -> None:
    bars = candles([(100, 101, 99, 100), (100, 103, 99, 102)])
    async with chart_of(bars, size=(40, 8)) as chart:
        assert chart.render_line(0).text.rstrip() == "XRP/AUD · 1h · C 102.00  +2.0%"


async def test_highest_high_puts_the_newest_wick_on_the_top_row() -> None:
    bars = zigzag(70)
    bars[-1] = replace(bars[-1], high=110.0)
    async with chart_of(bars) as chart:
        top = chart.render_line(1).text
    assert top[NEWEST] in TOP_HALF_GLYPHS
    assert top[:NEWEST].strip(" ┈") == ""
    assert top[AXIS] in "│┤"


async def test_up_and_down_candles_take_their_component_styles() -> None:
    bars = zigzag(70)
    assert bars[-2].close > bars[-2].open and bars[-1].close < bars[-1].open
    async with chart_of(bars) as chart:
        up = chart.get_component_rich_style("candlechart--up").color
        down = chart.get_component_rich_style("candlechart--down").color
        assert up != down
        for column, colour in ((NEWEST - 1, up), (NEWEST, down)):
            glyph_rows = [
                y for y in range(1, 16) if chart.render_line(y).text[column] in CANDLE_GLYPHS
            ]
            assert glyph_rows
            assert {style_at(chart.render_line(y), column).color for y in glyph_rows} == {colour}


async def test_price_axis_labels_are_round_in_range_and_descending() -> None:
    async with chart_of(zigzag(70)) as chart:
        rendered = lines(chart)
        last = chart.get_component_rich_style("candlechart--last")
        ticks = [
            float(m[1].replace(",", ""))
            for y, text in enumerate(rendered)
            if (m := re.match(r"┤ ([\d,.]+)", text[AXIS:]))
            and style_at(chart.render_line(y), AXIS) != last
        ]
    assert 3 <= len(ticks) <= 6
    assert ticks == sorted(ticks, reverse=True) and len(set(ticks)) == len(ticks)
    assert all(95 <= tick <= 105 and tick == round(tick) for tick in ticks)


async def test_last_price_is_labelled_on_the_axis() -> None:
    async with chart_of(zigzag(70)) as chart:
        last = chart.get_component_rich_style("candlechart--last")
        marked = [
            (y, text)
            for y, text in enumerate(lines(chart))
            if y and len(text) > AXIS and style_at(chart.render_line(y), AXIS) == last
        ]
    assert len(marked) == 1
    y, text = marked[0]
    assert text[AXIS:].split() == ["┤", "102.00"]
    assert "┈" in text[:AXIS]


async def test_time_axis_labels_hours_and_midnights() -> None:
    async with chart_of(zigzag(70)) as chart:
        axis = chart.render_line(19).text
    assert "04 Mar" in axis  # midnight names the day
    assert re.search(r"\b(00|12):00\b", axis)


async def test_daily_time_axis_labels_dates() -> None:
    async with chart_of(zigzag(70, step=86400), timeframe="1d") as chart:
        axis = chart.render_line(19).text
    assert re.search(r"\d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)", axis)
    assert ":" not in axis


async def test_update_with_same_open_time_moves_only_the_forming_candle() -> None:
    bars = zigzag(70)
    async with chart_of(bars) as chart:
        before = [chart.render_line(y) for y in range(20)]
        last = bars[-1]
        chart.update_bar(replace(last, close=101.0))  # still a down candle, further down
        after = [chart.render_line(y) for y in range(20)]
    assert "C 101.00" in after[0].text
    changed = [y for y in range(1, 20) if after[y].text != before[y].text]
    assert changed
    for y in changed:
        old, new = before[y].text, after[y].text
        differing = [x for x in range(AXIS) if old[x] != new[x]]
        # only the forming column, the old/new last-price marker rows and the axis may change
        assert set(differing) <= {NEWEST} or "┈" in old + new
    untouched = [y for y in range(1, 20) if y not in changed]
    assert all(after[y] is before[y] for y in untouched), "unchanged rows must come from the cache"


async def test_forming_candle_updates_reach_the_screen() -> None:
    bars = zigzag(70)
    app = ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        chart = app.query_one(CandleChart)
        chart.set_bars("XRP/AUD", "1h", bars)
        await pilot.pause()
        for close in (101.0, 104.5, 99.5):  # the last one widens the scale: a full redraw
            chart.update_bar(replace(bars[-1], close=close, low=min(close, 101.0)))
            await pilot.pause()
            painted = [strip.text for strip in chart.render_lines(Region(0, 0, 60, 20))]
            assert painted == lines(chart)
            assert f"C {close:.2f}" in painted[0]


async def test_theme_change_restyles_cached_rows() -> None:
    app = ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        chart = app.query_one(CandleChart)
        chart.set_bars("XRP/AUD", "1h", zigzag(70))
        await pilot.pause()
        dark = chart.get_component_rich_style("candlechart--up")
        app.theme = "textual-light"
        await pilot.pause()
        up = chart.get_component_rich_style("candlechart--up")
        assert up.color != dark.color
        row = next(
            y for y in range(1, 16) if chart.render_line(y).text[NEWEST - 1] in CANDLE_GLYPHS
        )
        painted = chart.render_lines(Region(0, row, 60, 1))[0]
        assert style_at(painted, NEWEST - 1).color == up.color


async def test_resize_relays_the_chart() -> None:
    app = ChartApp()
    async with app.run_test(size=(60, 20)) as pilot:
        chart = app.query_one(CandleChart)
        chart.set_bars("XRP/AUD", "1h", zigzag(200))
        await pilot.pause()
        await pilot.resize_terminal(100, 12)
        await pilot.pause()
        rendered = lines(chart)
    assert len(rendered) == 12 and all(len(text) == 100 for text in rendered)
    assert not set(BLOCKS) & set("".join(rendered))  # too short for volume now
    assert rendered[1][90] in "│┤"  # a 100-column chart puts its 10-column axis at 90


async def test_update_with_newer_open_time_appends_and_shifts() -> None:
    bars = zigzag(70)
    async with chart_of(bars) as chart:
        before = lines(chart)
        newer = Candle(bars[-1].ts + timedelta(hours=1), 102.0, 105.0, 101.0, 102.0)
        chart.update_bar(newer)
        after = lines(chart)
        chart.update_bar(replace(bars[0], close=1.0))  # a late tick for an old bar is ignored
        assert lines(chart) == after
    for y in range(1, 19):
        assert after[y][: NEWEST - 1] == before[y][1:NEWEST], f"row {y} did not shift"
        assert after[y][NEWEST - 1] == before[y][NEWEST]
    assert CANDLE_GLYPHS & {after[y][NEWEST] for y in range(1, 16)}


async def test_line_style_draws_closes_in_braille_and_toggles_back() -> None:
    async with chart_of(zigzag(70)) as chart:
        chart.toggle_style()
        assert chart.style == "line"
        plot = "".join(text[:AXIS] for text in lines(chart)[1:16])
        assert any("\u2800" < char <= "\u28ff" for char in plot)
        assert not CANDLE_GLYPHS & set(plot)
        chart.toggle_style()
        assert chart.style == "candles"
        assert CANDLE_GLYPHS & set("".join(lines(chart)))


async def test_volume_bars_fill_the_bottom_of_a_tall_chart() -> None:
    bars = [replace(bar, volume=float(i + 1)) for i, bar in enumerate(zigzag(70))]
    async with chart_of(bars) as chart:
        rendered = lines(chart)
    volume_rows = [text[:AXIS] for text in rendered[16:19]]
    assert volume_rows[-1][NEWEST] == "█"  # the biggest volume fills its column
    assert all(set(row) <= set(BLOCKS + " ") for row in volume_rows)
    assert not set(BLOCKS) & set("".join(rendered[1:16]))


@pytest.mark.parametrize("size", [(5, 1), (10, 2), (20, 3), (30, 6), (60, 20), (140, 40)])
@pytest.mark.parametrize(
    "bars",
    [
        [],
        candles([(2.5, 2.5, 2.5, 2.5)]),
        candles([(7.0, 7.0, 7.0, 7.0)] * 30),
        candles([(0.0, 0.0, 0.0, 0.0)] * 3),
        zigzag(200),
    ],
    ids=["empty", "one", "flat", "zero", "many"],
)
async def test_any_size_and_degenerate_data_render(
    size: tuple[int, int], bars: list[Candle]
) -> None:
    async with chart_of(bars, size=size) as chart:
        chart.toggle_style()
        line_mode = lines(chart)
        chart.toggle_style()
        rendered = lines(chart)
    assert len(rendered) == size[1] and all(len(text) == size[0] for text in rendered)
    assert len(line_mode) == size[1]
    assert rendered[0].startswith("XRP/AUD"[: size[0]])
    if not bars and size[0] >= 30 and size[1] > 1:
        assert any("no data for XRP/AUD 1h" in text for text in rendered)
    if bars and size[1] >= 3:
        assert CANDLE_GLYPHS & set("".join(rendered[1:]))


async def test_flat_prices_sit_mid_chart() -> None:
    async with chart_of(candles([(7.0, 7.0, 7.0, 7.0)] * 10)) as chart:
        rows = [y for y, text in enumerate(lines(chart)) if CANDLE_GLYPHS & set(text[:AXIS])]
    assert rows and all(6 <= y <= 10 for y in rows)


async def test_clear_shows_a_centred_message_and_ignores_ticks() -> None:
    async with chart_of(zigzag(10), size=(40, 9)) as chart:
        chart.clear("loading…")
        chart.update_bar(zigzag(11)[-1])
        rendered = lines(chart)
        assert rendered[4] == "loading…".center(40)
        assert all(not text.strip() for y, text in enumerate(rendered) if y != 4)
        chart.set_bars("XRP/AUD", "1h", zigzag(10))
        assert lines(chart)[0].startswith("XRP/AUD · 1h · C 102.00")


async def test_same_data_renders_the_same() -> None:
    async with chart_of(zigzag(120), size=(90, 30)) as chart:
        first = lines(chart)
    async with chart_of(zigzag(120), size=(90, 30)) as chart:
        assert lines(chart) == first


def test_sparkline_is_exactly_width_characters() -> None:
    for width in (1, 5, 12, 40):
        for values in ([], [1.0], [3.0, 1.0, 2.0], [float(i % 7) for i in range(100)]):
            assert len(sparkline(values, width)) == width
    assert sparkline([1.0, 2.0], 0) == ""


def test_sparkline_of_a_rising_series_never_steps_down() -> None:
    drawn = sparkline([1.5**i for i in range(30)], 30)
    assert [BLOCKS.index(char) for char in drawn] == sorted(BLOCKS.index(char) for char in drawn)
    assert drawn[0] == "▁" and drawn[-1] == "█"


def test_sparkline_flat_and_empty() -> None:
    assert sparkline([4.2] * 8, 8) == "▄" * 8
    assert sparkline([], 6) == " " * 6


def test_sparkline_pads_short_series_on_the_left() -> None:
    assert sparkline([1.0, 2.0, 3.0], 6) == "   ▁▅█"


def test_sparkline_averages_long_series_into_buckets() -> None:
    # 0,0 | 0,0 | 10,10 | 10,10: four buckets whose averages are the low and high halves
    assert sparkline([0, 0, 0, 0, 10, 10, 10, 10], 4) == "▁▁██"
    assert sparkline([0, 10] * 50, 10) == "▄" * 10  # each bucket averages the oscillation out
