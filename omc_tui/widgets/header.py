"""The desk's top line: book mode, kill switch, data source, engine location and the clock."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from engine.events import ModeEvent, TradingEvent


class DeskHeader(Widget):
    DEFAULT_CSS = """
    DeskHeader { height: 1; background: $panel; }
    """

    mode: reactive[ModeEvent | None] = reactive(None)
    trading: reactive[TradingEvent | None] = reactive(None)
    now: reactive[datetime | None] = reactive(None)

    def render(self) -> Text:
        text = Text(" OMC ", style="bold reverse")
        mode = self.mode
        trading = self.trading
        # The book orders go to: its mode and its market (the simulated market and each
        # venue keep separate paper books).
        book = trading.book if trading is not None else mode.book if mode else ""
        kind, _, market = book.partition(":")
        if kind:
            text.append(" ")
            text.append(
                f" {kind.upper()} · {market} ",
                style="bold black on yellow" if kind == "live" else "bold black on green",
            )
        if trading is not None and trading.mode == "live" and trading.armed:
            text.append(" ARMED ", style="bold black on yellow")
        if trading is not None and trading.kill_switch:
            text.append(" ")
            text.append(" KILL ", style="bold white on red")
        if trading is not None and trading.attention:
            # The book could not be replayed: it takes no orders (see omc book check).
            text.append(" ")
            text.append(" BOOK NEEDS ATTENTION ", style="bold white on red")
        if mode is not None:
            text.append(" ")
            text.append(
                f" {mode.data} data ",
                style="bold white on magenta" if mode.data == "SIM" else "bold black on cyan",
            )
            if mode.engine.startswith("reconnecting"):
                text.append(f"  {mode.engine} ", style="bold black on yellow")
                text.append(f" · {mode.venue}")
            elif mode.engine.startswith("attached"):
                text.append(f"  {mode.engine} · {mode.venue}")
            else:
                text.append(f"  {mode.engine} engine · {mode.venue}")
        if self.now is not None:
            text.append_text(self._clock(self.size.width - text.cell_len))
        return text

    def _clock(self, room: int) -> Text:
        """The engine's clock at the right edge. On the simulated market it is simulated time,
        which a sped-up or resumed market keeps apart from the wall clock: labelled SIM."""
        assert self.now is not None
        simulated = self.mode is not None and self.mode.data == "SIM"
        label = "SIM " if simulated else ""
        for form in ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M UTC", "%m-%d %H:%M"):
            clock = label + self.now.strftime(form)
            if len(clock) + 2 <= room:
                break
        text = Text(" " * max(1, room - len(clock) - 1))
        text.append(label, style="bold magenta")
        text.append(clock[len(label) :], style="bold")
        return text
