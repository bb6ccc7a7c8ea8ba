"""The Lab screen (``A``): a goal typed in, its scope confirmed, its steps streamed with their
results folded beneath them, its traced report, and its proposal approved to paper.

Driven through Pilot on the seeded simulated market with a frozen clock; the desk tests run on
an in-process engine and attached, so these prove the Lab works attached too.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Markdown, OptionList, Static, TabbedContent, Tree

from omc_tui.screens.confirm import Confirm
from omc_tui.screens.lab import FiguresScreen, LabScreen, ResultScreen, linked_report
from tests.desk.conftest import make_desk, screen_text
from tests.desk.test_screens import Notices, until
from tests.desk.test_trading import ready

GOAL = "Is there a tradable edge in ETH/AUD on 4h over the last 60 days? Use sentiment."
LONG = 1500  # rounds of `until`: the Lab's worker starts, then studies and backtests


def lab(app) -> LabScreen:
    screen = app.screen
    assert isinstance(screen, LabScreen)
    return screen


def status(app) -> str | None:
    detail = lab(app).detail
    return detail.session.status if detail is not None else None


def waits_on(app, kind: str) -> bool:
    detail = lab(app).detail
    if detail is None or detail.session.status != "waiting":
        return False
    return (detail.session.waiting or {}).get("kind") == kind


def waiting_panel(app) -> str:
    return str(lab(app).query_one("#lab-waiting", Static).render())


async def type_goal(pilot, goal: str) -> None:
    await pilot.press("n")
    await pilot.pause()
    field = lab(pilot.app).query_one("#lab-goal", Input)
    assert field.has_focus
    field.value = goal
    await pilot.press("enter")


async def test_a_goal_is_scoped_studied_reported_and_its_proposal_goes_to_paper(
    tmp_path: Path,
) -> None:
    app = make_desk(tmp_path, trading={"gate_min_trades": 0})
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await ready(pilot)
        await pilot.press("A")
        await pilot.pause()
        screen = lab(app)
        await until(pilot, lambda: "n types a goal" in screen_text(app))

        await pilot.press("enter")  # an empty goal is refused and says why
        await pilot.press("n", "enter")
        await pilot.pause()
        assert notices.said("type a goal first", "warning")

        await type_goal(pilot, GOAL)
        await until(pilot, lambda: waits_on(app, "scope"), LONG)
        await pilot.pause()
        assert "ETH/AUD on 4h bars over the last 60 days" in waiting_panel(app)
        assert "y confirms · a changes it" in waiting_panel(app)
        sessions = screen.query_one("#lab-sessions", DataTable)
        assert sessions.row_count == 1
        assert "no model: rule-based planner" in screen_text(app)

        await pilot.press("a")  # a change to the scope: asked again, with it
        await pilot.pause()
        answer = screen.query_one("#lab-answer", Input)
        assert answer.has_focus
        answer.value = "1h, 90 days"
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                waits_on(app, "scope") and "1h bars over the last 90 days" in waiting_panel(app)
            ),
            LONG,
        )

        await pilot.press("y")
        await until(pilot, lambda: waits_on(app, "proposal"), LONG)
        await pilot.pause()
        text = screen_text(app)
        assert "proposal:" in text and "y approves" in text

        tree = screen.query_one("#lab-steps", Tree)
        steps = [str(node.label) for node in tree.root.children]
        assert any("retrieve" in s and "2,160 1h bars" in s for s in steps)
        assert any("train" in s for s in steps) and any("evaluate" in s for s in steps)
        candles = next(n for n in tree.root.children if "2,160 1h bars (r" in str(n.label))
        assert not candles.is_expanded and candles.children  # its result, folded beneath it
        assert "candles" in str(candles.children[0].label)

        await pilot.press("v")  # the report, every traced figure a link to its result
        await pilot.pause()
        assert screen.query_one("#lab-tabs", TabbedContent).active == "lab-report-tab"
        detail = screen.detail
        assert detail is not None and detail.report and detail.session.untraced == 0
        rendered = linked_report(detail.report, detail.results)
        assert "](#r" in rendered
        assert "## Models" in screen.query_one("#lab-report", Markdown).source

        await pilot.press("o")  # the figures, and the result one came from
        await pilot.pause()
        assert isinstance(app.screen, FiguresScreen)
        options = app.screen.query_one(OptionList)
        assert options.option_count > 3
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ResultScreen)
        assert "returned" in screen_text(app) and "asked" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen

        await pilot.press("y")  # approving asks the allocation first
        await pilot.pause()
        assert answer.has_focus and "allocation" in answer.placeholder
        assert answer.value == "" and "enter approves with" in answer.placeholder  # the default
        answer.value = "-5"
        await pilot.press("enter")
        await pilot.pause()
        assert notices.said("an allocation is a positive amount", "error")
        assert waits_on(app, "proposal")  # nothing was sent
        answer.value = "750"
        await pilot.press("enter")
        await until(pilot, lambda: status(app) == "done", LONG)
        await pilot.pause()
        assert notices.said("approved")
        deployments = await app.engine.deployments()
        assert len(deployments) == 1 and deployments[0].allocation == 750
        assert "decided: approve" in screen_text(app)

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_a_rejected_proposal_keeps_its_reason_and_a_cancelled_session_stops(
    tmp_path: Path,
) -> None:
    app = make_desk(tmp_path, trading={"gate_min_trades": 0})
    notices = Notices()
    async with app.run_test(size=(120, 40), message_hook=notices) as pilot:
        await ready(pilot)
        await pilot.press("A")
        await pilot.pause()
        screen = lab(app)
        await type_goal(pilot, "ETH/AUD on 1h over the last 90 days")
        await until(pilot, lambda: waits_on(app, "scope"), LONG)
        await pilot.press("y")
        await until(pilot, lambda: waits_on(app, "proposal"), LONG)
        await pilot.press("r")
        await pilot.pause()
        answer = screen.query_one("#lab-answer", Input)
        assert answer.has_focus and "why not" in answer.placeholder
        answer.value = "too few trades to trust"
        await pilot.press("enter")
        await until(pilot, lambda: status(app) == "done", LONG)
        assert screen.detail is not None and screen.detail.session.decision is not None
        assert screen.detail.session.decision["reason"] == "too few trades to trust"
        assert await app.engine.deployments() == []

        await type_goal(pilot, "BTC/AUD on 1h over the last 30 days")
        await until(pilot, lambda: waits_on(app, "scope") and "BTC/AUD" in waiting_panel(app), LONG)
        assert screen.query_one("#lab-sessions", DataTable).row_count == 2
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and "Cancel the session?" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: status(app) == "cancelled", LONG)
        assert notices.said("cancelled")
        await pilot.press("y")  # nothing waits now: the key does nothing
        await pilot.pause()
        assert status(app) == "cancelled"


async def test_the_lab_opens_before_the_engine_is_ready_and_fills_in(tmp_path: Path) -> None:
    app = make_desk(tmp_path, storage_delay=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("A")  # pressed while the engine still opens its database
        await pilot.pause()
        if not isinstance(app.screen, LabScreen):  # the desk's keys wait for its first paint
            await until(pilot, lambda: app.engine is not None and app.screen is app.screen_stack[0])
            await pilot.press("A")
            await pilot.pause()
        screen = lab(app)
        await until(
            pilot, lambda: screen.unavailable is None and "n types a goal" in screen_text(app)
        )
        await type_goal(pilot, "ETH/AUD 1h 30 days")
        await until(pilot, lambda: waits_on(app, "scope"), LONG)
        assert "ETH/AUD" in waiting_panel(app)


async def test_a_model_from_the_vault_is_metered_stopped_by_its_budget_and_resumed(
    tmp_path: Path, monkeypatch
) -> None:
    """The key added in Settings & keys, the model typed in the Lab, a budget it overruns:
    the meter says so, and `u` resumes it with a higher one."""
    import json

    from tests.agents.scripted_model import Text, ToolCalls, serve
    from tests.desk.test_settings import fill

    passphrase = "the desk's vault passphrase"
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", passphrase)
    scope = {"symbol": "ETH/AUD", "timeframe": "1h", "days": 90}
    app = make_desk(tmp_path, trading={"gate_min_trades": 0})
    notices = Notices()
    with serve() as scripted:
        scripted.script(
            ToolCalls(
                (("set_scope", json.dumps(scope)),), prompt_tokens=100_000, completion_tokens=10_000
            ),
            Text(
                "## Verdict\n\nThe study read 2,160 [r2] bars.",
                prompt_tokens=1000,
                completion_tokens=100,
            ),
        )
        async with app.run_test(size=(120, 40), message_hook=notices) as pilot:
            await ready(pilot)
            await pilot.press("K", "a")
            await pilot.pause()
            await fill(
                pilot, "openai", "sk-desk-lab-key", scripted.base_url, passphrase, passphrase
            )
            await until(pilot, lambda: notices.said("openai (model) stored in the vault"))
            await pilot.press("escape", "A")
            await pilot.pause()
            screen = lab(app)
            screen.query_one("#lab-model", Input).value = "openai/gpt-4o-mini"
            screen.query_one("#lab-budget", Input).value = "0.01"
            await type_goal(pilot, "is ether worth trading?")
            await until(pilot, lambda: waits_on(app, "scope"), LONG)
            await pilot.pause()
            assert "ETH/AUD on 1h bars over the last 90 days" in waiting_panel(app)
            meter = str(screen.query_one("#lab-meter", Static).render())
            assert (
                "openai/gpt-4o-mini" in meter and "1 calls" in meter and "110,000 tokens" in meter
            )
            assert "$0.0210" in meter and "of $0.01" in meter

            await pilot.press("y")  # over its budget already: it stops before the next step
            await until(pilot, lambda: status(app) == "stopped", LONG)
            await pilot.pause()
            assert "raise the budget to resume" in waiting_panel(
                app
            ) and "u resumes" in waiting_panel(app)
            assert len(scripted.received) == 1
            assert scripted.received[0].headers["authorization"] == "Bearer sk-desk-lab-key"

            await pilot.press("u")
            await pilot.pause()
            answer = screen.query_one("#lab-answer", Input)
            assert answer.has_focus and answer.value == "0.02"  # twice the spent-out budget
            answer.value = "1"
            await pilot.press("enter")
            await until(
                pilot,
                lambda: status(app) in ("done", "waiting") and len(scripted.received) == 2,
                LONG,
            )
            await pilot.pause()
            view = screen.detail.session  # type: ignore[union-attr]
            assert view.calls == 2 and view.budget == 1
            assert "sk-desk-lab-key" not in screen_text(app)
