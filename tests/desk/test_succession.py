"""A desk opened on a database its owner serves follows the database when that owner stops:
it runs the engine itself, on the same book, or attaches to the engine that owns it next."""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.cli import common
from engine.service.owner import OwningEngine
from engine.service.remote import RemoteEngine
from omc_tui import app as desk_app
from omc_tui import cli
from omc_tui.app import DeskApp
from omc_tui.starting import EngineStarting
from tests.desk.conftest import screen_text


def _args(url: str, **more: Any) -> argparse.Namespace:
    return argparse.Namespace(
        sim=True, speed=None, db=url, config=None, attach=None, token=None, **more
    )


async def _owner(args: argparse.Namespace) -> OwningEngine:
    engine = OwningEngine(common.load_settings(args), listen="127.0.0.1:0", schedule=False)
    await engine.start()
    await engine.wait_ready()
    return engine


async def _until(check: Callable[[], bool], pilot: Any, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError("not in time")


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_app, "SUCCESSION_GRACE", 0.2)
    monkeypatch.setenv("OMC_SERVICE__LISTEN", "127.0.0.1:0")  # the desk's own engine


async def test_a_desk_attached_to_the_owner_runs_the_engine_itself_when_it_stops(
    tmp_path: Path, quick: None
) -> None:
    args = _args(f"sqlite:///{tmp_path / 'omc.db'}")
    owner = await _owner(args)
    bought = await owner.place_order("BTC/AUD", "buy", "0.01")
    assert bought.accepted, bought.message
    app = DeskApp(
        EngineStarting(None),
        starter=functools.partial(cli._start_engine, args),
        follow_database=True,
    )
    async with app.run_test(size=(160, 48)) as pilot:
        try:
            await _until(lambda: isinstance(app.engine, RemoteEngine), pilot)
            await _until(lambda: app.engine.connected.is_set(), pilot)
            assert "attached" in screen_text(app)
            await owner.stop()
            await _until(lambda: isinstance(app.engine, OwningEngine), pilot)
            await _until(lambda: app.engine.snapshot().ready, pilot)
            view = await app.engine.trading()
            assert [p.symbol for p in view.positions] == ["BTC/AUD"]  # the same book
            sold = await app.engine.place_order("BTC/AUD", "sell", "0.004")
            assert sold.accepted, sold.message  # and it trades
            await pilot.pause(0.2)
            text = screen_text(app)
            assert "local engine" in text and "reconnecting" not in text
            assert app.status.feed("engine") is None  # no "engine down" left behind
        finally:
            await app.engine.stop()
            await owner.stop()


async def test_an_owner_that_comes_back_keeps_the_desk_attached_to_it(
    tmp_path: Path, quick: None
) -> None:
    args = _args(f"sqlite:///{tmp_path / 'omc.db'}")
    owner = await _owner(args)
    app = DeskApp(
        EngineStarting(None),
        starter=functools.partial(cli._start_engine, args),
        follow_database=True,
    )
    async with app.run_test(size=(160, 48)) as pilot:
        remote = None
        try:
            await _until(lambda: isinstance(app.engine, RemoteEngine), pilot)
            remote = app.engine
            await _until(lambda: remote.connected.is_set(), pilot)
            # The connection drops but the owner keeps the database: the desk must not
            # start a second engine on it, only reconnect.
            server = owner.server
            assert server is not None
            for connection in list(server._server.connections):
                await connection.close()
            await _until(lambda: not remote.connected.is_set(), pilot, seconds=5)
            await _until(lambda: remote.connected.is_set(), pilot)
            await asyncio.sleep(desk_app.SUCCESSION_GRACE * 3)
            assert app.engine is remote
            assert app.status.feed("engine") is None or app.status.feed("engine").status == "ok"
        finally:
            await app.engine.stop()
            await owner.stop()
