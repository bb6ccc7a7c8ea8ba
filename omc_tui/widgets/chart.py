"""The price chart of one symbol: candles or a close line, volume, price and time axes."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from typing import ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from engine.api import OHLCV

ChartStyle = Literal["candles", "line"]


Bar = OHLCV  # what the chart reads of a bar


_Cell = tuple[str, str]  # (character, role); a role names a component class, "" is the base style
_BLANK: _Cell = (" ", "")
_ROLES = ("up", "down", "axis", "last", "marker", "line", "volume-up", "volume-down", "title")
_VOLUME_BLOCKS = "▁▂▃▄▅▆▇█"
# Candle glyphs by (wick upper half, wick lower half, body upper half, body lower half): the
# heavy/light box family gives half-cell precision and keeps neighbouring candles apart.
_CANDLE = {
    (True, True, True, True): "┃",
    (True, True, True, False): "╿",
    (True, False, True, False): "╹",
    (True, True, False, True): "╽",
    (False, True, False, True): "╻",
    (True, True, False, False): "│",
    (True, False, False, False): "╵",
    (False, True, False, False): "╷",
}
_BRAILLE_LEFT = (0x01, 0x02, 0x04, 0x40)  # dot bits, top to bottom
_BRAILLE_RIGHT = (0x08, 0x10, 0x20, 0x80)
_MIN_AXIS = 10
_MIN_PLOT = 8  # below this many columns the price axis would leave nothing to look at
_VOLUME_FROM_ROWS = 14
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
# Seconds between time labels, smallest first: round clock times, days, then whole weeks.
_LABEL_STEPS = (
    *(60, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200),
    *(86400, 172800, 604800, 1209600, 2419200),
)
_WEEK = 604800
_TIME_LABEL_WIDTH = 6  # "DD Mon"; "HH:MM" is one shorter
_MONDAY = 4 * 86400  # the epoch fell on a Thursday; weekly labels land on Mondays


def _decimals(price: float) -> int:
    """Decimals that show about five significant digits of ``price``, and at least cents."""
    size = abs(price)
    if size == 0:
        return 2
    return min(8, max(2, 4 - math.floor(math.log10(size))))


def _format_price(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _step_decimals(step: float) -> int:
    for decimals in range(12):
        if math.isclose(round(step, decimals), step, rel_tol=1e-9):
            return decimals
    return 12


def _ticks(low: float, high: float, count: int) -> tuple[list[float], int]:
    """Round price levels inside [low, high], at most ``count`` of them, and their decimals."""
    if count <= 0:
        return [], 0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10, 20, 25, 50, 100):
        step = factor * magnitude
        first = math.ceil(low / step - 1e-9)
        last = math.floor(high / step + 1e-9)
        if last - first + 1 <= count:
            return [k * step for k in range(first, last + 1)], _step_decimals(step)
    return [], 0


def _timeframe_seconds(timeframe: str, bars: Sequence[Bar]) -> int:
    match = re.fullmatch(r"([1-9]\d*)([mhdw])", timeframe)
    if match:
        return int(match[1]) * _UNIT_SECONDS[match[2]]
    # An unfamiliar label: trust the data's own spacing.
    gaps = [
        int((b.ts - a.ts).total_seconds())
        for a, b in zip(bars, bars[1:], strict=False)
        if b.ts > a.ts
    ]
    return max(1, min(gaps, default=60))


def _time_label(ts: datetime, timeframe_seconds: int) -> str:
    ts = ts.astimezone(UTC)
    if timeframe_seconds >= 14400 or ts.hour == ts.minute == 0:
        # Day labels, and intraday midnights, name the date; not strftime: %b follows the locale.
        return f"{ts.day:02d} {_MONTHS[ts.month - 1]}"
    return f"{ts.hour:02d}:{ts.minute:02d}"


def _level(price: float, low: float, high: float, levels: int) -> int:
    """Which of ``levels`` equal steps from ``low`` (0) to ``high`` ``price`` falls on."""
    fraction = (price - low) / (high - low)
    return min(levels - 1, max(0, round(fraction * (levels - 1))))


@dataclass(frozen=True, slots=True)
class _Layout:
    """Everything about the drawing that depends on more than the forming bar's own column."""

    size: Size
    style: ChartStyle
    plot_width: int
    axis_width: int
    price_rows: int
    volume_rows: int
    time_row: int | None
    low: float
    high: float
    volume_max: float
    decimals: int
    ticks: tuple[tuple[int, str], ...]  # (plot row, label), top to bottom

    def level(self, price: float, levels: int) -> int:
        """Sub-cell level of ``price`` counted from the bottom of the price area."""
        return _level(price, self.low, self.high, levels)


MAX_BARS = 2000  # far more than the widest terminal shows


class CandleChart(Widget):
    """Candles (or a close line) of one symbol with volume, newest bar at the right edge."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"candlechart--{role}" for role in _ROLES}

    DEFAULT_CSS = """
    CandleChart {
        height: 1fr;
    }
    CandleChart > .candlechart--up { color: $text-success; }
    CandleChart > .candlechart--down { color: $text-error; }
    CandleChart > .candlechart--axis { color: $text-muted; }
    CandleChart > .candlechart--last { color: $text; text-style: bold reverse; }
    CandleChart > .candlechart--marker { color: $foreground 25%; }
    CandleChart > .candlechart--line { color: $text-primary; }
    CandleChart > .candlechart--volume-up { color: $success 40%; }
    CandleChart > .candlechart--volume-down { color: $error 40%; }
    CandleChart > .candlechart--title { color: $text; text-style: bold; }
    """

    can_focus = False

    style: reactive[ChartStyle] = reactive[ChartStyle]("candles")
    """Candles, or a line through the closes."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._symbol = ""
        self._timeframe = ""
        self._bars: list[Bar] = []
        self._message: str | None = ""
        self._stale = True
        self._built_size: Size | None = None
        self._layout: _Layout | None = None
        self._columns: list[tuple[_Cell, ...]] = []
        self._marker_row: int | None = None
        self._time_text = ""
        self._strips: dict[int, Strip] = {}
        self._role_styles: dict[str, Style] = {}

    def set_bars(self, symbol: str, timeframe: str, bars: Sequence[Bar]) -> None:
        """Replace the chart with ``bars`` (oldest first) of ``symbol`` on ``timeframe``."""
        self._symbol, self._timeframe, self._bars = symbol, timeframe, list(bars)
        self._message = None
        self._invalidate()

    def update_bar(self, bar: Bar) -> None:
        """Move the forming bar if ``bar`` has its open time, or append ``bar`` if it is newer."""
        if self._message is not None:
            return  # loading or cleared: a tick has no history to join until set_bars
        if self._bars and bar.ts == self._bars[-1].ts:
            self._bars[-1] = bar
            if not self._redraw_last_column():
                self._invalidate()
        elif not self._bars or bar.ts > self._bars[-1].ts:
            self._bars.append(bar)
            if len(self._bars) > MAX_BARS:  # a desk left open for days must not grow forever
                del self._bars[: len(self._bars) - MAX_BARS]
            self._invalidate()
        # An older ts is a late tick for a closed bar; the stored bar already has the final say.

    def clear(self, message: str) -> None:
        """Drop the bars and show ``message`` in the middle of the chart."""
        self._bars = []
        self._message = message
        self._invalidate()

    def toggle_style(self) -> None:
        """Switch between candles and a close line."""
        self.style = "line" if self.style == "candles" else "candles"

    def watch_style(self) -> None:
        self._invalidate()

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles are checked once per paint, not per row: ``rich_style`` walks every ancestor.
        self._sync_styles()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        size = self.size
        if self._stale or self._built_size != size:
            self._build()
        if not self._role_styles:
            self._sync_styles()
        strip = self._strips.get(y)
        if strip is None:
            strip = self._strips[y] = self._render_row(y, size.width)
        return strip

    def _invalidate(self) -> None:
        self._stale = True
        self.refresh()

    def _sync_styles(self) -> None:
        styles = {role: self.get_component_rich_style(f"candlechart--{role}") for role in _ROLES}
        styles[""] = self.rich_style
        if styles != self._role_styles:
            # A theme switch may only restyle the component classes, which Textual answers with
            # a bare refresh() and no notify_style_update(): compare, then drop stale strips.
            self._strips.clear()
            self._role_styles = styles

    def _build(self) -> None:
        """Lay out the visible bars and draw their columns; rows are rendered on demand."""
        self._stale = False
        self._strips.clear()
        self._built_size = self.size
        self._layout = layout = self._lay_out(self.size)
        self._columns = []
        self._marker_row = None
        self._time_text = ""
        if layout is None:
            return
        visible = self._bars[-layout.plot_width :]
        offset = len(self._bars) - len(visible)
        blank = (_BLANK,) * (layout.price_rows + layout.volume_rows)
        self._columns = [blank] * (layout.plot_width - len(visible))
        self._columns += [self._column(offset + i, layout) for i in range(len(visible))]
        self._marker_row = self._last_price_row(layout)
        self._time_text = self._time_axis(visible, layout)

    def _redraw_last_column(self) -> bool:
        """Redraw only the rows the forming bar changed; False when the whole chart must go."""
        layout = self._layout
        if self._stale or layout is None or self._built_size != self.size:
            return False
        if self._lay_out(layout.size) != layout:
            return False  # new extreme, axis or precision: every row moves
        old_column = self._columns[-1]
        new_column = self._column(len(self._bars) - 1, layout)
        self._columns[-1] = new_column
        rows = {
            row
            for row, cells in enumerate(zip(old_column, new_column, strict=True))
            if cells[0] != cells[1]
        }
        old_marker, self._marker_row = self._marker_row, self._last_price_row(layout)
        rows |= {row for row in (old_marker, self._marker_row) if row is not None}
        for y in {0} | {1 + row for row in rows}:
            self._strips.pop(y, None)
            self.refresh(Region(0, y, layout.size.width, 1))
        return True

    def _lay_out(self, size: Size) -> _Layout | None:
        width, height = size
        if self._message is not None or not self._bars or width <= 0 or height <= 1:
            return None
        time_row = height - 1 if height >= 4 else None
        plot_rows = height - 1 - (time_row is not None)
        volume_rows = max(2, plot_rows // 5) if plot_rows >= _VOLUME_FROM_ROWS else 0
        price_rows = plot_rows - volume_rows
        decimals = _decimals(self._bars[-1].close)
        axis_width = max(_MIN_AXIS, len(_format_price(self._bars[-1].close, decimals)) + 2)
        # Tick labels can need a wider axis, which shows fewer bars: settle in two passes.
        for _ in range(2):
            if width - axis_width < _MIN_PLOT:
                axis_width = 0
            visible = self._bars[-(width - axis_width) :]
            low, high = self._price_range(visible)
            count = min(price_rows, 6, max(3, price_rows // 3))
            values, tick_decimals = _ticks(low, high, count) if axis_width else ([], 0)
            labels = [_format_price(value, tick_decimals) for value in values]
            needed = max((len(label) + 2 for label in labels), default=0)
            if needed <= axis_width or axis_width == 0:
                break
            axis_width = min(needed, width - _MIN_PLOT)
        rows: dict[int, str] = {}
        for value, label in zip(reversed(values), reversed(labels), strict=True):
            level = _level(value, low, high, 2 * price_rows)
            rows.setdefault(price_rows - 1 - level // 2, label)
        return _Layout(
            size=size,
            style=self.style,
            plot_width=width - axis_width,
            axis_width=axis_width,
            price_rows=price_rows,
            volume_rows=volume_rows,
            time_row=time_row,
            low=low,
            high=high,
            volume_max=max((bar.volume for bar in visible), default=0.0),
            decimals=decimals,
            ticks=tuple(rows.items()),
        )

    def _price_range(self, bars: Sequence[Bar]) -> tuple[float, float]:
        if self.style == "line":
            low = min(bar.close for bar in bars)
            high = max(bar.close for bar in bars)
        else:
            low = min(min(bar.low, bar.open, bar.close) for bar in bars)
            high = max(max(bar.high, bar.open, bar.close) for bar in bars)
        if high > low:
            return low, high
        pad = abs(low) * 0.001 or 1.0  # a flat market still needs a scale to sit in the middle of
        return low - pad, high + pad

    def _column(self, index: int, layout: _Layout) -> tuple[_Cell, ...]:
        bar = self._bars[index]
        role = "up" if bar.close >= bar.open else "down"
        rows = layout.price_rows
        if layout.style == "line":
            previous = self._bars[index - 1].close if index > 0 else bar.close
            cells = _line_cells(
                layout.level(previous, 4 * rows), layout.level(bar.close, 4 * rows), rows
            )
        else:
            cells = _candle_cells(bar, layout, role)
        return cells + _volume_cells(bar.volume, layout, f"volume-{role}")

    def _last_price_row(self, layout: _Layout) -> int | None:
        if layout.price_rows <= 0:
            return None
        per_row = 4 if layout.style == "line" else 2
        level = layout.level(self._bars[-1].close, per_row * layout.price_rows)
        return layout.price_rows - 1 - level // per_row

    def _time_axis(self, visible: Sequence[Bar], layout: _Layout) -> str:
        if layout.time_row is None or not visible:
            return ""
        seconds = _timeframe_seconds(self._timeframe, visible)
        spacing = _TIME_LABEL_WIDTH + 2
        step = next(
            (s for s in _LABEL_STEPS if s % seconds == 0 and s // seconds >= spacing),
            seconds * spacing,
        )
        anchor = _MONDAY if step % _WEEK == 0 else 0
        text = [" "] * layout.plot_width
        free = 0
        first = layout.plot_width - len(visible)
        for column, bar in enumerate(visible, start=first):
            if (int(bar.ts.timestamp()) - anchor) % step or column < free:
                continue
            label = _time_label(bar.ts, seconds)
            if column + len(label) > layout.plot_width:
                break
            text[column : column + len(label)] = label
            free = column + spacing
        return "".join(text)

    def _render_row(self, y: int, width: int) -> Strip:
        layout = self._layout
        if layout is None:
            return self._unplotted_row(y, width)
        if y == 0:
            return self._strip(self._title(width), width)
        if y == layout.time_row:
            return self._strip([(self._time_text, "axis")], width)
        row = y - 1
        if row >= layout.price_rows + layout.volume_rows:
            return self._strip([], width)
        cells = [column[row] for column in self._columns]
        if row == self._marker_row:
            cells = [("┈", "marker") if cell == _BLANK else cell for cell in cells]
        if layout.axis_width and row < layout.price_rows:
            cells += self._axis_runs(row, layout)
        return self._strip(cells, width)

    def _axis_runs(self, row: int, layout: _Layout) -> list[tuple[str, str]]:
        label_width = layout.axis_width - 2
        if row == self._marker_row:
            label = _format_price(self._bars[-1].close, layout.decimals)
            return [("┤ " + label[:label_width].ljust(label_width), "last")]
        label = dict(layout.ticks).get(row)
        if label is None:
            return [("│", "axis")]
        return [("┤ " + label[:label_width], "axis")]

    def _title(self, width: int) -> list[tuple[str, str]]:
        """The longest of full OHLC, close only, or bare name that fits in ``width``."""
        name = [(self._symbol, "title"), (" · ", "axis"), (self._timeframe, "title")]
        if not self._bars:
            return name
        bar = self._bars[-1]
        decimals = _decimals(bar.close)
        ohlc = [(" ·", "axis")]
        for letter, value in (("O", bar.open), ("H", bar.high), ("L", bar.low), ("C", bar.close)):
            ohlc += [(f" {letter} ", "axis"), (_format_price(value, decimals), "")]
        close = [(" · C ", "axis"), (_format_price(bar.close, decimals), "")]
        change: list[tuple[str, str]] = []
        if len(self._bars) > 1 and self._bars[-2].close:
            percent = (bar.close / self._bars[-2].close - 1) * 100
            shown = f"{percent:+.2f}%" if abs(percent) < 1 else f"{percent:+.1f}%"
            change = [(f"  {shown}", "up" if percent >= 0 else "down")]
        for runs in (name + ohlc + change, name + close + change, name + close):
            if sum(len(text) for text, _ in runs) <= width:
                return runs
        return name

    def _unplotted_row(self, y: int, width: int) -> Strip:
        """A row when there is nothing to plot: a message, or the title over "no data"."""
        height = self.size.height
        if self._message is not None:
            text = self._message if y == height // 2 else ""
        elif y == 0:
            return self._strip(self._title(width), width)
        else:
            no_data = not self._bars and y == (height + 1) // 2
            text = f"no data for {self._symbol} {self._timeframe}" if no_data else ""
        return self._strip([(text[:width].center(width), "axis")], width)

    def _strip(self, runs: Sequence[tuple[str, str]], width: int) -> Strip:
        styles = self._role_styles
        segments: list[Segment] = []
        for role, group in groupby(runs, key=itemgetter(1)):
            text = "".join(chunk for chunk, _ in group)
            if text:  # Textual treats empty segments as a rendering bug
                segments.append(Segment(text, styles[role]))
        return Strip(segments).adjust_cell_length(width, styles[""])


def _candle_cells(bar: Bar, layout: _Layout, role: str) -> tuple[_Cell, ...]:
    halves = 2 * layout.price_rows
    wick_low = layout.level(min(bar.low, bar.open, bar.close), halves)
    wick_high = layout.level(max(bar.high, bar.open, bar.close), halves)
    body_low = layout.level(min(bar.open, bar.close), halves)
    body_high = layout.level(max(bar.open, bar.close), halves)
    cells: list[_Cell] = []
    for row in range(layout.price_rows):
        lower = 2 * (layout.price_rows - 1 - row)
        upper = lower + 1
        key = (
            wick_low <= upper <= wick_high,
            wick_low <= lower <= wick_high,
            body_low <= upper <= body_high,
            body_low <= lower <= body_high,
        )
        char = _CANDLE.get(key)
        cells.append(_BLANK if char is None else (char, role))
    return tuple(cells)


def _line_cells(previous: int, current: int, rows: int) -> tuple[_Cell, ...]:
    """Braille cells joining ``previous`` to ``current`` (dot levels), half a bar per dot column."""
    step = 1 if current >= previous else -1
    middle = previous + int((current - previous) / 2)  # rounds towards the previous close
    # ``previous`` itself is the last dot of the column before; a flat step keeps one dot each.
    left = list(range(previous + step, middle + step, step)) or [current]
    right = list(range(middle + step, current + step, step)) or [current]
    bits = [0] * rows
    for levels, dots in ((left, _BRAILLE_LEFT), (right, _BRAILLE_RIGHT)):
        for level in levels:
            bits[rows - 1 - level // 4] |= dots[3 - level % 4]
    return tuple((chr(0x2800 + b), "line") if b else _BLANK for b in bits)


def _volume_cells(volume: float, layout: _Layout, role: str) -> tuple[_Cell, ...]:
    rows = layout.volume_rows
    if rows == 0:
        return ()
    eighths = 0
    if volume > 0 and layout.volume_max > 0:
        eighths = max(1, round(volume / layout.volume_max * 8 * rows))
    cells: list[_Cell] = []
    for row in range(rows):
        fill = min(8, max(0, eighths - 8 * (rows - 1 - row)))
        cells.append((_VOLUME_BLOCKS[fill - 1], role) if fill else _BLANK)
    return tuple(cells)
