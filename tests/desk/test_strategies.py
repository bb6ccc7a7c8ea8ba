"""The strategies screen: backtest the selected symbol, judge it by the gate, promote, deploy.

Driven through Pilot on the seeded simulated market with a frozen clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from omc_tui.screens.confirm import Confirm
from omc_tui.screens.strategies import StrategiesScreen
from omc_tui.widgets.strategy_params import StrategyParams
from tests.desk.conftest import make_desk, screen_text
from tests.desk.test_screens import Notices, until
from tests.desk.test_trading import ready


def research_tables(app) -> dict[str, DataTable]:
    names = ("strategies", "backtests", "deployments")
    return {name: app.screen.query_one(f"#{name}", DataTable) for name in names}


async def test_backtest_promote_deploy_and_undeploy(tmp_path: Path) -> None:
    app = make_desk(tmp_path, trading={"gate_min_trades": 0})
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await ready(pilot)
        await pilot.press("S")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, StrategiesScreen)
        tables = research_tables(app)
        await until(pilot, lambda: tables["strategies"].row_count == 3)
        text = screen_text(app)
        assert "ma_cross  fast=10 slow=30" in text and "on BTC/AUD · 1h" in text

        await pilot.press("r")  # the highlighted strategy: breakout
        await until(pilot, lambda: tables["backtests"].row_count == 1 and screen.running is None)
        backtest = screen.selected_backtest()
        assert backtest is not None and backtest.strategy == "breakout" and backtest.gate_passed
        metrics = str(screen.query_one("#metrics", Static).render())
        assert "return " in metrics and "Sharpe" in metrics and "gate passed" in metrics
        assert len(screen.query_one("#bt-equity").points) > 10

        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and "Promote to paper?" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: (b := screen.selected_backtest()) and b.promoted_at is not None)
        assert notices.said(f"{backtest.id} promoted to paper")

        await pilot.press("d", "y")
        await until(pilot, lambda: tables["deployments"].row_count == 1)
        deployment = (await app.engine.deployments())[0]
        assert deployment.active and deployment.name == "breakout:BTC/AUD:1h"
        assert notices.said("deployed breakout:BTC/AUD:1h")

        await pilot.press("u")  # undeploying asks first; escape keeps it running
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and "Undeploy?" in screen_text(app)
        assert "Stop paper-trading breakout on BTC/AUD (1h)?" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and (await app.engine.deployments())[0].active
        await pilot.press("u", "y")
        await until(pilot, lambda: notices.said("breakout:BTC/AUD:1h stopped"))
        assert not (await app.engine.deployments())[0].active
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_a_running_backtest_cancels_and_a_failed_gate_blocks_promotion(
    tmp_path: Path,
) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(80, 24), message_hook=notices) as pilot:
        await ready(pilot)
        release = asyncio.Event()
        backtest = app.engine.backtest

        async def slow(*args, **kwargs):
            await release.wait()
            return await backtest(*args, **kwargs)

        app.engine.backtest = slow
        await pilot.press("S")
        await pilot.pause()
        screen = app.screen
        tables = research_tables(app)
        await until(pilot, lambda: tables["strategies"].row_count == 3)
        await pilot.press("r")
        await pilot.pause()
        assert "running…" in str(screen.query_one("#run", Static).render())
        await pilot.press("t")  # the screen keeps answering while the backtest runs
        assert screen.timeframe == "4h" and screen.running is not None
        await pilot.press("escape")
        await until(pilot, lambda: screen.running is None)
        assert notices.said("backtest of breakout on BTC/AUD · 1h cancelled")
        assert app.screen is screen  # escape cancelled the run; a second one closes
        assert await app.engine.backtests() == []

        app.engine.backtest = backtest
        await pilot.press("T", "r")  # T is the desk's key, not this screen's: still 4h
        await until(pilot, lambda: tables["backtests"].row_count == 1)
        assert app.timeframe == "1h" and screen.selected_backtest().timeframe == "4h"
        assert not screen.selected_backtest().gate_passed
        await pilot.press("p")
        await until(pilot, lambda: notices.said("the governance gate failed", "error"))
        await pilot.press("d")
        await until(pilot, lambda: notices.said("promote it first", "warning"))
        assert not isinstance(app.screen, Confirm)


# -- parameters ----------------------------------------------------------------------------


async def open_strategies(pilot) -> StrategiesScreen:
    await ready(pilot)
    await pilot.press("S")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, StrategiesScreen)
    await until(pilot, lambda: research_tables(pilot.app)["strategies"].row_count == 3)
    return screen


def record_backtests(app) -> list[dict[str, str] | None]:
    """Keep the parameters of every backtest the engine is asked for."""
    asked: list[dict[str, str] | None] = []
    backtest = app.engine.backtest

    async def recorded(*args, **kwargs):
        asked.append(kwargs.get("params"))
        return await backtest(*args, **kwargs)

    app.engine.backtest = recorded
    return asked


def params_shown(screen: StrategiesScreen) -> str:
    return screen.query_one("#params", StrategyParams).query_one(Input).value


def params_error(screen: StrategiesScreen) -> str:
    return str(screen.query_one("#params-error", Static).render())


async def test_edited_parameters_are_kept_per_strategy_and_run(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_strategies(pilot)
        asked = record_backtests(app)
        assert params_shown(screen) == "lookback=20 exit_lookback=10"  # breakout's defaults
        await pilot.press("j")
        assert params_shown(screen) == "fast=10 slow=30"

        await pilot.press("e", "ctrl+u", *"fast=5 slow=20", "enter")
        assert params_shown(screen) == "fast=5 slow=20"
        assert screen.focused is screen.query_one("#strategies")
        await pilot.press("k")  # another strategy shows its own parameters…
        assert params_shown(screen) == "lookback=20 exit_lookback=10"
        await pilot.press("j")  # …and ma_cross keeps the edit
        assert params_shown(screen) == "fast=5 slow=20"

        await pilot.press("r")
        tables = research_tables(app)
        await until(pilot, lambda: tables["backtests"].row_count == 1 and screen.running is None)
        assert asked == [{"fast": "5", "slow": "20"}]
        backtest = screen.selected_backtest()
        assert backtest is not None and backtest.params == {"fast": 5, "slow": 20}
        metrics = str(screen.query_one("#metrics", Static).render())
        assert metrics.startswith("ma_cross fast=5 slow=20 on BTC/AUD · 1h")


async def test_edited_parameters_outlive_the_screen_for_the_desks_session(
    tmp_path: Path,
) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_strategies(pilot)
        await pilot.press("j", "e", "ctrl+u", *"fast=5 slow=20", "escape", "escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
        await pilot.press("S")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, StrategiesScreen) and screen is not app.screen_stack[0]
        await until(pilot, lambda: research_tables(app)["strategies"].row_count == 3)
        assert params_shown(screen) == "lookback=20 exit_lookback=10"  # breakout: untouched
        await pilot.press("j")
        assert params_shown(screen) == "fast=5 slow=20"  # ma_cross keeps the edit
        asked = record_backtests(app)
        await pilot.press("r")
        await until(pilot, lambda: screen.running is None and asked != [])
        assert asked == [{"fast": "5", "slow": "20"}]


async def test_a_malformed_entry_is_shown_and_nothing_runs(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_strategies(pilot)
        asked = record_backtests(app)
        await pilot.press("j", "e", *" slow", "escape", "r")
        await pilot.pause()
        assert params_error(screen) == "'slow' is not key=value: type them as fast=10 slow=30"
        assert "'slow' is not key=value" in screen_text(app)
        assert asked == [] and screen.running is None
        assert await app.engine.backtests() == []

        await pilot.press("e", "backspace")  # typing clears the error
        assert not screen.query_one("#params").has_class("-error")


async def test_an_engine_refusal_is_shown_under_the_parameters(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        screen = await open_strategies(pilot)
        asked = record_backtests(app)
        await pilot.press("j", "e", "ctrl+u", *"fast=50 slow=10", "enter", "r")
        await until(pilot, lambda: "must be less" in params_error(screen))
        assert params_error(screen) == "fast (50) must be less than slow (10)"
        assert "fast (50) must be less than slow (10)" in screen_text(app)
        await until(pilot, lambda: screen.running is None)
        assert asked == [{"fast": "50", "slow": "10"}]
        assert await app.engine.backtests() == []

        await pilot.press("k")  # the refusal belongs to ma_cross's parameters
        assert "must be less" not in screen_text(app)
        await pilot.press("j")
        assert "fast (50) must be less than slow (10)" in screen_text(app)


async def test_keys_typed_into_the_parameters_do_not_reach_the_screen(tmp_path: Path) -> None:
    app = make_desk(tmp_path, trading={"gate_min_trades": 0})
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_strategies(pilot)
        asked = record_backtests(app)
        await pilot.press("r")  # a backtest to promote, were p to reach the screen
        tables = research_tables(app)
        await until(pilot, lambda: tables["backtests"].row_count == 1 and screen.running is None)

        await pilot.press("e", "ctrl+u", *"rtpduejkSTPJEq")
        await pilot.pause()
        assert params_shown(screen) == "rtpduejkSTPJEq"
        assert app.screen is screen and not isinstance(app.screen, Confirm)
        assert len(asked) == 1 and screen.running is None
        assert screen.timeframe == "1h" and app.timeframe == "1h"
        assert tables["strategies"].cursor_row == 0

        await pilot.press("escape")  # leaves the input; the screen stays open
        assert app.screen is screen and screen.focused is tables["strategies"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]
