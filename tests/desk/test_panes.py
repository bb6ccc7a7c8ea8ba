"""The Catalyst, Human and Glass panes: linked to the selected symbol, details, narrow views."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
            "coinspot",
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
        for _ in range(100):
            await pilot.pause(0.02)
            if app.catalysts.events:
                break
        assert app.catalysts.scope == "BTC/AUD"
        assert app.catalysts.events[0].title == event.title
        await pilot.press("tab")
        assert app.blotter.has_focus
        await pilot.press("tab")
        assert app.catalysts.has_focus
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CatalystDetail)
        assert "https://coinspot.test/a-1" in screen_text(app) and "impact 9/10" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f")  # type filter: listing only — the delisting is hidden
        assert app.catalysts.type_filter == "listing" and app.catalysts.visible() == []


async def test_i_cycles_the_lower_view_on_narrow_terminals(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await with_every_ledger(pilot)
        panes = (app.chart, app.positions, app.blotter, app.catalysts, app.human, app.glass)
        seen = []
        for _ in range(6):
            await pilot.press("i")
            await pilot.pause()
            seen.append([w.id for w in panes if w.display and w.region.height])
        assert seen == [
            ["positions"],
            ["blotter"],
            ["catalysts"],
            ["human"],
            ["glass"],
            ["chart"],
        ]
        await pilot.press(*["i"] * 5)
        await pilot.pause()
        assert "gas" in screen_text(app)


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
