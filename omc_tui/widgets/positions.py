"""Positions marked to market, and the book's totals underneath."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from engine.api import PositionView
from engine.events import PortfolioEvent
from omc_tui import format as fmt


class PositionsPane(Widget):
    """One row per position (symbol, quantity, cost, mark, value, PnL) and a totals line."""

    DEFAULT_CSS = """
    PositionsPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.positions: tuple[PositionView, ...] = ()
        self.portfolio: PortfolioEvent | None = None
        self.loaded = False
        self.waiting = "loading the book"  # what the pane says until the book is read
        self.border_title = "Positions"

    def show(self, positions: Sequence[PositionView], portfolio: PortfolioEvent | None) -> None:
        self.positions = tuple(positions)
        self.loaded = True
        self.set_portfolio(portfolio)

    def wait(self, reason: str) -> None:
        """Say what the book waits for (the database, trading) until ``show`` is called."""
        self.waiting = reason
        self.refresh()

    def set_portfolio(self, portfolio: PortfolioEvent | None) -> None:
        if portfolio is not None:
            self.portfolio = portfolio
        open_count = sum(1 for p in self.positions if p.quantity)
        self.border_subtitle = f"{open_count} open" if self.loaded else ""
        self.refresh()

    def render(self) -> Group | Text:
        if not self.loaded:
            return Text(f"{self.waiting}…", style="dim")
        line = totals(self.portfolio)
        lines = -(-line.cell_len // max(1, self.size.width))  # it wraps on narrow panes
        parts: list[Table | Text] = []
        if self.positions:
            parts.append(self._table(max(1, self.size.height - 1 - lines)))
        else:
            parts.append(Text("no positions yet — b buys, s sells", style="dim"))
        parts.append(line)
        return Group(*parts)

    def _table(self, rows: int) -> Table:
        shown = self.positions if len(self.positions) <= rows else self.positions[: rows - 1]
        cells = [_cells(p) for p in shown]
        keep = _fitting(cells, self.size.width)
        table = Table(box=None, expand=True, padding=(0, 0, 0, 1), show_edge=False)
        for index, (title, _) in enumerate(_COLUMNS):
            if index in keep:
                table.add_column(
                    title,
                    justify="left" if index == 0 else "right",
                    no_wrap=True,
                    min_width=_width(cells, index),
                )
        for row in cells:
            table.add_row(*(cell for index, cell in enumerate(row) if index in keep))
        if len(shown) < len(self.positions):
            table.add_row(Text(f"+{len(self.positions) - len(shown)} more", style="dim"))
        return table


# Each column's title and its rank: the lowest ranks stay when the pane is too narrow for
# all (the totals line under the table still carries realized PnL).
_COLUMNS = (
    ("Symbol", 0),
    ("Qty", 1),
    ("Avg cost", 5),
    ("Mark", 2),
    ("Value", 4),
    ("uPnL", 3),
    ("rPnL", 6),
)


def _cells(p: PositionView) -> tuple[Text, ...]:
    closed = not p.quantity
    return (
        Text(p.symbol, style="dim" if closed else "bold"),
        Text(fmt.qty(p.quantity), style="dim" if closed else ""),
        Text(fmt.exact_price(p.average_cost) if not closed else "—", style="dim"),
        Text(fmt.exact_price(p.mark)),
        Text(fmt.money(p.market_value)),
        Text(fmt.money(p.unrealized, signed=True), style=fmt.pnl_style(p.unrealized)),
        Text(fmt.money(p.realized, signed=True), style=fmt.pnl_style(p.realized)),
    )


def _width(cells: list[tuple[Text, ...]], index: int) -> int:
    return max([len(_COLUMNS[index][0]), *(row[index].cell_len for row in cells)])


def _fitting(cells: list[tuple[Text, ...]], width: int) -> set[int]:
    """The columns that fit ``width`` whole, taken by rank: never a number cut to "0.0…"."""
    keep: set[int] = set()
    used = 0
    for index, _ in sorted(enumerate(_COLUMNS), key=lambda column: column[1][1]):
        need = _width(cells, index) + 1  # each column is padded by one on its left
        if keep and used + need > width:
            continue
        keep.add(index)
        used += need
    return keep


def totals(portfolio: PortfolioEvent | None) -> Text:
    """The book in one line: equity, cash, unrealized and realized PnL, today's change."""
    if portfolio is None:
        return Text("no valuation yet", style="dim")
    p = portfolio
    text = Text(" equity ", style="dim")
    text.append(fmt.money(p.equity), style="bold")
    text.append(f" {p.quote}  cash ", style="dim")
    text.append(fmt.money(p.cash))
    parts = [("uPnL", p.unrealized), ("rPnL", p.realized)]
    if p.day_pnl is not None:
        parts.append(("today", p.day_pnl))
    for label, value in parts:
        text.append(f"  {label} ", style="dim")
        text.append(fmt.money(value, signed=True), style=fmt.pnl_style(value))
    return text
