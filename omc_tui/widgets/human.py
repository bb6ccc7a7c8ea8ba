"""The human pane: the market mood gauge and the latest scored news and social items."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from engine.api import HumanView, MoodView

GAUGE_WIDTH = 20


def mood_colour(value: float) -> str:
    if value < 25:
        return "bold red"
    if value < 45:
        return "red"
    if value < 55:
        return "yellow"
    if value < 75:
        return "green"
    return "bold green"


def score_style(score: float) -> str:
    if score >= 0.25:
        return "green"
    if score <= -0.25:
        return "red"
    return "dim"


class HumanPane(Widget):
    DEFAULT_CSS = """
    HumanPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mood: MoodView | None = None
        self.items: list[HumanView] = []
        self.scope = ""

    def show(self, mood: MoodView | None, items: Sequence[HumanView], scope: str) -> None:
        self.mood, self.items, self.scope = mood, list(items), scope
        self.border_title = f"Human · {scope}" if scope else "Human"
        self.refresh()

    def render(self) -> Group:
        parts: list[Text | Table] = [self._gauge()]
        if not self.items:
            parts.append(Text("no news or social items yet", style="dim"))
            return Group(*parts)
        table = Table(box=None, expand=True, show_header=False, padding=(0, 1, 0, 0))
        table.add_column("score", width=5, justify="right")
        table.add_column("coins", width=9, no_wrap=True)
        table.add_column("title", ratio=1, no_wrap=True, overflow="ellipsis")
        for item in self.items[: max(1, self.size.height - 2)]:
            table.add_row(
                Text(f"{item.score:+.2f}", style=score_style(item.score)),
                Text(",".join(item.currencies[:2]), style="cyan"),
                Text(item.title),
            )
        parts.append(table)
        return Group(*parts)

    def _gauge(self) -> Text:
        mood = self.mood
        if mood is None:
            return Text("mood: no reading yet", style="dim")
        filled = round(mood.value / 100 * GAUGE_WIDTH)
        colour = mood_colour(mood.value)
        text = Text("mood ")
        text.append("█" * filled, style=colour)
        text.append("░" * (GAUGE_WIDTH - filled), style="dim")
        text.append(f" {mood.value:.0f} {mood.label}", style=colour)
        return text
