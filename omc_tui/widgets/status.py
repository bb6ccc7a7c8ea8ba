"""The status bar: the book's equity, and the health of every job and feed at a glance."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget

from engine.events import FeedEvent, JobEvent, PortfolioEvent
from omc_tui import format as fmt

if TYPE_CHECKING:
    from engine.jobs import JobStatus

# Shared with the jobs screen so a state looks the same everywhere.
JOB_STYLE = {
    "ok": "green",
    "running": "cyan",
    "idle": "dim",
    "skipped": "yellow",
    "error": "bold red",
    "paused": "yellow",
}
FEED_STYLE = {"ok": "green", "starting": "dim", "degraded": "yellow", "down": "bold red"}


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._jobs: dict[str, tuple[str, datetime | None]] = {}
        self._feeds: dict[str, FeedEvent] = {}
        self.portfolio: PortfolioEvent | None = None

    def set_jobs(self, jobs: list[JobStatus]) -> None:
        for job in jobs:
            state = "paused" if job.paused else job.status
            self._jobs[job.name] = (state, job.last_finished)
        self.refresh()

    def on_job(self, event: JobEvent) -> None:
        if event.status == "running":
            return  # runs take milliseconds: showing them would only flicker
        state = "ok" if event.status == "resumed" else event.status
        self._jobs[event.job] = (state, event.at)
        self.refresh()

    def on_feed(self, event: FeedEvent) -> None:
        self._feeds[event.feed] = event
        self.refresh()

    def forget_feed(self, name: str) -> None:
        """A feed that no longer applies (the engine the desk was attached to)."""
        if self._feeds.pop(name, None) is not None:
            self.refresh()

    def set_portfolio(self, event: PortfolioEvent) -> None:
        self.portfolio = event
        self.refresh()

    def feed(self, name: str) -> FeedEvent | None:
        return self._feeds.get(name)

    def render(self) -> Text:
        full = self._status_text(compact=False)
        return full if full.cell_len <= self.size.width else self._status_text(compact=True)

    def _status_text(self, *, compact: bool) -> Text:
        """Equity, every job and feed by name; compact keeps names only for what is not healthy."""
        text = Text(" ")
        if self.portfolio is not None:
            p = self.portfolio
            text.append("eq " if compact else "equity ", style="dim")
            text.append(fmt.money(p.equity), style="bold")
            if not compact:
                text.append(f" {p.quote}", style="dim")
            if p.day_pnl is not None and not compact:
                text.append(
                    f" {fmt.money(p.day_pnl, signed=True)} today", style=fmt.pnl_style(p.day_pnl)
                )
            text.append(" │ ", style="dim")
        if compact:
            text.append("jobs ")
        for name, (state, _) in self._jobs.items():
            text.append("●" if compact else "● ", style=JOB_STYLE.get(state, ""))
            if not compact:
                text.append(f"{name.split('.', 1)[-1]} ")
        if compact:
            failing = [n for n, (state, _) in self._jobs.items() if state == "error"]
            text.append(f" {' '.join(failing)} failed " if failing else " ", style="bold red")
        text.append("│", style="dim")
        for feed in self._feeds.values():
            healthy = feed.status == "ok"
            text.append(f" {feed.feed} ")
            text.append(
                "●" if compact and healthy else feed.status, style=FEED_STYLE.get(feed.status, "")
            )
        return text
