"""The desk paints the last session's frame first, then the engine loads behind it."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from engine import config
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from omc_tui import first_frame
from omc_tui.app import DeskApp
from omc_tui.starting import EngineStarting, StartRefused
from tests.conftest import FROZEN
from tests.desk.conftest import row_text, settle


def _engine(tmp_path: Path) -> tuple[LocalEngine, config.Settings]:
    s = config.load(
        tmp_path / "none.toml",
        sim={"enabled": True, "seed": 7},
        database={"url": f"sqlite:///{tmp_path / 'desk.db'}"},
    )
    return LocalEngine(s, clock=ManualClock(FROZEN), schedule=False), s


async def test_a_frame_saved_on_quit_is_painted_first_next_time(tmp_path: Path) -> None:
    engine, s = _engine(tmp_path)
    key = first_frame.frame_key(True, "desk.db")
    app = DeskApp(EngineStarting(None), starter=lambda: (engine, s.desk), frame_key=key)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        live = row_text(app, "BTC/AUD")
        await pilot.press("q")
    frame = first_frame.load(key)
    assert frame is not None and [r.status for r in frame.watchlist][:1] == ["cached"]
    assert frame.mode.book == "paper:sim"

    release = threading.Event()
    engine2, s2 = _engine(tmp_path)

    def slow_start() -> tuple[LocalEngine, object]:
        release.wait(10)  # the engine takes its time: the frame is all there is meanwhile
        return engine2, s2.desk

    app = DeskApp(EngineStarting(frame), starter=slow_start, frame_key=key)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        cached = row_text(app, "BTC/AUD")
        assert cached.split()[:2] == live.split()[:2]  # the last session's price, at once
        assert "starting the engine" in app.chart._message
        await pilot.press("P")  # a screen opened before the engine is there waits for it
        release.set()
        await settle(pilot)
        await pilot.press("escape")
        assert app.engine is engine2 and engine2.snapshot().ready
        assert app.watchlist._rows[0].status == "ok"  # the engine's own quotes replaced it
        await engine2.stop()


async def test_the_last_sessions_prices_never_pass_for_the_engines(tmp_path: Path) -> None:
    """A live venue that does not answer: the cached rows go, they do not stay as prices."""
    engine, s = _engine(tmp_path)
    frame = _frame_of(tmp_path)
    release = threading.Event()

    def slow_start() -> tuple[LocalEngine, object]:
        release.wait(10)
        return engine, s.desk

    app = DeskApp(EngineStarting(frame), starter=slow_start)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.05)
        assert app.watchlist._rows[0].status == "cached"
        assert "150,000.00" in row_text(app, "BTC/AUD")
        # The engine's first snapshot has no quote yet for the symbol.
        app.watchlist.set_rows([replace(r, status="waiting", quote=None) for r in frame.watchlist])
        assert app.watchlist._rows[0].quote is None
        assert "waiting for the first quote" in row_text(app, "BTC/AUD")
    release.set()  # the desk is gone: its start was cancelled, the engine never starts


async def test_a_config_the_engine_refuses_closes_the_desk_with_the_reason(
    tmp_path: Path,
) -> None:
    def refuse() -> tuple[object, object]:
        raise StartRefused("config file x.toml: [sim] speed: must be above 0")

    app = DeskApp(EngineStarting(None), starter=refuse)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
    assert app.return_code == 2 and "speed" in str(app.refused)


def _frame_of(tmp_path: Path):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from engine.api import Snapshot, WatchRow
    from engine.events import ModeEvent, QuoteEvent

    quote = QuoteEvent("coinspot", "BTC/AUD", datetime.now(UTC), 150_000.0, 149_990.0, 150_010.0)
    return Snapshot(
        mode=ModeEvent("PAPER", "LIVE", "local", "coinspot", ("BTC/AUD",), "paper:coinspot"),
        now=datetime.now(UTC),
        quote_currency="AUD",
        watchlist=(WatchRow("BTC/AUD", "cached", quote),),
        jobs=(),
        feeds=(),
    )


@pytest.mark.parametrize(
    ("argv", "desk"),
    [
        ([], True),
        (["--sim", "--speed", "60", "--db", "sqlite:////tmp/x.db"], True),
        (["--config=/tmp/c.toml", "--sim"], True),
        (["positions", "--sim"], False),
        (["--sim", "order", "buy", "BTC", "1"], False),
        (["--db"], False),  # the full parser says what is missing
        (["--help"], False),
    ],
)
def test_only_global_options_open_the_desk(argv: list[str], desk: bool) -> None:
    from omc_tui.cli import _opens_the_desk

    assert _opens_the_desk(argv) is desk
