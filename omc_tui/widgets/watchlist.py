"""The watchlist: one row per symbol, repainting only rows whose quote changed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.api import WatchRow
from engine.events import QuoteEvent
from omc_tui import format as fmt
from omc_tui.widgets.sparkline import sparkline

FLASH_SECONDS = 0.6

# (title, width, align) — widths sum to 78 with single spaces, so 80 columns fit every column.
COLUMNS: tuple[tuple[str, int, str], ...] = (
    ("Symbol", 10, "<"),
    ("Last", 12, ">"),
    ("24h", 8, ">"),
    ("Bid", 12, ">"),
    ("Ask", 12, ">"),
    ("Vol 24h", 8, ">"),
    ("24h trend", 10, "<"),
)


@dataclass
class _Row:
    symbol: str
    status: str
    quote: QuoteEvent | None = None
    spark: list[float] = field(default_factory=list)
    flash_from: int = -1  # first changed character of the last price, -1 for none
    flash_up: bool = True
    flash_until: float = 0.0
    strip: Strip | None = None  # cached rendering; None when the row must be rendered again


class Watchlist(ScrollView, can_focus=True):
    """Quotes of the watchlist symbols; the cursor row drives the rest of the desk."""

    DEFAULT_CSS = """
    Watchlist {
        height: 1fr;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """
    COMPONENT_CLASSES = {
        "watchlist--header",
        "watchlist--cursor",
        "watchlist--up",
        "watchlist--down",
        "watchlist--flash-up",
        "watchlist--flash-down",
        "watchlist--muted",
        "watchlist--unknown",
    }

    cursor: reactive[int] = reactive(0)

    class Selected(Message):
        """The cursor moved to a symbol."""

        def __init__(self, symbol: str) -> None:
            super().__init__()
            self.symbol = symbol

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._rows: list[_Row] = []
        self._index: dict[str, int] = {}
        self._flashing: set[int] = set()
        self.latencies: list[float] | None = None  # tick-to-render seconds, when measured
        self._styles: dict[str, Style] = {}
        self._base_style = Style()

    # -- data ------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[WatchRow]) -> None:
        old = {r.symbol: r for r in self._rows}
        self._rows = []
        for w in rows:
            prev = old.get(w.symbol)
            if prev is not None and prev.status == "cached":
                prev = None  # the last session's prices never pass for the engine's
            quote = w.quote or (prev.quote if prev else None)
            spark = list(w.spark) or (prev.spark if prev else [])
            self._rows.append(_Row(w.symbol, w.status, quote, spark))
        self._index = {r.symbol: i for i, r in enumerate(self._rows)}
        self.virtual_size = Size(sum(c[1] + 1 for c in COLUMNS), len(self._rows) + 1)
        self.cursor = min(self.cursor, max(0, len(self._rows) - 1))
        self.refresh()

    @property
    def symbols(self) -> list[str]:
        return [r.symbol for r in self._rows]

    @property
    def selected(self) -> str | None:
        return self._rows[self.cursor].symbol if self._rows else None

    def update_quote(self, quote: QuoteEvent) -> None:
        """Take a new quote and repaint its row only."""
        index = self._index.get(quote.symbol)
        if index is None:
            return
        row = self._rows[index]
        previous = row.quote
        row.quote = quote
        row.status = "ok"
        if row.spark:
            row.spark[-1] = quote.last
        if previous is not None and previous.last != quote.last:
            old, new = fmt.price(previous.last), fmt.price(quote.last)
            row.flash_from = _first_difference(old, new)
            row.flash_up = quote.last > previous.last
            row.flash_until = time.monotonic() + FLASH_SECONDS
            self._flashing.add(index)
        row.strip = None
        self._refresh_row(index)

    def add_spark_point(self, symbol: str, close: float, new_point: bool) -> None:
        index = self._index.get(symbol)
        if index is None:
            return
        row = self._rows[index]
        if new_point or not row.spark:
            row.spark.append(close)
            del row.spark[:-24]
        else:
            row.spark[-1] = close
        row.strip = None
        self._refresh_row(index)

    def mark_unknown(self, symbols: Sequence[str]) -> None:
        for symbol in symbols:
            index = self._index.get(symbol)
            if index is not None:
                self._rows[index].status = "unknown"
                self._rows[index].strip = None
                self._refresh_row(index)

    def expire_flashes(self) -> None:
        """Repaint rows whose flash is over (called on the desk's short tick)."""
        if not self._flashing:
            return
        now = time.monotonic()
        for index in [i for i in self._flashing if self._rows[i].flash_until <= now]:
            self._flashing.discard(index)
            self._rows[index].flash_from = -1
            self._rows[index].strip = None
            self._refresh_row(index)

    # -- cursor ----------------------------------------------------------------------------

    def move(self, delta: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, self.cursor + delta))

    def move_to(self, index: int) -> None:
        if self._rows:
            self.cursor = max(0, min(len(self._rows) - 1, index))

    def watch_cursor(self, old: int, new: int) -> None:
        for index in (old, new):
            if 0 <= index < len(self._rows):
                self._rows[index].strip = None
                self._refresh_row(index)
        self._keep_visible(new)
        if self._rows:
            self.post_message(self.Selected(self._rows[new].symbol))

    def _keep_visible(self, index: int) -> None:
        y = index + 1  # below the header line
        top = int(self.scroll_y) + 1
        height = max(1, self.scrollable_content_region.height - 1)
        if y < top:
            self.scroll_to(y=y - 1, animate=False)
        elif y >= top + height:
            self.scroll_to(y=y - height, animate=False)

    # -- rendering -------------------------------------------------------------------------

    def _refresh_row(self, index: int) -> None:
        y = index + 1 - int(self.scroll_y)
        if 1 <= y < self.size.height:
            self.refresh_line(y)

    def render_lines(self, crop: Region) -> list[Strip]:
        # Resolving styles walks every ancestor: do it once per paint, not once per row. A theme
        # change alters them, so cached rows are dropped when they differ.
        base = self.rich_style
        styles = {name: self.get_component_rich_style(name) for name in self.COMPONENT_CLASSES}
        if base != self._base_style or styles != self._styles:
            self._base_style, self._styles = base, styles
            for row in self._rows:
                row.strip = None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header(width)
        index = y - 1 + int(self.scroll_y)
        if index >= len(self._rows):
            return Strip.blank(width, self._base_style)
        row = self._rows[index]
        if row.strip is None or row.strip.cell_length != width:
            row.strip = self._render_row(row, index == self.cursor, width)
        if self.latencies is not None and row.quote is not None and row.quote.published:
            self.latencies.append(time.perf_counter() - row.quote.published)
            row.quote = _unstamped(row.quote)
        return row.strip

    def _header(self, width: int) -> Strip:
        style = self._styles["watchlist--header"]
        text = " ".join(_cell(title, w, a) for title, w, a in COLUMNS)
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)

    def _render_row(self, row: _Row, is_cursor: bool, width: int) -> Strip:
        styles = self._styles
        base = self._base_style
        if is_cursor:
            base = base + styles["watchlist--cursor"]
        muted = base + styles["watchlist--muted"]
        if row.status == "cached":  # the last session's prices, until the engine's first quote
            base = muted
        widths = [c[1] for c in COLUMNS]
        segments = [Segment(_cell(row.symbol, widths[0], "<") + " ", base)]
        q = row.quote
        if row.status == "unknown":
            style = base + styles["watchlist--unknown"]
            segments.append(Segment("unknown symbol on this venue", style))
            return Strip(segments).adjust_cell_length(width, base)
        if q is None:
            segments.append(Segment("waiting for the first quote…", muted))
            return Strip(segments).adjust_cell_length(width, base)
        segments.extend(self._last_segments(row, base, widths[1]))
        change = q.change_pct
        trend = base + styles["watchlist--up" if (change or 0) >= 0 else "watchlist--down"]
        segments.append(Segment(" " + _cell(fmt.percent(change), widths[2], ">") + " ", trend))
        segments.append(Segment(_cell(fmt.price(q.bid), widths[3], ">") + " ", base))
        segments.append(Segment(_cell(fmt.price(q.ask), widths[4], ">") + " ", base))
        segments.append(Segment(_cell(fmt.compact(q.quote_volume), widths[5], ">") + " ", muted))
        segments.append(Segment(sparkline(row.spark, widths[6]), trend))
        return Strip(segments).adjust_cell_length(width, base)

    def _last_segments(self, row: _Row, base: Style, width: int) -> list[Segment]:
        assert row.quote is not None
        text = fmt.price(row.quote.last)
        cell = _cell(text, width, ">")
        if row.flash_from < 0 or row.flash_until <= time.monotonic():
            return [Segment(cell, base)]
        split = len(cell) - len(text) + row.flash_from
        flash = (
            base + self._styles["watchlist--flash-up" if row.flash_up else "watchlist--flash-down"]
        )
        return [Segment(cell[:split], base), Segment(cell[split:], flash)]


def _cell(text: str, width: int, align: str) -> str:
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"{text:{align}{width}}"


def _first_difference(old: str, new: str) -> int:
    """Index in ``new`` of the first character that differs from ``old`` (right-aligned)."""
    if len(old) != len(new):
        return 0
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            return i
    return len(new)


def _unstamped(quote: QuoteEvent) -> QuoteEvent:
    return replace(quote, published=0.0)
