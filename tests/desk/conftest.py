"""A desk on a seeded simulated market with a frozen clock: deterministic pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

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
    options = dict(clock=ManualClock(FROZEN), source=source, schedule=False)
    if ENGINE_KIND[0] == "remote":
        return DeskApp(RemoteDesk(s, storage_delay=storage_delay, **options), s.desk)
    engine = LocalEngine(s, storage_delay=storage_delay, **options)
    return DeskApp(engine, s.desk)


# Which engine the desk under test talks to: its own ("local"), or an owning engine in this
# process reached over the attach websocket ("remote"). Snapshot tests stay local: the header
# would show the attach port, which changes with every run.
ENGINE_KIND = ["local"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Snapshot tests keep their names (their saved pictures are found by them): local only.
    if "desk_engine" in metafunc.fixturenames and "snap_compare" not in metafunc.fixturenames:
        metafunc.parametrize("desk_engine", ["local", "remote"], indirect=True)


@pytest.fixture(autouse=True)
def desk_engine(request: pytest.FixtureRequest) -> Any:
    ENGINE_KIND[0] = getattr(request, "param", "local")
    yield ENGINE_KIND[0]
    ENGINE_KIND[0] = "local"


class RemoteDesk:
    """An owning engine on loopback and a ``RemoteEngine`` attached to it: the desk gets the
    remote one for everything the EngineAPI has, and a test may still reach into the owner
    (``run_once``, its feed) the way the local tests do."""

    def __init__(self, settings: config.Settings, **options: Any) -> None:
        from engine.service.owner import OwningEngine

        settings.service.token = SecretStr("desk-test")
        self.owner = OwningEngine(settings, listen="127.0.0.1:0", **options)
        self.remote: Any = None

    async def start(self) -> None:
        from engine.service.remote import RemoteEngine

        await self.owner.start()
        self.remote = RemoteEngine(self.owner.address, "desk-test")
        await self.remote.start()

    async def stop(self) -> None:
        if self.remote is not None:
            await self.remote.stop()
        await self.owner.stop()

    def snapshot(self) -> Any:
        return self.remote.snapshot() if self.remote is not None else self.owner.snapshot()

    def now(self) -> Any:
        return self.owner.now()  # the frozen clock: the remote one would run on wall time

    def events(self) -> Any:
        return self.remote.events()

    def __getattr__(self, name: str) -> Any:
        from engine.service.protocol import METHODS

        if name in METHODS and self.remote is not None:
            return getattr(self.remote, name)
        return getattr(self.owner, name)


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
