"""PnL, lots and tax: the equity curve, positions, open lots and one financial year's CGT report."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from engine.api import EngineAPI, LotView, TradingView
from engine.trading.commands import TradingUnavailable
from omc_tui import format as fmt
from omc_tui.messages import BookChanged, BookWaiting
from omc_tui.widgets.equity import EquityCurve
from omc_tui.widgets.positions import PositionsPane

CURVE_POINTS = 500
# The engine's tax calendar until the book, which names it, has been read.
DEFAULT_TAX_ZONE: str = next(f.default for f in fields(TradingView) if f.name == "tax_zone")


def financial_year(moment: datetime, zone: ZoneInfo) -> int:
    """The Australian financial year (1 July – 30 June) holding ``moment``: FY2027 ends 2027."""
    local = moment.astimezone(zone)
    return local.year + 1 if local.month >= 7 else local.year


class _Table(DataTable[Text]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="pnl.down", tooltip="Next row"),
        Binding("k", "cursor_up", "Up", show=False, id="pnl.up", tooltip="Previous row"),
    ]


class PnLScreen(Screen[None]):
    """The book's history: what it is worth over time, what it holds and what it owes in tax."""

    DEFAULT_CSS = """
    PnLScreen { layout: vertical; }
    PnLScreen #pnl-body { height: 1fr; }
    PnLScreen #pnl-body > *, PnLScreen #holdings > * { border: round $primary-darken-2; }
    PnLScreen DataTable:focus { border: round $accent; }
    PnLScreen #equity { height: 9; }
    PnLScreen #holdings { height: 1fr; border: none; }
    PnLScreen #holdings > * { width: 1fr; height: 100%; }
    PnLScreen #lots { width: 64; }  /* every column whole; positions drop what does not fit */
    PnLScreen #tax { height: 1fr; }
    PnLScreen #tax-totals { height: 1; padding: 0 1; background: $panel; }
    /* 80 columns: the panes keep a readable height and the body scrolls to the focused one. */
    PnLScreen.-narrow #equity { height: 6; }
    PnLScreen.-narrow #holdings { layout: vertical; height: auto; }
    PnLScreen.-narrow #holdings > * { width: 100%; height: 7; }
    PnLScreen.-narrow #tax { height: 12; }
    """
    BINDINGS = [
        Binding(
            "left_square_bracket",
            "year(-1)",
            "Prev FY",
            id="pnl.previous_year",
            tooltip="The tax report of the financial year before",
        ),
        Binding(
            "right_square_bracket",
            "year(1)",
            "Next FY",
            id="pnl.next_year",
            tooltip="The tax report of the financial year after",
        ),
        Binding("r", "reload", "Reload", id="pnl.reload", tooltip="Read the book again"),
        Binding("escape", "close", "Close", id="pnl.close", tooltip="Back to the desk"),
    ]
    AUTO_FOCUS = "#lots"

    def __init__(
        self, engine: EngineAPI, view: TradingView | None = None, waiting: str | None = None
    ) -> None:
        super().__init__()
        self.engine = engine
        self._view = view
        self._waiting = waiting or "loading the book"  # shown until the book is read
        # Financial years and the CGT discount date follow the engine's tax calendar.
        self.zone = ZoneInfo(view.tax_zone if view else DEFAULT_TAX_ZONE)
        self.fy = financial_year(engine.now(), self.zone)
        self._fy_chosen = False
        self.lots: list[LotView] = []
        self.report: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="pnl-body", can_focus=False):
            yield EquityCurve(id="equity")
            with Horizontal(id="holdings"):
                yield PositionsPane(id="pnl-positions")
                lots = _Table(id="lots", cursor_type="row")
                lots.border_title = "Open lots"
                yield lots
            yield _Table(id="tax", cursor_type="row", zebra_stripes=True)
        yield Static(id="tax-totals")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#lots", DataTable).add_columns(
            "Asset", "Acquired", "Qty", "Cost base", "Unit cost", "Discount on"
        )
        self.query_one("#tax", DataTable).add_columns(
            "Asset", "Acquired", "Disposed", "Qty", "Cost base", "Proceeds", "Gain", ">12m"
        )
        if self._view is not None:
            self._show_positions(self._view)
        else:
            self._paint_waiting(self._waiting)
        self.load()

    # -- loading ---------------------------------------------------------------------------

    @work(exclusive=True, group="pnl.load", exit_on_error=False, name="load PnL")
    async def load(self) -> None:
        """Read the curve, the lots and the tax year (and the positions when not given)."""
        try:
            view = self._view or await self.engine.trading()
            if view.tax_zone != self.zone.key:
                self.zone = ZoneInfo(view.tax_zone)
                if not self._fy_chosen:
                    self.fy = financial_year(self.engine.now(), self.zone)
            self._show_positions(view)
            quote = view.portfolio.quote if view.portfolio else ""
            self.query_one(EquityCurve).show(await self.engine.equity_curve(CURVE_POINTS), quote)
            self._show_lots(await self.engine.lots())
        except TradingUnavailable as exc:  # said in place of the book, not as a failure notice
            self._paint_waiting(str(exc))
            return
        await self._load_tax()

    @work(exclusive=True, group="pnl.tax", exit_on_error=False, name="tax report")
    async def load_tax(self) -> None:
        await self._load_tax()

    async def _load_tax(self) -> None:
        fy = self.fy
        table = self.query_one("#tax", DataTable)
        table.border_title = f"Tax FY{fy} · 1 Jul {fy - 1} – 30 Jun {fy}"
        table.border_subtitle = "loading…"
        try:
            report = await self.engine.tax_report(fy)
        except (ValueError, TradingUnavailable) as exc:  # a year it cannot report on says why
            self.report = None
            table.clear()
            table.border_subtitle = ""
            self.query_one("#tax-totals", Static).update(Text(str(exc), style="red"))
            return
        if fy == self.fy:
            self._show_tax(report)

    @on(BookWaiting)
    def _book_waiting(self, message: BookWaiting) -> None:
        if self._view is None:
            self._paint_waiting(message.reason)

    @on(BookChanged)
    def _book_changed(self, message: BookChanged) -> None:
        self._view = message.view
        self._show_positions(message.view)
        if message.fills_changed:
            self.load()

    # -- painting --------------------------------------------------------------------------

    def _paint_waiting(self, reason: str) -> None:
        """Every pane says what the book waits for; ``load`` fills them in when it arrives."""
        self.query_one(PositionsPane).wait(reason)
        self.query_one(EquityCurve).show([], "", empty=f"{reason}…")
        self.query_one("#lots", DataTable).border_subtitle = "waiting for the book"
        self.query_one("#tax-totals", Static).update(Text(f"{reason}…", style="dim"))

    def _show_positions(self, view: TradingView) -> None:
        self.query_one(PositionsPane).show(view.positions, view.portfolio)

    def _show_lots(self, lots: list[LotView]) -> None:
        self.lots = lots
        table = self.query_one("#lots", DataTable)
        table.clear()
        for lot in lots:
            eligible = lot.long_term_from.astimezone(self.zone)
            table.add_row(
                Text(lot.asset, style="bold"),
                Text(f"{lot.acquired_at.astimezone(self.zone):%Y-%m-%d}"),
                Text(fmt.qty(lot.quantity), justify="right"),
                Text(fmt.money(lot.cost), justify="right"),
                Text(fmt.exact_price(lot.unit_cost), justify="right"),
                Text(f"{eligible:%Y-%m-%d}", style="cyan"),
            )
        table.border_subtitle = _count(len(lots), "lot") if lots else "none open"

    def _show_tax(self, report: dict[str, Any]) -> None:
        self.report = report
        table = self.query_one("#tax", DataTable)
        table.clear()
        rows = report.get("rows", [])
        for row in rows:
            gain = Decimal(row["gain"])
            table.add_row(
                Text(row["asset"], style="bold"),
                Text(row["acquired"]),
                Text(row["disposed"]),
                Text(fmt.qty(Decimal(row["quantity"])), justify="right"),
                Text(fmt.money(Decimal(row["cost_base"])), justify="right"),
                Text(fmt.money(Decimal(row["proceeds"])), justify="right"),
                Text(fmt.money(gain, signed=True), justify="right", style=fmt.pnl_style(gain)),
                Text("yes" if row["held_over_12_months"] else "no"),
            )
        table.border_subtitle = _count(len(rows), "disposal") if rows else "no disposals"
        self.query_one("#tax-totals", Static).update(_totals(report))

    # -- actions ---------------------------------------------------------------------------

    def action_year(self, step: int) -> None:
        self.fy += step
        self._fy_chosen = True
        self.load_tax()

    def action_reload(self) -> None:
        self._view = None
        self.load()

    def action_close(self) -> None:
        self.app.pop_screen()

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.notify(f"{event.worker.name} failed: {event.worker.error}", severity="error")


def _totals(report: dict[str, Any]) -> Text:
    totals = report.get("totals", {})
    quote = report.get("quote", "")
    text = Text(f"FY{report.get('fy')} ", style="bold")
    for key, label in (
        ("gains", "gains"),
        ("losses", "losses"),
        ("net", "net"),
        ("long_term_gains", "discount-eligible gains"),
    ):
        value = Decimal(totals.get(key, "0"))
        text.append(f" · {label} ", style="dim")
        style = fmt.pnl_style(-value if key == "losses" else value)
        text.append(fmt.money(value), style=style)
    text.append(f" {quote}", style="dim")
    return text


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
