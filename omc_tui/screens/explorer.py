"""The ledger explorer: any ledger table, filtered by text and symbol, paged and exported."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from engine import numbers
from engine.api import EngineAPI, LedgerPage
from engine.config import data_dir, normalize_symbol

# The tables of each ledger. The desk may not import ``ledgers``; an unknown name here fails
# loudly in the engine's ``browse`` rather than silently showing nothing.
LEDGERS: dict[str, tuple[str, ...]] = {
    "exchange": ("instruments", "tickers", "order_book_snapshots", "candles"),
    "glass": ("glass_metrics",),
    "human": ("human_items", "mood_readings"),
    "catalyst": ("catalyst_events",),
    "engine": ("job_runs",),
    "trading": ("orders", "fills", "risk_decisions", "equity_marks", "backtests", "deployments"),
}
PAGE_ROWS = 200
CELL_WIDTH = 48


class _LedgerTable(DataTable[Text]):
    """The page table: page keys turn ledger pages (200 rows) rather than scroll a screenful."""

    BINDINGS = [
        Binding(
            "pagedown",
            "screen.next_page",
            "Next page",
            show=False,
            id="explorer.page_down",
            tooltip="The next 200 rows",
        ),
        Binding(
            "pageup",
            "screen.previous_page",
            "Previous page",
            show=False,
            id="explorer.page_up",
            tooltip="The previous 200 rows",
        ),
        Binding("j", "cursor_down", "Down", show=False, id="explorer.down", tooltip="Next row"),
        Binding("k", "cursor_up", "Up", show=False, id="explorer.up", tooltip="Previous row"),
    ]


class _FilterInput(Input):
    """A filter box. Escape puts back the filter in force and leaves the box for the rows, so
    escape in a box never closes the explorer: a second escape does."""

    BINDINGS = [
        Binding(
            "escape",
            "leave",
            "Leave",
            id="explorer.leave_filter",
            tooltip="Back to the rows, the filter unchanged",
        )
    ]

    def __init__(self, value: str = "", *, placeholder: str, id: str) -> None:
        super().__init__(value, placeholder=placeholder, id=id)
        self.applied = value  # the text of the filter in force

    def action_leave(self) -> None:
        self.value = self.applied
        self.screen.query_one("#rows").focus()


class _ExportPath(ModalScreen[str | None]):
    """Asks where to write the export; ``.jsonl`` picks JSON lines, anything else CSV."""

    DEFAULT_CSS = """
    _ExportPath { align: center middle; }
    _ExportPath > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    _ExportPath #export-hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="explorer.export_cancel")]

    def __init__(self, default: str, what: Text) -> None:
        super().__init__()
        self._default = default
        self._what = what

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text.assemble("Export ", self._what, " to:"))
            yield Input(self._default, id="export-path")
            yield Static(
                "enter writes · a name ending .jsonl writes JSON lines · esc cancels",
                id="export-hint",
            )

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExplorerScreen(Screen[None]):
    """Browse any ledger table newest first; search, filter by symbol, page and export."""

    DEFAULT_CSS = """
    ExplorerScreen { layout: vertical; }
    ExplorerScreen #explorer { height: 1fr; }
    ExplorerScreen #tables { width: 26; height: 100%; border: round $primary-darken-2; }
    ExplorerScreen #tables:focus { border: round $accent; }
    ExplorerScreen #browser { width: 1fr; height: 100%; }
    ExplorerScreen #filters { height: 3; }
    ExplorerScreen #search { width: 2fr; }
    ExplorerScreen #symbol { width: 1fr; }
    ExplorerScreen #rows { height: 1fr; }
    ExplorerScreen #status { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("n", "next_page", "Next page", id="explorer.next", tooltip="The next 200 rows"),
        Binding(
            "b",
            "previous_page",
            "Prev page",
            id="explorer.previous",
            tooltip="The previous 200 rows",
        ),
        Binding("slash", "focus_search", "Search", id="explorer.search", tooltip="Search text"),
        Binding("x", "export", "Export", id="explorer.export", tooltip="Export the filtered table"),
        Binding("escape", "close", "Close", id="explorer.close", tooltip="Back to the desk"),
    ]
    AUTO_FOCUS = "#rows"

    def __init__(
        self, engine: EngineAPI, symbol: str | None = None, *, table: str = "tickers"
    ) -> None:
        if not any(table in tables for tables in LEDGERS.values()):
            raise ValueError(f"no ledger table named {table!r}")
        super().__init__()
        self.engine = engine
        self._table = table
        self._search: str | None = None
        self._symbol = symbol or None
        self._offset = 0
        self._page_rows = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="explorer"):
            tables = OptionList(*_table_options(), id="tables")
            tables.border_title = "Tables"
            yield tables
            with Vertical(id="browser"):
                with Horizontal(id="filters"):
                    yield _FilterInput(placeholder="search text (enter applies)", id="search")
                    yield _FilterInput(
                        self._symbol or "", placeholder="symbol (empty: all)", id="symbol"
                    )
                yield _LedgerTable(id="rows", cursor_type="row", zebra_stripes=True)
                yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        tables = self.query_one("#tables", OptionList)
        tables.highlighted = tables.get_option_index(self._table)
        self.load_page()

    # -- loading ---------------------------------------------------------------------------

    @work(exclusive=True, group="explorer.browse", exit_on_error=False, name="browse")
    async def load_page(self) -> None:
        """Show the page of the current table, filter and offset."""
        table, search, symbol, offset = self._table, self._search, self._symbol, self._offset
        status = self.query_one("#status", Static)
        status.update(Text(f"{table} · loading…", style="dim"))
        # Shielded: a newer request cancels this worker, not the query already under way.
        page = await asyncio.shield(
            self.engine.browse(table, search=search, symbol=symbol, limit=PAGE_ROWS, offset=offset)
        )
        self._show(page)

    def _show(self, page: LedgerPage) -> None:
        rows = self.query_one("#rows", DataTable)
        rows.clear(columns=True)
        for column in page.columns:
            rows.add_column(column, key=column)
        rows.add_rows([tuple(_cell(value) for value in row) for row in page.rows])
        self._page_rows = len(page.rows)
        self.query_one("#status", Static).update(self._status_text())

    def _status_text(self) -> Text:
        text = Text.assemble((self._table, "bold"), " · ")
        if self._page_rows:
            text.append(f"rows {self._offset + 1}–{self._offset + self._page_rows}")
        else:
            text.append("no rows" + (f" past {self._offset}" if self._offset else ""), style="dim")
        text.append(" · filter: ")
        text.append_text(self._filter_text())
        return text

    def _filter_text(self) -> Text:
        parts = []
        if self._search:
            parts.append(f'search "{self._search}"')
        if self._symbol:
            parts.append(f"symbol {self._symbol}")
        return Text(", ".join(parts)) if parts else Text("none", style="dim")

    @on(OptionList.OptionHighlighted, "#tables")
    def _table_chosen(self, event: OptionList.OptionHighlighted) -> None:
        table = event.option.id
        if table is not None and table != self._table:
            self._table = table
            self._offset = 0
            self.load_page()

    @on(OptionList.OptionSelected, "#tables")
    def _table_entered(self) -> None:
        self.query_one("#rows").focus()

    @on(Input.Submitted, "#search, #symbol")
    def _apply_filter(self) -> None:
        search_input = self.query_one("#search", _FilterInput)
        symbol_input = self.query_one("#symbol", _FilterInput)
        symbol: str | None = symbol_input.value.strip() or None
        if symbol is not None:
            try:
                symbol = normalize_symbol(symbol, self.engine.snapshot().quote_currency)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
        # The box keeps what was typed ("eth"); the status line shows the symbol it means
        # (ETH/AUD). Rewriting the box left its cursor inside the new text, so the next
        # keystrokes landed in the middle of the old symbol: j, j, j became JJJ/AUD.
        search_input.applied, symbol_input.applied = search_input.value, symbol_input.value
        self._symbol = symbol
        self._search = search_input.value.strip() or None
        self._offset = 0
        self.load_page()
        self.query_one("#rows").focus()

    # -- actions ---------------------------------------------------------------------------

    def action_next_page(self) -> None:
        if self._page_rows < PAGE_ROWS:
            self.notify("no more rows", severity="warning", timeout=2)
            return
        self._offset += PAGE_ROWS
        self.load_page()

    def action_previous_page(self) -> None:
        if self._offset == 0:
            self.notify("already on the first page", severity="warning", timeout=2)
            return
        self._offset = max(0, self._offset - PAGE_ROWS)
        self.load_page()

    def action_focus_search(self) -> None:
        self.query_one("#search").focus()

    def action_export(self) -> None:
        stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")  # the user's own clock
        what = Text.assemble((self._table, "bold"), " (filter: ", self._filter_text(), ")")
        default = _exports_dir() / f"{self._table}-{stamp}.csv"
        self.app.push_screen(_ExportPath(str(default), what), self._export_to)

    def _export_to(self, path: str | None) -> None:
        if path is None:
            return
        if not path.strip():
            self.notify("export needs a file name", severity="error")
            return
        target = Path(path.strip()).expanduser()
        if not target.is_absolute():  # a bare name goes with the other exports, not the cwd
            target = _exports_dir() / target
        if target.parent == _exports_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
        self._export(str(target))

    # Not exclusive: each export writes its own file, and a second must not abort the first.
    @work(group="explorer.export", exit_on_error=False, name="export")
    async def _export(self, path: str) -> None:
        """Write the current table and filter to ``path`` (CSV, or JSON lines for .jsonl)."""
        fmt = "jsonl" if path.lower().endswith(".jsonl") else "csv"
        try:
            count = await self.engine.export(
                self._table, path, fmt=fmt, search=self._search, symbol=self._symbol
            )
        except asyncio.CancelledError:
            self.notify(
                f"export to {path} cancelled; the file may be incomplete", severity="warning"
            )
            raise
        self.notify(f"wrote {numbers.count(count, 'row')} to {path}")

    def action_close(self) -> None:
        self.app.pop_screen()

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        message = f"{event.worker.name} failed: {_describe(event.worker.error)}"
        self.notify(message, severity="error")
        if event.worker.group == "explorer.browse":
            self.query_one("#status", Static).update(
                Text(f"{self._table} · {message}", style="red")
            )


def _table_options() -> list[Option | None]:
    options: list[Option | None] = []
    for ledger, tables in LEDGERS.items():
        if options:
            options.append(None)
        options.append(Option(Text(ledger, style="bold"), disabled=True))
        options.extend(Option(f"  {table}", id=table) for table in tables)
    return options


def _cell(value: object) -> Text:
    """One value as a compact, single-line cell (never parsed as markup)."""
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, datetime):
        when = value.astimezone(UTC) if value.tzinfo else value
        return Text(f"{when:%Y-%m-%d %H:%M:%S}")
    if isinstance(value, int | Decimal):
        return Text(str(value), justify="right")
    if isinstance(value, float):
        return Text(f"{value:.0f}" if abs(value) >= 1e8 else f"{value:.8g}", justify="right")
    if isinstance(value, list | tuple | dict):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    flat = " ".join(text.split())
    return Text(flat if len(flat) <= CELL_WIDTH else flat[: CELL_WIDTH - 1] + "…")


def _exports_dir() -> Path:
    """Exports of the explorer: a folder in the data directory, wherever the desk started."""
    return data_dir() / "exports"


def _describe(exc: BaseException | None) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
