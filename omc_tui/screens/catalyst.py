"""The detail of one catalyst event, with its link."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.api import CatalystView
from omc_tui.widgets.catalysts import impact_style


class CatalystDetail(ModalScreen[None]):
    DEFAULT_CSS = """
    CatalystDetail { align: center middle; }
    CatalystDetail > Vertical {
        width: 90; max-width: 100%; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,enter", "dismiss", "Close", id="catalyst.close")]

    def __init__(self, event: CatalystView) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        e = self.event
        title = Text(e.title, style="bold")
        facts = Text()
        facts.append(f"impact {e.impact}/10", style=impact_style(e.impact))
        facts.append(f" · {e.type.replace('_', ' ')} · {e.source}")
        facts.append(f" · {e.occurred.strftime('%Y-%m-%d %H:%M UTC')}")
        if e.currencies:
            facts.append(f" · {', '.join(e.currencies)}", style="cyan")
        link = Text(e.url or "no link", style="underline" if e.url else "dim")
        if e.url:
            link.stylize(f"link {e.url}")
        with Vertical():
            yield Static(title)
            yield Static(facts)
            yield Static(link)
            yield Static(Text("Esc closes", style="dim"))
