"""The desk's top line: book mode, data source, engine location, venue and the clock."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from engine.events import ModeEvent


class DeskHeader(Widget):
    DEFAULT_CSS = """
    DeskHeader { height: 1; background: $panel; }
    """

    mode: reactive[ModeEvent | None] = reactive(None)
    now: reactive[datetime | None] = reactive(None)

    def render(self) -> Text:
        text = Text(" OMC ", style="bold reverse")
        mode = self.mode
        if mode is not None:
            text.append(" ")
            text.append(
                f" {mode.trading} ",
                style="bold black on yellow" if mode.trading == "LIVE" else "bold black on green",
            )
            text.append(" ")
            text.append(
                f" {mode.data} data ",
                style="bold white on magenta" if mode.data == "SIM" else "bold black on cyan",
            )
            text.append(f"  {mode.engine} engine · {mode.venue}")
        if self.now is not None:
            clock = self.now.strftime("%Y-%m-%d %H:%M:%S UTC")
            pad = self.size.width - text.cell_len - len(clock) - 1
            text.append(" " * max(1, pad))
            text.append(clock, style="bold")
        return text
