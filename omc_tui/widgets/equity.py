"""The equity curve: the book's marks as a block area chart with its range at the right."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from rich.text import Text
from textual.widget import Widget

from omc_tui import format as fmt

_BLOCKS = " ▁▂▃▄▅▆▇█"
_AXIS = 12  # columns kept for the high and low labels


class EquityCurve(Widget):
    """Equity over time, oldest at the left, resampled to the width; ``show`` replaces it."""

    DEFAULT_CSS = """
    EquityCurve { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: list[tuple[datetime, Decimal]] = []
        self.quote = ""
        self.unit = "marks"
        self.empty = ""
        self.loaded = False
        self.border_title = "Equity"

    def show(
        self,
        points: Sequence[tuple[datetime, Decimal]],
        quote: str,
        *,
        unit: str = "marks",
        empty: str = "no marks yet: the book is marked to market every few seconds",
    ) -> None:
        """Draw ``points`` (oldest first) in ``quote``; ``unit`` names a point, ``empty`` none."""
        self.points, self.quote, self.loaded = list(points), quote, True
        self.unit, self.empty = unit, empty
        self.border_subtitle = _span(self.points)
        self.refresh()

    def render(self) -> Text:
        if not self.loaded:
            return Text("loading the equity curve…", style="dim")
        if not self.points:
            return Text(self.empty, style="dim")
        first, last = self.points[0][1], self.points[-1][1]
        text = Text("equity ", style="dim")
        text.append(fmt.money(last), style="bold")
        text.append(f" {self.quote}", style="dim")
        change = last - first
        text.append(f"  {fmt.money(change, signed=True)}", style=fmt.pnl_style(change))
        if first:
            text.append(f" ({change / first * 100:+.2f}%)", style=fmt.pnl_style(change))
        text.append(f" over {len(self.points)} {self.unit}", style="dim")
        rows = self.size.height - 1
        width = self.size.width - _AXIS
        if rows < 1 or width < 4:
            return text
        values = _resample([float(v) for _, v in self.points], width)
        low, high = min(values), max(values)
        style = "green" if change >= 0 else "red"
        for row in range(rows):
            text.append("\n")
            for run in _runs(_row(values, low, high, rows, row)):
                text.append(run, style="" if run[0] == " " else style)
            label = fmt.money(Decimal(str(high))) if row == 0 else ""
            if row == rows - 1:
                label = fmt.money(Decimal(str(low)))
            text.append(f" {label:>{_AXIS - 1}}", style="dim")
        return text


def _resample(values: list[float], width: int) -> list[float]:
    """Exactly ``width`` points: a longer series is averaged into buckets, a shorter stretched."""
    count = len(values)
    if count <= width:
        return [values[i * count // width] for i in range(width)]
    return [
        sum(values[i * count // width : (i + 1) * count // width])
        / ((i + 1) * count // width - i * count // width)
        for i in range(width)
    ]


def _row(values: list[float], low: float, high: float, rows: int, row: int) -> str:
    """Row ``row`` (0 at the top) of the area under the curve, in eighths of a cell."""
    span = high - low
    levels = rows * 8
    cells = []
    for value in values:
        # A flat curve sits mid-height so it reads as "no change", not "no data".
        filled = levels // 2 if span <= 0 else max(1, round((value - low) / span * levels))
        below = (rows - 1 - row) * 8  # eighths under this row
        cells.append(_BLOCKS[max(0, min(8, filled - below))])
    return "".join(cells)


def _runs(row: str) -> list[str]:
    """``row`` split where blanks meet blocks, so blanks carry no colour."""
    runs: list[str] = []
    for char in row:
        if runs and (runs[-1][0] == " ") == (char == " "):
            runs[-1] += char
        else:
            runs.append(char)
    return runs


def _span(points: Sequence[tuple[datetime, Decimal]]) -> str:
    if not points:
        return ""
    start, end = points[0][0], points[-1][0]
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
