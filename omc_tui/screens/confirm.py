"""A confirmation for destructive or consequential actions: each choice has its own key."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


@dataclass(frozen=True, slots=True)
class Choice:
    key: str  # a Textual key name, pressed to choose it
    label: str
    value: str
    variant: str = "default"  # a Button variant: default, primary, error, warning, success


class Confirm(ModalScreen[str | None]):
    """Asks one question; dismisses with the chosen value, or None on escape."""

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: thick $error 60%; background: $surface; padding: 0 1;
    }
    Confirm #confirm-title { text-style: bold; padding: 1 0 0 0; }
    Confirm #confirm-body { padding: 1 0; }
    Confirm #confirm-choices { height: auto; align-horizontal: right; }
    Confirm Button { margin: 0 0 0 1; }
    """
    BINDINGS = [
        Binding("escape", "dismiss_none", "Cancel", id="confirm.cancel", tooltip="Do nothing")
    ]

    def __init__(self, title: str, body: Text | str, choices: list[Choice]) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, id="confirm-title")
            yield Static(self._body, id="confirm-body")
            with Horizontal(id="confirm-choices"):
                for choice in self._choices:
                    yield Button(
                        Text.assemble(choice.label, (f" {choice.key}", "dim")),
                        variant=choice.variant,  # type: ignore[arg-type]
                        name=choice.value,
                    )
                # With nothing to choose the modal only informs: its one button closes it.
                close = "Cancel" if self._choices else "Close"
                yield Button(Text.assemble(close, (" esc", "dim")), name="")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_key(self, event: events.Key) -> None:
        for choice in self._choices:
            if event.key == choice.key:
                event.stop()
                self.dismiss(choice.value)
                return

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.name or None)
