"""Arming live trading: the user types the phrase, so real money never moves on one keystroke."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

ARM_PHRASE = "ARM LIVE"  # the engine checks it again; this only guides the typing


class ArmLive(ModalScreen[str | None]):
    """Dismisses with the typed phrase when it matches, or None on escape."""

    DEFAULT_CSS = """
    ArmLive { align: center middle; }
    ArmLive > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: thick $error; background: $surface; padding: 0 1;
    }
    ArmLive #arm-title { text-style: bold; color: $error; padding: 1 0 0 0; }
    ArmLive #arm-body { padding: 1 0; }
    ArmLive #arm-hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="arm.cancel", tooltip="Stay disarmed")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Arm live trading?", id="arm-title")
            yield Static(
                "Orders will be sent to the venue and spend real money. Every order still "
                "passes the risk guard, and the kill switch (ctrl+k) halts them all.",
                id="arm-body",
            )
            yield Input(placeholder=f"type {ARM_PHRASE}", id="arm-phrase")
            yield Static(f"type {ARM_PHRASE} and press enter · esc cancels", id="arm-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == ARM_PHRASE:
            self.dismiss(event.value.strip())
        else:
            self.query_one("#arm-hint", Static).update(
                f"that is not {ARM_PHRASE}: type it exactly, or esc to cancel"
            )

    def action_cancel(self) -> None:
        self.dismiss(None)
