"""A desk on a seeded simulated market with a frozen clock: deterministic pixels."""

from __future__ import annotations

from pathlib import Path

from engine import config
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from omc_tui.app import DeskApp
from omc_tui.widgets.chart import CandleChart
from omc_tui.widgets.watchlist import Watchlist
from tests.conftest import FROZEN


def make_desk(
    tmp_path: Path,
    *,
    watchlist: list[str] | None = None,
    source=None,
    sim: bool = True,
    trading: dict | None = None,
    database: str | None = None,
    storage_delay: float = 0.0,
    **desk,
) -> DeskApp:
    s = config.load(
        tmp_path / "none.toml",
        sim={"enabled": sim, "seed": 7},
        database={"url": database or f"sqlite:///{tmp_path / 'desk.db'}"},
        desk=desk or None,
        trading=trading,
    )
    if watchlist is not None:
        s.market.watchlist = watchlist
    engine = LocalEngine(
        s, clock=ManualClock(FROZEN), source=source, schedule=False, storage_delay=storage_delay
    )
    return DeskApp(engine, s.desk)


async def settle(pilot, rounds: int = 200) -> None:
    """Wait until storage is open and the chart shows the selected symbol's bars."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause(0.02)
        chart = app.query_one(CandleChart)
        if (
            app.engine.snapshot().ready
            and chart._bars
            and chart._symbol == app.symbol
            and chart._timeframe == app.timeframe
        ):
            break
    await pilot.pause()


def screen_text(app: DeskApp) -> str:
    """The visible screen as plain text, one line per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def row_text(app: DeskApp, symbol: str) -> str:
    watchlist = app.query_one(Watchlist)
    index = watchlist.symbols.index(symbol)
    return watchlist.render_line(index + 1 - int(watchlist.scroll_y)).text


async def with_every_ledger(pilot, rounds: int = 200) -> None:
    """Run every engine job once (the collectors too) and wait for the panes to fill."""
    await settle(pilot)
    await pilot.app.engine.run_once()
    for _ in range(rounds):
        await pilot.pause(0.02)
        app = pilot.app
        if app.human.items and app.glass.view is not None and app.catalysts.scope:
            break
    await pilot.pause()
