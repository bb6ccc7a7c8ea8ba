"""The catalyst feed: dated events, newest first, coloured by impact, filterable by type."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from engine.api import CatalystView

TYPES = (
    "all",
    "listing",
    "delisting",
    "maintenance",
    "trading",
    "governance_vote",
    "filing_8k",
    "insider_trade",
)


def impact_style(impact: int) -> str:
    if impact >= 8:
        return "bold red"
    if impact >= 6:
        return "yellow"
    if impact >= 4:
        return "cyan"
    return "dim"


class CatalystFeed(DataTable[Text]):
    """Catalysts of the selected symbol (or all when it has none); enter opens the detail."""

    DEFAULT_CSS = """
    CatalystFeed { height: 1fr; }
    """
    BINDINGS = [
        Binding("f", "cycle_type", "Type filter", id="catalysts.filter"),
        Binding("enter", "open", "Details", id="catalysts.open"),
    ]

    class Opened(Message):
        def __init__(self, event: CatalystView) -> None:
            super().__init__()
            self.event = event

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.events: list[CatalystView] = []
        self.type_filter = "all"
        self.scope = ""

    def on_mount(self) -> None:
        self.add_columns("Imp", "When (UTC)", "Type", "Coins", "Event")
        self.border_title = "Catalysts"

    def show(self, events: Sequence[CatalystView], scope: str) -> None:
        self.events = list(events)
        self.scope = scope
        self._fill()

    def _fill(self) -> None:
        shown = [e for e in self.events if self.type_filter in ("all", e.type)]
        self.clear()
        for e in shown:
            style = impact_style(e.impact)
            self.add_row(
                Text(f"{e.impact:>2}", style=style),
                Text(e.occurred.strftime("%m-%d %H:%M")),
                Text(e.type.replace("_", " ")),
                Text(",".join(e.currencies[:3])),
                Text(e.title, style=style if e.impact >= 8 else ""),
            )
        suffix = "" if self.type_filter == "all" else f" · {self.type_filter}"
        self.border_title = (
            f"Catalysts · {self.scope}{suffix}" if self.scope else f"Catalysts{suffix}"
        )
        if not shown:
            self.border_subtitle = "nothing yet"
        else:
            self.border_subtitle = f"{len(shown)} events"

    def visible(self) -> list[CatalystView]:
        return [e for e in self.events if self.type_filter in ("all", e.type)]

    def action_cycle_type(self) -> None:
        self.type_filter = TYPES[(TYPES.index(self.type_filter) + 1) % len(TYPES)]
        self._fill()

    def action_open(self) -> None:
        shown = self.visible()
        if shown and 0 <= self.cursor_row < len(shown):
            self.post_message(self.Opened(shown[self.cursor_row]))
