"""A strategy's parameters typed as ``fast=10 slow=30``: edits kept per strategy, errors beneath."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from engine.api import StrategyInfo


class ParamsError(ValueError):
    """Typed parameters that are not ``key=value`` pairs; the message says which part."""


def params_text(params: Mapping[str, object]) -> str:
    """Parameters as the user types them: ``fast=10 slow=30``."""
    return " ".join(f"{k}={v}" for k, v in params.items())


def parse_params(text: str) -> dict[str, str]:
    """``fast=10 slow=30`` (or comma separated) as the engine takes them, values unparsed."""
    params: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ParamsError(f"{item!r} is not key=value")
        if key in params:
            raise ParamsError(f"{key} is given twice")
        params[key] = value
    return params


class _ParamsInput(Input):
    # Escape leaves the input instead of reaching the screen (where it closes the screen).
    BINDINGS = [
        Binding("escape", "done", "Done", id="params.done", tooltip="Back to the strategies"),
    ]

    def action_done(self) -> None:
        self.post_message(StrategyParams.Done())


class StrategyParams(Vertical):
    """The shown strategy's parameters: the user's edit of them if any, else its defaults."""

    DEFAULT_CSS = """
    StrategyParams { height: auto; border: round $primary-darken-2; padding: 0 1; }
    StrategyParams:focus-within { border: round $accent; }
    StrategyParams > Input { width: 100%; }
    StrategyParams > #params-error { display: none; color: $error; }
    StrategyParams.-error > #params-error { display: block; }
    """

    class Done(Message):
        """Enter or escape in the input: the user has finished editing."""

    def __init__(self, *, edits: dict[str, str] | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.strategy: str | None = None  # whose parameters the input shows
        self._defaults: dict[str, str] = {}
        # What the user typed per strategy; the desk passes its own dict to keep them.
        self._edits: dict[str, str] = {} if edits is None else edits
        self._errors: dict[str, str] = {}
        self.border_title = "Parameters"

    def compose(self) -> ComposeResult:
        yield _ParamsInput(placeholder="defaults", compact=True, select_on_focus=False)
        yield Static(id="params-error")

    def show(self, strategy: StrategyInfo) -> None:
        """Show ``strategy``'s parameters: the user's edit of them if any, else its defaults."""
        box = self.query_one(Input)
        self.strategy = strategy.name
        self._defaults[strategy.name] = params_text(strategy.params)
        with box.prevent(Input.Changed):  # showing is not typing: no edit, no cleared error
            box.value = self._edits.get(strategy.name, self._defaults[strategy.name])
        box.cursor_position = len(box.value)
        self._paint_error()

    def edit(self) -> None:
        self.query_one(Input).focus()

    def params(self) -> dict[str, str] | None:
        """What the user typed, parsed; None (and the reason shown) when it is malformed."""
        try:
            return parse_params(self.query_one(Input).value)
        except ParamsError as e:
            if self.strategy is not None:
                example = self._defaults[self.strategy]
                self.refuse(self.strategy, f"{e}: type them as {example}" if example else str(e))
            return None

    def refuse(self, strategy: str, message: str) -> None:
        """Show why ``strategy``'s parameters were refused, now or when it is shown again."""
        self._errors[strategy] = message
        self._paint_error()

    def _paint_error(self) -> None:
        message = self._errors.get(self.strategy or "")
        self.query_one("#params-error", Static).update(Text(message or ""))
        self.set_class(message is not None, "-error")

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if self.strategy is None:
            return
        if event.value == self._defaults[self.strategy]:
            self._edits.pop(self.strategy, None)
        else:
            self._edits[self.strategy] = event.value
        if self._errors.pop(self.strategy, None) is not None:
            self._paint_error()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Done())
