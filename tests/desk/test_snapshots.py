"""Pixel snapshots of the desk at 80×24, 120×40 and 160×48 on seeded data and a frozen clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.desk.conftest import make_desk, settle, with_every_ledger


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (160, 48)], ids=["80x24", "120x40", "160x48"]
)
def test_desk(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_desk(tmp_path), terminal_size=size, run_before=with_every_ledger)


def test_desk_on_a_later_timeframe(snap_compare, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("j", "t", "t")
        await settle(pilot)

    assert snap_compare(make_desk(tmp_path), terminal_size=(120, 36), run_before=run_before)


def test_desk_narrow_shows_one_intelligence_pane_at_a_time(snap_compare, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:
        await with_every_ledger(pilot)
        await pilot.press(*["i"] * 5)  # chart -> book -> positions -> orders -> catalysts -> human
        await pilot.pause()

    assert snap_compare(make_desk(tmp_path), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (160, 48)], ids=["80x24", "120x40", "160x48"]
)
def test_lab(snap_compare, tmp_path: Path, size: tuple[int, int], monkeypatch) -> None:
    """The Lab with a session waiting on its proposal: steps, one result unfolded."""
    import uuid

    from tests.desk.test_lab import lab, type_goal, waits_on
    from tests.desk.test_screens import until

    monkeypatch.setattr("engine.lab.uuid.uuid4", lambda: uuid.UUID(int=0x5EED))

    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot)
        await pilot.press("A")
        await pilot.pause()
        await type_goal(pilot, "Is there an edge in ETH/AUD on 1h over the last 90 days?")
        await until(pilot, lambda: waits_on(app, "scope"), 1500)
        await pilot.press("y")
        await until(pilot, lambda: waits_on(app, "proposal"), 1500)
        await pilot.pause()
        tree = lab(app).query_one("#lab-steps")
        tree.focus()
        await pilot.press("down", "enter")  # the bars read: its result unfolds
        app.clear_notifications()  # how long the run took decides whether a toast is still up
        await pilot.pause()

    app = make_desk(tmp_path, trading={"gate_min_trades": 0})
    assert snap_compare(app, terminal_size=size, run_before=run_before)
