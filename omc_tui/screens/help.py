"""The help screen: every action with its keys, from the one registry."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from omc_tui.actions import ACTIONS


def _keys(keys: str) -> str:
    names = {"question_mark": "?", "ctrl+p": "ctrl+p", "down": "↓", "up": "↑"}
    return " ".join(names.get(k, k) for k in keys.split(","))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self._keymap = keymap

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, title="Oh My Coins — keys", title_style="bold")
        table.add_column("Keys", style="bold cyan", no_wrap=True)
        table.add_column("Action")
        table.add_column("Id", style="dim", no_wrap=True)
        for a in ACTIONS:
            table.add_row(_keys(self._keymap.get(a.id, a.keys)), a.help, a.id)
        with VerticalScroll():
            yield Static(table)
            yield Static("[dim]Esc closes. Remap keys in the config under [desk.keymap] by id.[/]")
