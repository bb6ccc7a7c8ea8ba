"""Every screen opens in every engine state, says what it waits for and fills in when it can.

The states: loading (the database has not opened, so neither has the book), storage down,
trading down (the engine's trading commands raise TradingUnavailable) and offline (the venue
is unreachable). Each drives a real ``LocalEngine`` through Pilot and presses every screen's keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import ccxt
import pytest
from textual.worker import Worker, WorkerState

from engine.api import CatalystView
from ledgers.clock import ManualClock
from ledgers.sources.ccxt_market import CcxtMarket
from omc_tui.app import DeskApp
from omc_tui.screens.catalyst import CatalystDetail
from omc_tui.screens.confirm import Confirm
from omc_tui.screens.explorer import ExplorerScreen
from omc_tui.screens.help import HelpScreen
from omc_tui.screens.jobs import JobsScreen
from omc_tui.screens.pnl import PnLScreen
from omc_tui.screens.strategies import StrategiesScreen
from omc_tui.screens.ticket import OrderTicket
from omc_tui.widgets.positions import PositionsPane
from tests.conftest import FROZEN
from tests.desk.conftest import make_desk, screen_text
from tests.desk.test_screens import Notices, until
from tests.ledgers.fake_exchange import FakeExchange

# What the book's panes and screens say in each state (None: the book loads).
WAITING = {
    "loading": "waiting for the database to open",
    "storage down": "waiting for the database (",
    "trading down": "trading is not available",
    "offline": None,
}

# Each screen's key, its class and the keys pressed on it (the last one closes it).
SCREENS: list[tuple[str, type, list[str]]] = [
    ("P", PnLScreen, ["left_square_bracket", "right_square_bracket", "r", "j", "k", "escape"]),
    ("S", StrategiesScreen, ["j", "r", "t", "p", "d", "u", "e", "x", "escape", "escape"]),
    ("J", JobsScreen, ["j", "k", "p", "u", "space", "c", "escape"]),
    ("E", ExplorerScreen, ["n", "b", "x", "escape", "escape"]),
    ("question_mark", HelpScreen, ["escape"]),
    ("b", OrderTicket, [*"0.01", "enter", "space", "escape"]),
    ("s", OrderTicket, [*"1", "tab", *"100", "enter", "escape"]),
    ("ctrl+k", Confirm, ["y", "escape"]),
]


BUGS = (TypeError, AttributeError, KeyError, IndexError, NameError, AssertionError)


class Failures(Notices):
    """Notices, and every worker that failed: the desk must handle each state, not crash."""

    def __init__(self) -> None:
        super().__init__()
        self.workers: list[BaseException | None] = []

    def __call__(self, message) -> None:
        super().__call__(message)
        if isinstance(message, Worker.StateChanged) and message.state is WorkerState.ERROR:
            self.workers.append(message.worker.error)

    def bugs(self) -> list[str]:
        """Failures no engine state explains, and failures only said as "… failed"."""
        said = [n.message for n in self if " failed: " in n.message]
        return said + [repr(e) for e in self.workers if isinstance(e, BUGS)]


def desk_in(state: str, tmp_path: Path) -> DeskApp:
    if state == "loading":
        return make_desk(tmp_path, storage_delay=3600)  # the database does not open in the test
    if state == "storage down":
        (tmp_path / "folder.db").mkdir()  # SQLite cannot open a folder as its file
        return make_desk(tmp_path, database=f"sqlite:///{tmp_path / 'folder.db'}")
    if state == "trading down":
        return make_desk(tmp_path, trading={"mode": "live"})  # live refuses the simulator
    fake = FakeExchange()
    fake.fail_next(ccxt.NetworkError("Temporary failure in name resolution"), times=10_000)
    market = CcxtMarket(exchange=fake, clock=ManualClock(FROZEN))
    return make_desk(tmp_path, sim=False, source=market)


async def reach(pilot, state: str) -> None:
    """Wait until the desk is in ``state``: what it waits for is on the positions pane."""
    app = pilot.app
    if state == "offline":
        await app.engine.run_job("market.tickers")
        await until(pilot, lambda: "unreachable" in screen_text(app), rounds=300)
        await until(pilot, lambda: app.book_view is not None, rounds=300)
    else:
        expected = WAITING[state]
        await until(pilot, lambda: expected in app.book_waiting() or "", rounds=300)
        await until(pilot, lambda: expected in screen_text(app))


@pytest.mark.parametrize("state", list(WAITING))
async def test_every_screen_opens_in_every_engine_state(tmp_path: Path, state: str) -> None:
    app = desk_in(state, tmp_path)
    failures = Failures()
    async with app.run_test(size=(120, 40), message_hook=failures) as pilot:
        await reach(pilot, state)
        waiting = WAITING[state]
        for key, screen_type, keys in SCREENS:
            await pilot.press(key)
            for _ in range(100):
                if isinstance(app.screen, screen_type):
                    break
                await pilot.pause(0.02)
            assert isinstance(app.screen, screen_type), f"{key} in {state}: {app.screen}"
            if waiting is not None and screen_type in (PnLScreen, StrategiesScreen, OrderTicket):
                await until(pilot, lambda: waiting in screen_text(app))
            if waiting is not None and screen_type is Confirm:
                assert "The kill switch waits for the book" in screen_text(app)
            for pressed in keys:
                await pilot.press(pressed)
                await pilot.pause()
            await until(pilot, lambda: app.screen is app.screen_stack[0])
            assert app.is_running, f"{key} in {state}"

        detail = CatalystView(
            "sim", "listing", "Listed", "", datetime(2026, 11, 20, tzinfo=UTC), 8, ()
        )
        await app.push_screen(CatalystDetail(detail))
        await pilot.press("escape")
        await pilot.press("L", "i", "tab", "i", "tab", "t", "c", "x", "m")
        await pilot.pause(0.1)
        assert app.is_running and app.return_code is None
        assert failures.bugs() == []
        if waiting is not None:
            assert failures.said(waiting) or waiting in screen_text(app)


async def test_screens_opened_while_loading_fill_in_when_the_book_arrives(tmp_path: Path) -> None:
    app = make_desk(tmp_path, storage_delay=1.5)
    failures = Failures()
    async with app.run_test(size=(120, 40), message_hook=failures) as pilot:
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, PnLScreen))
        pnl = app.screen
        assert "waiting for the database to open" in screen_text(app)
        await until(pilot, lambda: pnl.query_one(PositionsPane).loaded, rounds=300)
        await until(pilot, lambda: "no positions yet" in screen_text(app))
        await until(pilot, lambda: pnl.report is not None)
        assert "waiting for" not in screen_text(app)
        await pilot.press("escape")
        assert failures.bugs() == []


async def test_an_order_typed_while_loading_is_not_sent_until_the_book_is_read(
    tmp_path: Path,
) -> None:
    app = make_desk(tmp_path, storage_delay=1.5)
    failures = Failures()
    async with app.run_test(size=(120, 40), message_hook=failures) as pilot:
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, OrderTicket))
        await pilot.press(*"0.01", "enter")
        await until(pilot, lambda: failures.said("waiting for the database to open"))
        assert isinstance(app.screen, OrderTicket)
        assert "no orders yet: waiting for the database" in screen_text(app)
        await until(pilot, lambda: "risk      ok" in screen_text(app), rounds=300)
        await pilot.press("enter")
        await until(pilot, lambda: failures.said("buy 0.01 BTC/AUD filled"))
        assert failures.bugs() == []


async def test_a_book_that_cannot_be_replayed_opens_halted_and_says_so(tmp_path: Path) -> None:
    """A sell recorded before the buy it sells: the desk still opens, reads the book, takes
    no orders, and the header says the book needs attention."""
    import sqlalchemy as sa

    from ledgers.database import Database
    from tests.desk.conftest import make_desk, screen_text, settle

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    app = make_desk(tmp_path, database=url)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert (await app.engine.place_order("BTC/AUD", "buy", "0.001")).accepted
        assert (await app.engine.place_order("BTC/AUD", "sell", "0.001")).accepted
        await app.engine.stop()
    db = Database(url)
    async with db.engine.begin() as conn:  # swap the two fills' places in the book
        await conn.execute(sa.text("UPDATE fills SET seq = -seq"))
    await db.dispose()

    app = make_desk(tmp_path, database=url)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(100):
            await pilot.pause(0.02)
            if "BOOK NEEDS ATTENTION" in screen_text(app):
                break
        assert "BOOK NEEDS ATTENTION" in screen_text(app)
        view = await app.engine.trading()
        assert view.trading.attention and len(view.fills) == 2  # still readable
        refused = await app.engine.place_order("BTC/AUD", "buy", "0.001")
        assert not refused.accepted and refused.rule == "book_attention"
        await app.engine.stop()
