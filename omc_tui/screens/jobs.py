"""The jobs screen: every scheduled job, the health of each data feed and the quality scores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from engine.api import EngineAPI
from engine.events import FeedEvent, QualityEvent
from engine.jobs import JobStatus
from omc_tui.widgets.status import FEED_STYLE, JOB_STYLE

REFRESH_SECONDS = 1.0
ERROR_WIDTH = 40


_JOB_COLUMNS = (
    ("job", "Job", 22),
    ("status", "Status", 7),
    ("last", "Last run", 9),
    ("next", "Next run", 9),
    ("rows", "Rows", 6),
    ("runs", "Runs", 5),
    ("failures", "Fails", 5),
    ("error", "Last error", None),
)
_FEED_COLUMNS = (
    ("feed", "Feed", 16),
    ("status", "Status", 8),
    ("retry", "Retry", 8),
    ("error", "Error", None),
)

Cells = tuple[Text, ...]


class _CursorTable(DataTable[Text]):
    """A row-cursor table that also answers the desk's j/k."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="jobs.down", tooltip="Next row"),
        Binding("k", "cursor_up", "Up", show=False, id="jobs.up", tooltip="Previous row"),
    ]


class JobsScreen(Screen[None]):
    """Run, pause and resume jobs; watch feeds and data quality. Refreshes from the snapshot."""

    DEFAULT_CSS = """
    JobsScreen { layout: vertical; }
    JobsScreen DataTable { border: round $primary-darken-2; }
    JobsScreen DataTable:focus { border: round $accent; }
    JobsScreen #jobs { height: 1fr; }
    JobsScreen #job-detail { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    JobsScreen #health { height: 11; }
    JobsScreen #feeds { width: 1fr; height: 100%; }
    JobsScreen #quality {
        width: 42; height: 100%; padding: 0 1; border: round $primary-darken-2;
    }
    """
    BINDINGS = [
        Binding("r", "run_job", "Run now", id="jobs.run", tooltip="Run the selected job now"),
        Binding("p", "pause_job", "Pause", id="jobs.pause", tooltip="Pause the selected job"),
        Binding("u", "resume_job", "Resume", id="jobs.resume", tooltip="Resume the selected job"),
        Binding(
            "space",
            "toggle_pause",
            "Pause/resume",
            show=False,
            id="jobs.toggle",
            tooltip="Pause the selected job, or resume it when paused",
        ),
        Binding(
            "c",
            "check_quality",
            "Check quality",
            id="jobs.quality",
            tooltip="Score the ledgers' quality now",
        ),
        Binding("escape", "close", "Close", id="jobs.close", tooltip="Back to the desk"),
    ]
    AUTO_FOCUS = "#jobs"

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__()
        self.engine = engine
        self._jobs: dict[str, JobStatus] = {}
        self._shown: dict[str, dict[str, Cells]] = {"jobs": {}, "feeds": {}}

    def compose(self) -> ComposeResult:
        jobs = _CursorTable(id="jobs", cursor_type="row", zebra_stripes=True)
        jobs.border_title = "Jobs"
        yield jobs
        yield Static(id="job-detail")
        with Horizontal(id="health"):
            feeds = _CursorTable(id="feeds", cursor_type="row")
            feeds.border_title = "Feeds"
            yield feeds
            quality = Static(id="quality")
            quality.border_title = "Quality"
            yield quality
        yield Footer()

    def on_mount(self) -> None:
        for key, label, width in _JOB_COLUMNS:
            self.query_one("#jobs", DataTable).add_column(label, key=key, width=width)
        for key, label, width in _FEED_COLUMNS:
            self.query_one("#feeds", DataTable).add_column(label, key=key, width=width)
        self.refresh_from_engine()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_engine)

    # -- painting --------------------------------------------------------------------------

    def refresh_from_engine(self) -> None:
        """Repaint from ``engine.snapshot()``; only cells that changed are touched."""
        snap = self.engine.snapshot()
        now = snap.now  # the engine's clock: simulated time on the simulated market
        self._jobs = {job.name: job for job in snap.jobs}
        jobs = self.query_one("#jobs", DataTable)
        jobs.border_subtitle = f"engine clock {now:%Y-%m-%d %H:%M:%S} UTC"
        self._sync(jobs, "jobs", {job.name: _job_cells(job, now) for job in snap.jobs})
        self._sync(
            self.query_one("#feeds", DataTable),
            "feeds",
            {feed.feed: _feed_cells(feed, now) for feed in snap.feeds},
        )
        self.query_one("#quality", Static).update(_quality_text(snap.quality, now))
        self._show_detail()

    def _sync(self, table: DataTable[Text], name: str, rows: dict[str, Cells]) -> None:
        shown = self._shown[name]
        columns = [column.key for column in table.ordered_columns]
        if list(rows) != list(shown):
            # Jobs came or went: rebuild, keeping the cursor on the job it was on.
            selected = _selected_key(table)
            table.clear()
            for key, cells in rows.items():
                table.add_row(*cells, key=key)
            if selected in rows:
                table.move_cursor(row=list(rows).index(selected), animate=False)
        else:
            for key, cells in rows.items():
                for column, cell, old in zip(columns, cells, shown[key], strict=True):
                    if cell != old:
                        table.update_cell(key, column, cell, update_width=True)
        self._shown[name] = rows

    @on(DataTable.RowHighlighted, "#jobs")
    def _show_detail(self) -> None:
        job = self._jobs.get(_selected_key(self.query_one("#jobs", DataTable)) or "")
        detail = self.query_one("#job-detail", Static)
        if job is None:
            detail.update("")
            return
        text = Text.assemble(
            (job.name, "bold"), f" — {job.description} · every {_span(job.interval)}"
        )
        if job.last_error:
            text.append(" · last error: ")
            text.append(job.last_error, style="red")
        detail.update(text)

    # -- actions ---------------------------------------------------------------------------

    def _selected(self) -> str | None:
        return _selected_key(self.query_one("#jobs", DataTable))

    def action_run_job(self) -> None:
        if name := self._selected():
            self._run(name)

    def action_pause_job(self) -> None:
        if name := self._selected():
            self._set_paused(name, True)

    def action_resume_job(self) -> None:
        if name := self._selected():
            self._set_paused(name, False)

    def action_toggle_pause(self) -> None:
        name = self._selected()
        if name is not None and name in self._jobs:
            self._set_paused(name, not self._jobs[name].paused)

    def action_check_quality(self) -> None:
        if "quality.check" not in self._jobs:  # the engine adds it once its database is open
            self.notify("the quality check waits for the database to open", severity="warning")
            return
        self._run("quality.check")

    def action_close(self) -> None:
        self.app.pop_screen()

    # Not exclusive: a second run must not cancel the first, and the run itself is shielded so
    # closing this screen (which cancels its workers) never cuts a job off halfway.
    @work(group="jobs.run", exit_on_error=False, name="run job")
    async def _run(self, name: str) -> None:
        status = await asyncio.shield(self.engine.run_job(name))
        self.refresh_from_engine()
        if status.status == "error":
            self.notify(f"{name} failed: {status.last_error}", severity="error")
        elif status.status == "skipped":
            self.notify(f"{name} is already running", severity="warning")
        else:
            self.notify(f"{name}: {status.status}, {status.last_rows} rows")

    @work(group="jobs.control", exit_on_error=False, name="pause/resume")
    async def _set_paused(self, name: str, paused: bool) -> None:
        if paused:
            await self.engine.pause_job(name)
        else:
            await self.engine.resume_job(name)
        self.refresh_from_engine()
        self.notify(f"{name} {'paused' if paused else 'resumed'}")

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.notify(
                f"{event.worker.name} failed: {_describe(event.worker.error)}", severity="error"
            )


def _selected_key(table: DataTable[Text]) -> str | None:
    if table.row_count == 0:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


def _job_cells(job: JobStatus, now: datetime) -> Cells:
    state = "paused" if job.paused else job.status
    if job.paused:
        next_run = "paused"
    else:
        # APScheduler plans runs on the wall clock, not the engine's (possibly simulated) one.
        next_run = _until(job.next_run, datetime.now(UTC))
    error = job.last_error or ""
    return (
        Text(job.name),
        Text(state, style=JOB_STYLE.get(state, "")),
        Text(_ago(job.last_finished, now)),
        Text(next_run, style="yellow" if job.paused else ""),
        Text(str(job.last_rows), justify="right"),
        Text(str(job.runs), justify="right"),
        Text(str(job.failures), justify="right", style="red" if job.failures else "dim"),
        Text(_truncate(error, ERROR_WIDTH), style="red"),
    )


def _feed_cells(feed: FeedEvent, now: datetime) -> Cells:
    return (
        Text(feed.feed + (" (sim)" if feed.simulated else "")),
        Text(feed.status, style=FEED_STYLE.get(feed.status, "")),
        Text(_until(feed.retry_at, now) if feed.retry_at else "—", style="dim"),
        Text(_truncate(feed.error or "", ERROR_WIDTH), style="red"),
    )


def _quality_text(quality: QualityEvent | None, now: datetime) -> Text:
    if quality is None:
        return Text.assemble(
            ("no quality check yet", "dim"), "\npress ", ("c", "bold"), " to run one"
        )
    text = Text("overall ", style="bold")
    text.append(f"{quality.overall:.2f}", style="bold red" if quality.alert else "bold green")
    text.append("  ALERT" if quality.alert else "  ok", style="red" if quality.alert else "green")
    text.append(f"  · {_ago(quality.at, now)}\n", style="dim")
    for ledger, score in quality.ledgers.items():
        style = _score_style(score)
        filled = round(max(0.0, min(1.0, score)) * 10)
        text.append(f"{ledger:<10}")
        text.append("█" * filled, style=style)
        text.append("░" * (10 - filled), style="dim")
        text.append(f" {score:.2f}\n", style=style)
    if quality.failing:
        text.append("failing: ", style="bold")
        text.append(", ".join(quality.failing), style="red")
    return text


def _score_style(score: float) -> str:
    return "green" if score >= 0.9 else "yellow" if score >= 0.7 else "red"


def _span(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = (now - then).total_seconds()
    return "just now" if seconds < 1 else f"{_span(seconds)} ago"


def _until(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "—"
    seconds = (when - now).total_seconds()
    return "due" if seconds < 1 else f"in {_span(seconds)}"


def _truncate(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _describe(exc: BaseException | None) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
