"""The order ticket: quantity, optional limit and expiry, and side, with a live preview."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from engine import durations
from engine.api import EngineAPI, OrderPreview, OrderResult
from omc_tui import format as fmt
from omc_tui.messages import BookChanged, BookWaiting

DEBOUNCE_SECONDS = 0.15  # typing faster than this asks the engine once, for the last keystroke
Fields = tuple[str, str, str]  # side, quantity, limit price (empty: market)
_EXPIRES_FORMS = "30m, 2h, 1d, 90s or an ISO time"


class _SideToggle(Widget, can_focus=True):
    """Buy or sell; space, the arrows, ``b`` and ``s`` switch it."""

    DEFAULT_CSS = """
    _SideToggle { width: auto; height: 1; }
    _SideToggle:focus { text-style: underline; }
    """
    BINDINGS = [
        Binding("space,left,right", "toggle", "Buy/sell", id="ticket.side", tooltip="Switch side"),
        Binding("b", "set('buy')", "Buy", show=False, id="ticket.buy", tooltip="Buy"),
        Binding("s", "set('sell')", "Sell", show=False, id="ticket.sell", tooltip="Sell"),
    ]

    side: reactive[str] = reactive("buy")

    class Changed(Message):
        def __init__(self, side: str) -> None:
            super().__init__()
            self.side = side

    def render(self) -> Text:
        text = Text()
        for side, colour in (("buy", "green"), ("sell", "red")):
            chosen = side == self.side
            text.append(
                f" {side.upper() if chosen else side} ",
                style=f"bold black on {colour}" if chosen else "dim",
            )
            text.append(" ")
        return text

    def action_toggle(self) -> None:
        self.side = "sell" if self.side == "buy" else "buy"

    def action_set(self, side: str) -> None:
        self.side = side

    def watch_side(self, side: str) -> None:
        self.post_message(self.Changed(side))


class OrderTicket(ModalScreen[OrderResult | None]):
    """Place one order on the selected symbol; enter sends only what the risk guard allows."""

    DEFAULT_CSS = """
    OrderTicket { align: center middle; }
    OrderTicket > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    OrderTicket .ticket-row { height: 1; margin: 0 0 1 0; }
    OrderTicket .ticket-row > Label { width: 10; color: $text-muted; }
    OrderTicket .ticket-row > Input { width: 24; }
    OrderTicket .ticket-unit { width: auto; padding: 0 1; color: $text-muted; }
    OrderTicket #ticket-expires-note.-error { color: $error; }
    OrderTicket #ticket-market { color: $text-muted; }
    OrderTicket #ticket-estimate { height: auto; min-height: 3; }
    OrderTicket #ticket-verdict { height: auto; min-height: 1; }
    OrderTicket #ticket-hint { color: $text-muted; margin: 1 0 0 0; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="ticket.close", tooltip="Close without sending"),
        Binding("enter", "send", "Send", id="ticket.send", tooltip="Send the order"),
    ]
    AUTO_FOCUS = "#quantity"

    def __init__(
        self, engine: EngineAPI, symbol: str, side: str = "buy", waiting: str | None = None
    ) -> None:
        super().__init__()
        self.engine = engine
        self.waiting = waiting  # what the book waits for: nothing is sent until it is read
        self.symbol = symbol
        self.base, _, self.quote = symbol.partition("/")
        self._side = side
        self._client_id = "omc-" + uuid.uuid4().hex[:20]  # one per ticket: a resend is a no-op
        self._timer: Timer | None = None
        self.preview: OrderPreview | None = None
        self._estimated: OrderPreview | None = None  # the preview the summary shows
        self._previewed: Fields | None = None
        self._sending = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="ticket-title")
            with Horizontal(classes="ticket-row"):
                yield Label("Side")
                toggle = _SideToggle(id="side")
                toggle.set_reactive(_SideToggle.side, self._side)
                yield toggle
            with Horizontal(classes="ticket-row"):
                yield Label("Quantity")
                yield Input(placeholder="0", restrict=r"[0-9.]*", compact=True, id="quantity")
                yield Static(self.base, classes="ticket-unit")
            with Horizontal(classes="ticket-row"):
                yield Label("Limit")
                yield Input(placeholder="market", restrict=r"[0-9.]*", compact=True, id="limit")
                yield Static(f"{self.quote} · empty sends a market order", classes="ticket-unit")
            with Horizontal(classes="ticket-row"):
                yield Label("Expires")
                yield Input(
                    placeholder="good till cancelled",
                    max_length=32,
                    compact=True,
                    disabled=True,  # until there is a limit: a market order fills now
                    id="expires",
                )
                yield Static(_EXPIRES_FORMS, classes="ticket-unit", id="ticket-expires-note")
            yield Static(id="ticket-market")
            yield Static(id="ticket-estimate")
            yield Static(id="ticket-verdict")
            yield Static(
                "enter sends · tab next field · space switches the side · esc closes",
                id="ticket-hint",
            )

    def on_mount(self) -> None:
        self._paint_title()
        self._paint_expiry()
        self._paint_market()
        self._paint_estimate(None, "type a quantity to see the estimated fill")

    @on(BookWaiting)
    def _book_waiting(self, message: BookWaiting) -> None:
        if self.waiting is not None:
            self.waiting = message.reason
            if self.preview is None:
                self._paint_estimate(None)

    @on(BookChanged)
    def _book_read(self) -> None:
        if self.waiting is not None:
            self.waiting = None
            self._changed()  # the preview that waited is asked again, of a ready engine

    # -- preview ---------------------------------------------------------------------------

    def fields(self) -> Fields:
        return (
            self.query_one(_SideToggle).side,
            self.query_one("#quantity", Input).value.strip(),
            self.query_one("#limit", Input).value.strip(),
        )

    def expiry(self) -> datetime | str | None:
        """When the order would expire if sent now, why the typed expiry is unusable, or None.

        None is good till cancelled, and also any market order: the expiry is then ignored.
        """
        if not self.fields()[2]:
            return None
        try:
            return durations.expiry_at(self.query_one("#expires", Input).value, self.engine.now())
        except ValueError as exc:
            return str(exc)

    @on(Input.Changed, "#quantity, #limit")
    @on(_SideToggle.Changed)
    def _changed(self) -> None:
        self._paint_title()
        self._paint_expiry()
        if self._timer is not None:
            self._timer.stop()
        if not self.fields()[1]:
            self.preview, self._previewed = None, None
            self._paint_estimate(None, "type a quantity to see the estimated fill")
            return
        if self.waiting is None:
            self.query_one("#ticket-verdict", Static).update(Text("checking…", style="dim"))
        self._timer = self.set_timer(DEBOUNCE_SECONDS, self.refresh_preview)

    @on(Input.Changed, "#expires")
    def _expires_changed(self) -> None:
        self._paint_expiry()  # the engine's preview does not depend on it: nothing to ask

    @work(exclusive=True, group="ticket.preview", exit_on_error=False, name="preview")
    async def refresh_preview(self) -> None:
        """Ask the engine what the order would do now; a newer keystroke supersedes this."""
        fields = self.fields()
        answer = await self._ask(fields)
        if fields == self.fields():
            self._paint_market()
            self._paint_answer(answer)

    async def _ask(self, fields: Fields) -> OrderPreview | str:
        """The engine's preview of ``fields``, or why there is none."""
        side, quantity, limit = fields
        try:
            preview = await self.engine.preview_order(self.symbol, side, quantity, limit or None)
        except Exception as exc:  # bad input or an engine that went away: say which
            self.preview, self._previewed = None, None
            return str(exc)
        self.preview, self._previewed = preview, fields
        self.waiting = None  # the engine answered: trading is up, whatever the desk has read
        return preview

    # -- sending ---------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_send()

    def action_send(self) -> None:
        if not self._sending:
            self._send()

    @work(group="ticket.send", exit_on_error=False, name="send")
    async def _send(self) -> None:
        self._sending = True
        try:
            fields = self.fields()
            side, quantity, limit = fields
            if not quantity:
                self._paint_estimate(None, "enter a quantity first", error=True)
                return
            if self.waiting is not None:
                self.notify(self.waiting, title="not sent", severity="warning")
                return
            # Counted from the engine's clock when enter is pressed, and checked before anything
            # is asked of the engine.
            expires_at = self.expiry()
            if isinstance(expires_at, str):
                self.notify(expires_at, title="not sent: expiry", severity="error")
                return
            preview: OrderPreview | str | None = self.preview
            if preview is None or self._previewed != fields:
                preview = await self._ask(fields)
            self._paint_answer(preview)
            if isinstance(preview, str):
                return
            if not preview.allowed:
                self.notify(preview.message, title=f"not sent: {preview.rule}", severity="error")
                return
            # Shielded: closing the ticket must not cut an order off between the engine's steps.
            result = await asyncio.shield(
                self.engine.place_order(
                    self.symbol,
                    side,
                    quantity,
                    limit or None,
                    client_id=self._client_id,
                    expires_at=expires_at,
                )
            )
        finally:
            self._sending = False
        self.notify(result.message, severity="information" if result.accepted else "error")
        self.dismiss(result)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.notify(f"order not sent: {event.worker.error}", severity="error")

    # -- painting --------------------------------------------------------------------------

    def _paint_title(self) -> None:
        side = self.query_one(_SideToggle).side
        limit = self.query_one("#limit", Input).value.strip()
        title = Text(f"{side.capitalize()} ", style="bold green" if side == "buy" else "bold red")
        title.append(self.symbol, style="bold")
        title.append(" · limit" if limit else " · market", style="dim")
        self.query_one("#ticket-title", Static).update(title)

    def _paint_expiry(self) -> None:
        box = self.query_one("#expires", Input)
        box.disabled = not self.fields()[2]
        note = self.query_one("#ticket-expires-note", Static)
        note.set_class(isinstance(self.expiry(), str), "-error")
        if not box.disabled:
            note.update(_EXPIRES_FORMS)
        elif box.value.strip():
            note.update("ignored without a limit price")
        else:
            note.update("only with a limit price")
        self._paint_summary()

    def _paint_market(self) -> None:
        row = next((r for r in self.engine.snapshot().watchlist if r.symbol == self.symbol), None)
        quote = row.quote if row is not None else None
        text = Text("market    ")
        if quote is None:
            text.append("no quote yet", style="italic")
        else:
            text.append(f"bid {fmt.price(quote.bid)} · ask {fmt.price(quote.ask)}")
            text.append(f" · last {fmt.price(quote.last)}")
        self.query_one("#ticket-market", Static).update(text)

    def _paint_answer(self, answer: OrderPreview | str | None) -> None:
        if isinstance(answer, str):
            self._paint_estimate(None, answer, error=True)
        else:
            self._paint_estimate(answer)

    def _paint_estimate(
        self, preview: OrderPreview | None, note: str = "", *, error: bool = False
    ) -> None:
        self._estimated = preview
        self._paint_summary()
        verdict = self.query_one("#ticket-verdict", Static)
        if preview is None and self.waiting is not None:
            verdict.update(Text(f"no orders yet: {self.waiting}", style="yellow"))
        elif preview is None:
            verdict.update(Text(note, style="red" if error else "dim"))
        if preview is None:
            return
        if preview.allowed:
            verdict.update(Text.assemble(("risk      ", ""), ("ok", "bold green")))
        else:
            verdict.update(
                Text.assemble(
                    ("risk      ", ""),
                    (f"✗ {preview.rule}: ", "bold red"),
                    (preview.message, "red"),
                )
            )

    def _paint_summary(self) -> None:
        """The estimated fill with the expiry, which the ticket works out without the engine."""
        expiry = self.expiry()
        line: Text | None = None
        if isinstance(expiry, str):
            line = Text.assemble(("expires   ", ""), (f"✗ {expiry}", "red"))
        elif expiry is not None:
            line = Text(f"expires   {durations.stamp(expiry)}")
        elif self.fields()[2]:
            line = Text.assemble(("expires   ", ""), ("good till cancelled", "dim"))
        if self._estimated is None:
            summary = line or Text("")
        else:
            summary = _estimate_text(self._estimated, self.base, self.quote, line)
        self.query_one("#ticket-estimate", Static).update(summary)


def _estimate_text(p: OrderPreview, base: str, quote: str, expires: Text | None) -> Text:
    text = Text()
    filled = p.est_quantity
    if filled:
        text.append("fills now ")
        text.append(f"{fmt.qty(filled)} {base}", style="bold")
        text.append(f" at ≈ {fmt.exact_price(p.est_price)} avg")
        if filled < p.quantity and not p.rests:
            text.append(f" (the book holds only {fmt.qty(filled)})", style="yellow")
    else:
        text.append("fills now ")
        text.append("nothing", style="dim")
    if p.rests:
        rest = p.quantity - (filled or 0)
        text.append(f"\nrests     {fmt.qty(rest)} {base} at {fmt.exact_price(p.limit_price)}")
    if expires is not None:
        text.append("\n")
        text.append_text(expires)
    text.append(f"\nnotional  {fmt.money(p.notional)} {quote}")
    text.append(f"\nfee       {fmt.money(p.fee)} {quote} · slippage {fmt.bps(p.slippage_bps)}")
    return text
