"""The jobs and ledger-explorer screens, driven through Pilot on the seeded simulated engine."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.notifications import Notification, Notify
from textual.widgets import DataTable, Input, Static

from engine import numbers
from omc_tui.screens.explorer import PAGE_ROWS, ExplorerScreen
from omc_tui.screens.jobs import JobsScreen
from tests.desk.conftest import make_desk, screen_text, settle


async def until(pilot, condition: Callable[[], bool], rounds: int = 150) -> None:
    """Let workers finish until ``condition`` holds (fails the test if it never does).

    At least ``rounds`` pauses, and at least ten seconds of wall time: a machine busy with
    other work slows the engine's start, not what the test asserts."""
    deadline = time.monotonic() + 10.0
    done = 0
    while done < rounds or time.monotonic() < deadline:
        await pilot.pause(0.02)
        done += 1
        if condition():
            return
    raise AssertionError("condition never held")


class Notices(list[Notification]):
    """A ``message_hook`` that keeps every notification the app was asked to show."""

    def __call__(self, message) -> None:
        if isinstance(message, Notify):
            self.append(message.notification)

    def said(self, text: str, severity: str | None = None) -> bool:
        return any(text in n.message and severity in (None, n.severity) for n in self)


def job(app, name: str):
    return next(j for j in app.engine.snapshot().jobs if j.name == name)


def status_line(app) -> str:
    return str(app.screen.query_one("#status", Static).render())


def page_rows(app) -> int:
    return app.screen.query_one("#rows", DataTable).row_count


def column(app, name: str) -> list[str]:
    table = app.screen.query_one("#rows", DataTable)
    return [str(cell) for cell in table.get_column(name)]


async def open_jobs(pilot) -> JobsScreen:
    await settle(pilot)
    await pilot.app.engine.run_once()
    screen = JobsScreen(pilot.app.engine)
    await pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


async def open_explorer(pilot, symbol: str | None = None, table: str = "tickers"):
    await settle(pilot)
    await pilot.app.engine.run_once()
    await pilot.app.push_screen(ExplorerScreen(pilot.app.engine, symbol, table=table))
    await until(pilot, lambda: status_line(pilot.app).startswith(f"{table} · rows"))


async def select_job(pilot, name: str) -> None:
    table = pilot.app.screen.query_one("#jobs", DataTable)
    table.move_cursor(row=table.get_row_index(name))
    await pilot.pause()


# -- jobs ----------------------------------------------------------------------------------


async def test_jobs_screen_lists_every_job_and_r_runs_the_selected_one(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_jobs(pilot)
        snap = app.engine.snapshot()
        jobs = app.screen.query_one("#jobs", DataTable)
        assert len(snap.jobs) >= 10
        assert [str(jobs.get_cell_at((i, 0))) for i in range(jobs.row_count)] == [
            j.name for j in snap.jobs
        ]
        assert app.screen.query_one("#feeds", DataTable).row_count == len(snap.feeds)
        text = screen_text(app)
        assert "just now" in text and "engine clock 2026-11-20 09:30:00 UTC" in text

        await select_job(pilot, "store.flush")
        await pilot.press("j", "k")  # the table's cursor, not the desk's watchlist behind it
        assert app.symbol == "BTC/AUD"
        before = job(app, "store.flush").runs
        await pilot.press("r")
        await until(pilot, lambda: job(app, "store.flush").runs == before + 1)
        await until(pilot, lambda: str(jobs.get_row("store.flush")[5]) == str(before + 1))
        assert jobs.get_row_index("store.flush") == jobs.cursor_row


async def test_quality_check_pause_resume_and_escape(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.push_screen(JobsScreen(app.engine))
        await pilot.pause()
        quality = app.screen.query_one("#quality", Static)
        assert "no quality check yet" in str(quality.render())
        await pilot.press("c")
        await until(pilot, lambda: app.engine.snapshot().quality is not None)
        report = app.engine.snapshot().quality
        await until(pilot, lambda: f"overall {report.overall:.2f}" in str(quality.render()))
        for ledger, score in report.ledgers.items():
            assert f"{ledger}" in str(quality.render()) and f"{score:.2f}" in str(quality.render())

        await select_job(pilot, "human.sim.human")
        await pilot.press("p")
        await until(pilot, lambda: job(app, "human.sim.human").paused)
        jobs = app.screen.query_one("#jobs", DataTable)
        await until(pilot, lambda: str(jobs.get_row("human.sim.human")[1]) == "paused")
        await pilot.press("u")
        await until(pilot, lambda: not job(app, "human.sim.human").paused)
        await pilot.press("space")
        await until(pilot, lambda: job(app, "human.sim.human").paused)
        await pilot.press("space")
        await until(pilot, lambda: not job(app, "human.sim.human").paused)
        assert not any(j.paused for j in app.engine.snapshot().jobs)

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, JobsScreen)


# -- explorer ------------------------------------------------------------------------------


async def test_explorer_browses_searches_and_pages(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_explorer(pilot)
        assert page_rows(app) == 12 and len(set(column(app, "symbol"))) == 12
        # Down the table list to human_items (headings are skipped), as a user would.
        app.screen.query_one("#tables").focus()
        await pilot.press(*["down"] * 4)
        await until(pilot, lambda: status_line(app).startswith("human_items · rows"))
        everything = page_rows(app)
        assert everything > 10 and "filter: none" in status_line(app)
        await pilot.press("slash")
        search = app.screen.query_one("#search", Input)
        assert search.has_focus
        search.value = "bitcoin"
        await pilot.press("enter")
        await until(pilot, lambda: 'search "bitcoin"' in status_line(app))
        assert 0 < page_rows(app) < everything
        assert all(
            "bitcoin" in (title + body).lower()
            for title, body in zip(column(app, "title"), column(app, "body"), strict=True)
        )

        search.value = ""
        app.screen.query_one("#tables").focus()
        await pilot.press("up", "up", "slash", "enter")  # human_items → candles, no search
        await until(pilot, lambda: status_line(app).startswith("candles · rows 1–200"))
        assert page_rows(app) == PAGE_ROWS and "filter: none" in status_line(app)
        first = column(app, "ts")
        await pilot.press("n")
        await until(pilot, lambda: "rows 201–400" in status_line(app))
        assert page_rows(app) == PAGE_ROWS and column(app, "ts") != first
        await pilot.press("pagedown")
        await until(pilot, lambda: "rows 401–600" in status_line(app))
        await pilot.press("b", "pageup")
        await until(pilot, lambda: "rows 1–200" in status_line(app))
        assert column(app, "ts") == first

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExplorerScreen)


async def test_symbol_filter_and_export(tmp_path: Path) -> None:
    exports = Path(os.environ["XDG_DATA_HOME"]) / "omc" / "exports"
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(120, 36), message_hook=notices) as pilot:
        await open_explorer(pilot, "BTC/AUD", table="human_items")
        assert "symbol BTC/AUD" in status_line(app)
        narrowed = page_rows(app)
        assert narrowed > 0 and all('"BTC"' in c for c in column(app, "currencies"))

        for name in ("btc.csv", "btc.jsonl"):
            await pilot.press("x")
            await pilot.pause()
            path_input = app.screen.query_one("#export-path", Input)
            assert path_input.value.startswith(str(exports / "human_items-"))
            assert path_input.value.endswith(".csv")
            path_input.value = str(tmp_path / name)
            await pilot.press("enter")
            path = tmp_path / name
            await until(pilot, lambda path=path: notices.said(f"wrote {narrowed} rows to {path}"))
        assert len((tmp_path / "btc.csv").read_text().splitlines()) == narrowed + 1  # + header
        records = [json.loads(line) for line in (tmp_path / "btc.jsonl").read_text().splitlines()]
        assert len(records) == narrowed and all("BTC" in r["currencies"] for r in records)

        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "missing" / "x.csv")
        await pilot.press("enter")
        await until(pilot, lambda: notices.said("export failed", "error"))
        assert isinstance(app.screen, ExplorerScreen) and app.is_running
        await pilot.press("x", "escape")  # a cancelled dialog writes nothing
        await pilot.pause()
        assert isinstance(app.screen, ExplorerScreen)
        assert sum("wrote" in n.message for n in notices) == 2

        symbol = app.screen.query_one("#symbol", Input)
        symbol.value = ""
        symbol.focus()
        await pilot.press("enter")
        await until(pilot, lambda: "filter: none" in status_line(app))
        assert page_rows(app) > narrowed
        symbol.value = "eth"  # a bare coin takes the desk's quote currency
        symbol.focus()
        await pilot.press("enter")
        await until(pilot, lambda: "symbol ETH/AUD" in status_line(app))
        assert symbol.value == "eth"  # what was typed stays; the status line says what it means
        assert page_rows(app) > 0 and all('"ETH"' in c for c in column(app, "currencies"))


async def test_typing_in_the_symbol_filter_types_only_what_is_typed(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_explorer(pilot)
        symbol = app.screen.query_one("#symbol", Input)
        await pilot.click("#symbol")
        await pilot.press("j")
        assert symbol.value == "j" and app.screen.query_one("#rows", DataTable).cursor_row == 0
        await pilot.press("enter")
        await until(pilot, lambda: "symbol J/AUD" in status_line(app))
        assert symbol.value == "j" and not symbol.has_focus
        await pilot.click("#symbol")  # back in the box, wherever the click puts the cursor
        await pilot.press("end", "j", "j", "enter")
        await until(pilot, lambda: "symbol JJJ/AUD" in status_line(app))
        assert symbol.value == "jjj"
        assert app.symbol == "BTC/AUD"  # the desk's j (next symbol) never ran behind the screen


async def test_escape_leaves_a_filter_box_first_and_closes_the_explorer_second(
    tmp_path: Path,
) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await pilot.press("slash", *"bitcoin")
        search = explorer.query_one("#search", Input)
        assert search.has_focus and search.value == "bitcoin"
        await pilot.press("escape")  # leaves the box; typed but not applied, so put back
        await pilot.pause()
        assert app.screen is explorer and not search.has_focus and search.value == ""
        assert explorer.query_one("#rows").has_focus and "filter: none" in status_line(app)

        await pilot.press("slash", *"btc", "enter")
        await until(pilot, lambda: 'search "btc"' in status_line(app))
        await pilot.press("slash", *"xyz", "escape")  # the applied search stays
        await pilot.pause()
        assert search.value == "btc" and app.screen is explorer
        symbol = explorer.query_one("#symbol", Input)
        symbol.focus()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is explorer and not symbol.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


class _BrokenBrowse:
    """An engine whose ledger queries fail, as a remote engine's would when it goes away."""

    def __init__(self, engine) -> None:
        self._engine = engine

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    async def browse(self, table: str, **filters):
        raise ConnectionError("engine went away")


async def test_export_by_name_goes_to_the_exports_folder_not_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports = Path(os.environ["XDG_DATA_HOME"]) / "omc" / "exports"
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(120, 36), message_hook=notices) as pilot:
        await open_explorer(pilot, table="human_items")
        await pilot.press("x")
        await pilot.pause()
        path_input = app.screen.query_one("#export-path", Input)
        path_input.value = "mine.csv"
        await pilot.press("enter")
        await until(pilot, lambda: notices.said(f"to {exports / 'mine.csv'}"))
        assert (exports / "mine.csv").exists() and list(here.iterdir()) == []
        wrote = next(n.message for n in notices if n.message.startswith("wrote"))
        rows = len((exports / "mine.csv").read_text().splitlines()) - 1
        assert wrote == f"wrote {numbers.count(rows, 'row')} to {exports / 'mine.csv'}"


async def test_a_failing_query_is_shown_not_lost(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(100, 30), message_hook=notices) as pilot:
        await settle(pilot)
        with pytest.raises(ValueError, match="no ledger table"):
            ExplorerScreen(app.engine, table="nope")
        await app.push_screen(ExplorerScreen(_BrokenBrowse(app.engine)))
        await until(pilot, lambda: notices.said("engine went away", "error"))
        assert "browse failed: ConnectionError: engine went away" in status_line(app)
        assert app.is_running


# -- snapshots -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [(80, 24), (100, 30), (160, 48)], ids=["80x24", "100x30", "160x48"]
)
def test_jobs_screen_snapshot(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_desk(tmp_path), terminal_size=size, run_before=open_jobs)


@pytest.mark.parametrize(
    "size", [(80, 24), (100, 30), (160, 48)], ids=["80x24", "100x30", "160x48"]
)
def test_explorer_snapshot(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await open_explorer(pilot, "BTC/AUD", table="human_items")

    assert snap_compare(make_desk(tmp_path), terminal_size=size, run_before=run_before)
