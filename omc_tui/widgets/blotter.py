"""The orders and fills blotter: working orders first, then recent orders and fills."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from engine.events import FillEvent, OrderEvent
from omc_tui import format as fmt

Cells = tuple[Text, ...]

WORKING = frozenset({"open", "partially_filled"})
STATE_STYLE = {
    "new": "cyan",
    "open": "bold cyan",
    "partially_filled": "bold cyan",
    "filled": "green",
    "cancelled": "dim",
    "expired": "dim",
    "rejected": "red",
}
_STATE_NAME = {"partially_filled": "partial"}
# (key, title, width): the wide widths, then the compact ones that keep price and state in a
# narrower pane; the note takes whatever is left.
_COLUMNS = (
    ("when", "When UTC", 8),
    ("symbol", "Symbol", 9),
    ("side", "Side", 4),
    ("qty", "Filled/qty", 12),
    ("price", "Price", 11),
    ("state", "State", 9),
    ("note", "Note", None),
)
_COMPACT = (
    ("when", "UTC", 6),
    ("symbol", "Symbol", 8),
    ("side", "Side", 4),
    ("qty", "Qty", 10),
    ("price", "Price", 10),
    ("state", "State", 9),
    ("note", "Note", None),
)
# The content width the wide columns need: their widths and two cells of padding each.
_WIDE_WIDTH = sum(width + 2 for _, _, width in _COLUMNS if width)


class Blotter(DataTable[Text]):
    """Orders and fills of the book; the highlighted working order is what ``x`` cancels.

    Times are the engine's clock (simulated time on the simulated market, as in the header):
    the time of day for today's rows, the date for older ones.
    """

    DEFAULT_CSS = """
    Blotter { height: 1fr; overflow-x: hidden; }
    """
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="blotter.down", tooltip="Next row"),
        Binding("k", "cursor_up", "Up", show=False, id="blotter.up", tooltip="Previous row"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._orders: dict[str, OrderEvent] = {}
        self._shown: dict[str, Cells] = {}
        self._book: tuple[Sequence[OrderEvent], Sequence[FillEvent], date | None] = ((), (), None)
        self.compact = False
        self.border_title = "Orders & fills"

    def on_mount(self) -> None:
        self._add_columns()
        self.show_cursor = False  # a highlight means "x acts here": only while focused

    def on_resize(self) -> None:
        compact = self.size.width < _WIDE_WIDTH
        if compact != self.compact:
            self.compact = compact
            self.clear(columns=True)
            self._shown = {}
            self._add_columns()
            self.show(*self._book)

    def _add_columns(self) -> None:
        for key, label, width in _COMPACT if self.compact else _COLUMNS:
            self.add_column(label, key=key, width=width)

    def on_focus(self) -> None:
        self.show_cursor = True
        order = self.highlighted_order()
        if order is None or order.state not in WORKING:
            self.move_cursor(row=0, animate=False)  # working orders are listed first

    def on_blur(self) -> None:
        self.show_cursor = False

    def wait(self, reason: str) -> None:
        """Say what the book waits for until ``show`` is called."""
        if not self._shown:
            self.border_subtitle = reason

    def show(
        self, orders: Sequence[OrderEvent], fills: Sequence[FillEvent], today: date | None = None
    ) -> None:
        """Repaint from the book (``today`` by the engine's clock): only changed rows are touched."""
        self._book = (orders, fills, today)
        self._orders = {o.client_id: o for o in orders}
        when = _Stamp(today, self.compact)
        working = [o for o in orders if o.state in WORKING]
        history: list[tuple[datetime, str, Cells]] = [
            (o.updated_at, f"o:{o.client_id}", _order_cells(o, when))
            for o in orders
            if o.state not in WORKING
        ]
        history += [(f.ts, f"f:{f.fill_id}", _fill_cells(f, when)) for f in fills]
        history.sort(key=lambda row: row[0], reverse=True)  # stable: orders before their fills
        rows = {f"o:{o.client_id}": _order_cells(o, when) for o in working}
        rows.update((key, cells) for _, key, cells in history)
        self._sync(rows)
        self.border_subtitle = f"{len(working)} working" if working else "none working"

    def highlighted_order(self) -> OrderEvent | None:
        """The order under the cursor, if the cursor is on an order (not a fill)."""
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value or ""
        return self._orders.get(key[2:]) if key.startswith("o:") else None

    def _sync(self, rows: dict[str, Cells]) -> None:
        shown = self._shown
        if list(rows) != list(shown):
            # Rows came, went or moved: rebuild, keeping the cursor on the row it was on.
            selected = None
            if self.row_count:
                selected = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
            self.clear()
            for key, cells in rows.items():
                self.add_row(*cells, key=key)
            if selected in rows:
                self.move_cursor(row=list(rows).index(selected), animate=False)
        else:
            columns = [column.key for column in self.ordered_columns]
            for key, cells in rows.items():
                for column, cell, old in zip(columns, cells, shown[key], strict=True):
                    if cell != old:
                        self.update_cell(key, column, cell)
        self._shown = rows


class _Stamp:
    """A row's time: of day for today's rows (to the minute when compact), else the date."""

    def __init__(self, today: date | None, compact: bool) -> None:
        self.today = today
        self.clock = "%H:%M" if compact else "%H:%M:%S"

    def __call__(self, ts: datetime) -> Text:
        form = "%d %b" if self.today is not None and ts.date() != self.today else self.clock
        return Text(ts.strftime(form), style="dim")


def _order_cells(o: OrderEvent, when: _Stamp) -> Cells:
    working = o.state in WORKING
    price = o.limit_price if o.type == "limit" and (working or not o.filled) else o.average_price
    note = o.reason or (f"fee {fmt.money(o.fees)}" if o.filled else o.type)
    return (
        when(o.updated_at),
        Text(o.symbol, style="bold" if working else ""),
        Text(o.side, style="green" if o.side == "buy" else "red"),
        Text(f"{fmt.qty(o.filled)}/{fmt.qty(o.quantity)}", justify="right"),
        Text(fmt.exact_price(price), justify="right"),
        Text(_STATE_NAME.get(o.state, o.state), style=STATE_STYLE.get(o.state, "")),
        Text(note, style="red" if o.state == "rejected" else "dim"),
    )


def _fill_cells(f: FillEvent, when: _Stamp) -> Cells:
    return (
        when(f.ts),
        Text(f.symbol),
        Text(f.side, style="green" if f.side == "buy" else "red"),
        Text(fmt.qty(f.quantity), justify="right"),
        Text(fmt.exact_price(f.price), justify="right"),
        Text("fill", style="italic"),
        Text(
            f"fee {fmt.money(f.fee)} · {f.liquidity} · slip {fmt.bps(f.slippage_bps)}", style="dim"
        ),
    )
