"""The Catalyst, Human and Glass panes: linked to the selected symbol, details, narrow views."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.events import LedgerEvent
from ledgers.intel import CatalystEvent, Collected
from omc_tui.screens.catalyst import CatalystDetail
from tests.conftest import FROZEN
from tests.desk.conftest import make_desk, screen_text, settle, with_every_ledger


async def test_human_pane_follows_the_selected_symbol(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await with_every_ledger(pilot)
        assert app.human.scope == "BTC/AUD" and all("BTC" in i.currencies for i in app.human.items)
        assert app.human.mood is not None and "mood" in screen_text(app)
        await pilot.press("j")
        await settle(pilot)
        for _ in range(100):
            await pilot.pause(0.02)
            if app.human.scope != "BTC/AUD":
                break
        assert app.human.scope in ("ETH/AUD", "all")
        if app.human.scope == "ETH/AUD":
            assert all("ETH" in i.currencies for i in app.human.items)


async def test_a_new_catalyst_appears_and_enter_opens_its_detail(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await with_every_ledger(pilot)
        event = CatalystEvent(
            "sim",  # the desk on the simulated market shows the simulator's sources only
            "a-1",
            "delisting",
            "CoinSpot will delist BTC/AUD pairs",
            "https://coinspot.test/a-1",
            FROZEN - timedelta(minutes=5),
            9,
            ("BTC",),
        )
        await app.engine.writer.store.write_collected(Collected(catalysts=(event,)))
        app.engine.bus.publish(LedgerEvent("catalyst", "coinspot", 1, FROZEN))
        titles = lambda: [e.title for e in app.catalysts.visible()]  # noqa: E731
        for _ in range(100):
            await pilot.pause(0.02)
            if event.title in titles():
                break
        assert app.catalysts.scope == "BTC/AUD" and event.title in titles()
        await pilot.press("tab")  # the feed sits above the trading panes: next after the list
        assert app.catalysts.has_focus
        app.catalysts.move_cursor(row=titles().index(event.title))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CatalystDetail)
        assert "https://coinspot.test/a-1" in screen_text(app) and "impact 9/10" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f")  # type filter: listing only — the delisting is hidden
        assert app.catalysts.type_filter == "listing" and event.title not in titles()
        assert all(e.type == "listing" for e in app.catalysts.visible())


PANES = ("watchlist", "book", "chart", "positions", "blotter", "catalysts", "human", "glass")


def on_screen(app) -> list[str]:
    return [name for name in PANES if app.query_one(f"#{name}").region.area]


async def tab_round(pilot) -> list[str]:
    """Where tab goes, once round: the panes that take keys, in order."""
    app = pilot.app
    seen: list[str] = []
    for _ in range(6):
        await pilot.press("tab")
        name = app.focused.id
        if name in seen:
            break
        seen.append(name)
    return seen


@pytest.mark.parametrize(
    "size, hidden",
    [
        ((80, 24), ["book", "positions", "blotter", "catalysts", "human", "glass"]),
        ((120, 40), ["catalysts", "human", "glass"]),
        ((160, 48), []),
    ],
    ids=["80x24", "120x40", "160x48"],
)
async def test_i_shows_each_pane_a_size_leaves_out_and_tab_visits_only_shown_panes(
    tmp_path: Path, size: tuple[int, int], hidden: list[str]
) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=size) as pilot:
        await with_every_ledger(pilot)
        always = [name for name in PANES if name not in hidden]
        assert on_screen(app) == always
        seen = []
        for _ in hidden:
            await pilot.press("i")
            await pilot.pause()
            shown = on_screen(app)
            seen.append([name for name in shown if name not in always])
            assert "chart" not in shown
            takes_keys = [n for n in ("watchlist", "blotter", "catalysts") if n in shown]
            assert sorted(await tab_round(pilot)) == sorted(takes_keys)
        assert seen == [[name] for name in hidden if name != "chart"]
        await pilot.press("i")  # and back to the chart
        await pilot.pause()
        assert on_screen(app) == always
        assert app.focused is app.watchlist or app.focused.id in always
        takes_keys = [n for n in ("watchlist", "blotter", "catalysts") if n in always]
        assert sorted(await tab_round(pilot)) == sorted(takes_keys)
        footer = [b.action for _, b, enabled, _ in app.active_bindings.values() if enabled]
        assert ("cycle_view" in footer) == bool(hidden)


async def test_j_and_e_open_the_jobs_and_explorer_screens_and_desk_keys_wait(
    tmp_path: Path,
) -> None:
    from omc_tui.screens.explorer import ExplorerScreen
    from omc_tui.screens.jobs import JobsScreen

    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await with_every_ledger(pilot)
        await pilot.press("J")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("t")  # a desk key: must not change the chart behind the screen
        assert app.timeframe == "1h"
        await pilot.press("escape", "E")
        await pilot.pause()
        assert isinstance(app.screen, ExplorerScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        await pilot.press("t")
        assert app.timeframe == "4h"
