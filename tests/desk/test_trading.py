"""Trading from the desk: the order ticket, positions, the blotter, the kill switch and PnL.

Every test drives the real app through Pilot on the seeded simulated market with a frozen clock.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from engine.events import Event, FillEvent, OrderEvent
from omc_tui.screens.confirm import Confirm
from omc_tui.screens.jobs import JobsScreen
from omc_tui.screens.pnl import PnLScreen, financial_year
from omc_tui.screens.ticket import OrderTicket
from tests.conftest import FROZEN
from tests.desk.conftest import make_desk, screen_text, settle
from tests.desk.test_screens import Notices, until


async def ready(pilot) -> list[Event]:
    """Settle the desk, wait for the book's first paint, and record every event it handles."""
    app = pilot.app
    await settle(pilot)
    await until(pilot, lambda: app.positions.loaded)
    seen: list[Event] = []
    dispatch = app.dispatch

    def spy(event: Event) -> None:
        seen.append(event)
        dispatch(event)

    app.dispatch = spy
    return seen


def ticket_text(app, part: str) -> str:
    return str(app.screen.query_one(f"#ticket-{part}", Static).render())


async def type_into(pilot, field: str, text: str) -> None:
    box = pilot.app.screen.query_one(f"#{field}", Input)
    box.focus()
    box.value = ""
    await pilot.press(*text)


def blotter_rows(app) -> list[str]:
    table = app.blotter
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_a_market_buy_from_the_ticket_fills_and_shows_everywhere(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        seen = await ready(pilot)
        asked: list[tuple] = []
        preview_order = app.engine.preview_order

        async def counting(*args, **kwargs):
            asked.append(args)
            return await preview_order(*args, **kwargs)

        app.engine.preview_order = counting
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, OrderTicket)
        assert ticket_text(app, "title").startswith("Buy BTC/AUD · market")
        await pilot.press(*"0.01")
        await until(pilot, lambda: "risk      ok" in ticket_text(app, "verdict"))
        estimate = ticket_text(app, "estimate")
        assert "fills now 0.01 BTC at ≈ 209,053.26 avg" in estimate
        assert "notional  2,090.53 AUD" in estimate and "fee       2.09 AUD" in estimate
        assert len(asked) < 4  # four keystrokes, debounced into fewer questions
        assert asked[-1] == ("BTC/AUD", "buy", "0.01", None)

        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, OrderTicket))
        assert notices.said("buy 0.01 BTC/AUD filled at 209053.26")
        await until(pilot, lambda: any(isinstance(e, FillEvent) for e in seen))
        await until(pilot, lambda: any(p.symbol == "BTC/AUD" for p in app.positions.positions))
        position = app.positions.positions[0]
        assert position.quantity == Decimal("0.01")
        text = screen_text(app)
        assert re.search(r"BTC/AUD +0\.01 +209,262\.31", text)  # average cost includes the fee
        await until(pilot, lambda: len(blotter_rows(app)) == 2)
        order_row, fill_row = blotter_rows(app)
        assert "0.01/0.01" in order_row and "filled" in order_row
        assert "fill" in fill_row and "taker" in fill_row
        assert "equity 9,997.39" in text


async def test_a_refused_order_shows_the_rule_and_sends_nothing(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(80, 24), message_hook=notices) as pilot:
        seen = await ready(pilot)
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*"0.0000001")
        await until(pilot, lambda: "precision" in ticket_text(app, "verdict"))
        assert "0.0000001 has 7 decimals; BTC/AUD trades in steps of 0.00001" in ticket_text(
            app, "verdict"
        )
        await pilot.press("enter")
        await until(pilot, lambda: notices.said("has 7 decimals", "error"))
        assert isinstance(app.screen, OrderTicket)  # still open, to correct the quantity
        await type_into(pilot, "quantity", "1..2")  # not a number: the engine says so
        await until(pilot, lambda: "quantity must be a number" in ticket_text(app, "verdict"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OrderTicket)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, OrderTicket)
        assert not any(isinstance(e, OrderEvent | FillEvent) for e in seen)
        assert (await app.engine.trading()).orders == ()


async def test_limit_orders_far_refused_near_rests_and_x_cancels(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(160, 48), message_hook=notices) as pilot:
        await ready(pilot)
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*"0.01")
        await pilot.press("tab", *"100000")
        assert app.screen.query_one("#limit", Input).has_focus
        await until(pilot, lambda: "limit_price" in ticket_text(app, "verdict"))
        assert "below the ask" in ticket_text(app, "verdict")
        assert ticket_text(app, "title").endswith("· limit")
        await pilot.press("enter")
        await until(pilot, lambda: notices.said("below the ask", "error"))
        assert isinstance(app.screen, OrderTicket)

        await type_into(pilot, "limit", "200000")
        await until(pilot, lambda: "risk      ok" in ticket_text(app, "verdict"))
        assert "rests     0.01 BTC at 200,000.00" in ticket_text(app, "estimate")
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, OrderTicket))
        assert notices.said("buy 0.01 BTC/AUD resting at 200000")
        await until(pilot, lambda: any("open" in r for r in blotter_rows(app)))
        assert blotter_rows(app)[0].split()[1:6] == [
            "BTC/AUD",
            "buy",
            "0/0.01",
            "200,000.00",
            "open",
        ]

        await pilot.press("x")  # the watchlist has focus: nothing to cancel there
        await pilot.pause()
        assert app.blotter.highlighted_order().state == "open"
        await pilot.press("tab", "tab")  # past the catalyst feed, to the blotter
        assert app.blotter.has_focus
        await pilot.press("x")
        await until(pilot, lambda: notices.said("cancelled buy 0.01 BTC/AUD"))
        await until(pilot, lambda: "cancelled" in blotter_rows(app)[0])
        assert app.blotter.border_subtitle == "none working"
        await pilot.press("x")  # a finished order cannot be cancelled again
        await until(pilot, lambda: notices.said("highlight a working order", "warning"))


async def test_a_resting_limit_with_an_expiry_is_sent_with_it(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(80, 24), message_hook=notices) as pilot:
        await ready(pilot)
        await pilot.press("b")
        await pilot.pause()
        expires = app.screen.query_one("#expires", Input)
        assert expires.disabled  # a market order fills now: nothing to expire
        assert "only with a limit price" in ticket_text(app, "expires-note")
        await pilot.press(*"0.01", "tab", *"200000", "tab")
        assert expires.has_focus  # quantity, limit, expires
        assert "expires   good till cancelled" in ticket_text(app, "estimate")
        await pilot.press(*"2h")
        await until(pilot, lambda: "risk      ok" in ticket_text(app, "verdict"))
        summary = ticket_text(app, "estimate").splitlines()
        rests = next(i for i, line in enumerate(summary) if line.startswith("rests"))
        assert summary[rests + 1] == "expires   2026-11-20 11:30:00 UTC"  # the engine's clock

        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, OrderTicket))
        assert notices.said("buy 0.01 BTC/AUD resting at 200000")
        (order,) = (await app.engine.trading()).orders
        assert order.state == "open"
        assert order.expires_at is not None
        wanted = app.engine.now() + timedelta(hours=2)
        assert abs(order.expires_at - wanted) < timedelta(seconds=1)


async def test_a_malformed_expiry_shows_why_and_sends_nothing(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(80, 24), message_hook=notices) as pilot:
        seen = await ready(pilot)
        placed: list[tuple] = []

        async def place_order(*args, **kwargs):
            placed.append(args)
            raise AssertionError("a malformed expiry reached the engine")

        app.engine.place_order = place_order
        await pilot.press("b", *"0.01", "tab", *"200000", "tab", *"3x")
        await until(pilot, lambda: "risk      ok" in ticket_text(app, "verdict"))
        assert "expires   ✗ '3x' is neither a duration such as 2h nor an ISO time" in (
            ticket_text(app, "estimate")
        )
        assert app.screen.query_one("#ticket-expires-note").has_class("-error")
        await pilot.press("enter")
        await until(pilot, lambda: notices.said("'3x' is neither a duration", "error"))
        assert isinstance(app.screen, OrderTicket)  # still open, to correct the expiry

        await type_into(pilot, "limit", "")  # a market order: the expiry is only ignored
        await pilot.pause()
        assert app.screen.query_one("#expires", Input).disabled
        assert "ignored without a limit price" in ticket_text(app, "expires-note")
        assert "expires" not in ticket_text(app, "estimate")
        await pilot.press("escape")
        await pilot.pause()
        assert placed == []
        assert not any(isinstance(e, OrderEvent | FillEvent) for e in seen)
        assert (await app.engine.trading()).orders == ()


async def test_kill_switch_confirms_halts_orders_and_releases(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(80, 24), message_hook=notices) as pilot:
        await ready(pilot)
        resting = await app.engine.place_order("BTC/AUD", "buy", "0.01", "200000")
        assert resting.accepted and resting.order.state == "open"
        await until(pilot, lambda: app.blotter.border_subtitle == "1 working")

        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert "Engage the kill switch?" in screen_text(app)
        assert "1 order is working" in screen_text(app)
        await pilot.press("escape")  # changing one's mind does nothing
        await pilot.pause()
        assert not app.header.trading.kill_switch

        await pilot.press("ctrl+k", "a")  # engage, and cancel the working order
        await until(pilot, lambda: app.header.trading.kill_switch)
        assert " KILL " in screen_text(app).splitlines()[0]
        await until(pilot, lambda: app.blotter.border_subtitle == "none working")
        assert notices.said("kill switch engaged and working orders cancelled")

        await pilot.press("b", *"0.01")
        await until(pilot, lambda: "kill_switch" in ticket_text(app, "verdict"))
        assert "the kill switch is on" in ticket_text(app, "verdict")
        await pilot.press("enter")
        await until(pilot, lambda: notices.said("the kill switch is on", "error"))
        await pilot.press("escape")
        await pilot.pause()
        assert [o.state for o in (await app.engine.trading()).orders] == ["cancelled"]

        await pilot.press("ctrl+k")
        await pilot.pause()
        assert "Release the kill switch?" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: not app.header.trading.kill_switch)
        assert "KILL" not in screen_text(app).splitlines()[0]
        assert notices.said("kill switch released")


async def test_trading_keys_wait_while_a_screen_is_in_front(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        for action_id in ("trade.buy", "trade.cancel", "trade.kill", "desk.pnl", "desk.strategies"):
            assert action_id in screen_text(app)
        await pilot.press("escape", "J")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("b", "s", "P", "S")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("escape", "P")
        await pilot.pause()
        assert isinstance(app.screen, PnLScreen)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, PnLScreen)
        await pilot.press("ctrl+k")  # the kill switch is reachable from every screen
        await pilot.pause()
        assert isinstance(app.screen, Confirm)


async def test_the_header_and_the_blotter_tell_the_same_engine_clock(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert "SIM 2026-11-20 09:30:00 UTC" in screen_text(app).splitlines()[0]
        await app.engine.place_order("BTC/AUD", "buy", "0.01")
        await until(pilot, lambda: app.blotter.row_count == 2)
        assert [str(app.blotter.get_row_at(i)[0]) for i in range(2)] == ["09:30:00"] * 2
        app.engine.clock.advance(86400)  # a day later, yesterday's rows show their date
        await app.engine.place_order("BTC/AUD", "sell", "0.01")
        await until(pilot, lambda: app.blotter.row_count == 4)
        stamps = [str(app.blotter.get_row_at(i)[0]) for i in range(4)]
        assert stamps == ["09:30:00", "09:30:00", "20 Nov", "20 Nov"]
        await pilot.pause(0.3)  # the header's clock tick
        assert "SIM 2026-11-21 09:30:00 UTC" in screen_text(app).splitlines()[0]


async def trade_and_mark(app) -> None:
    """A buy, a partial sell, a resting order and a few marks an hour apart."""
    engine = app.engine
    # Seconds apart, so the blotter's order is the order they were placed in.
    for order in (("BTC/AUD", "buy", "0.01"), ("ETH/AUD", "buy", "0.2")):
        await engine.place_order(*order)
        engine.clock.advance(5)
    await engine.place_order("BTC/AUD", "sell", "0.004")
    engine.clock.advance(5)
    await engine.place_order("ETH/AUD", "buy", "0.1", "6500")
    for _ in range(3):
        await engine.run_job("trading.mark")
        engine.clock.advance(3600)
        await engine.run_job("market.tickers")
        await engine.run_job("candles.build")
    await engine.run_job("trading.mark")


async def test_pnl_screen_shows_curve_lots_and_the_tax_year(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await trade_and_mark(app)
        await pilot.press("P")
        screen = app.screen
        assert isinstance(screen, PnLScreen)
        lots = screen.query_one("#lots", DataTable)
        tax = screen.query_one("#tax", DataTable)
        await until(pilot, lambda: lots.row_count == 2 and screen.report is not None)
        assert screen.fy == financial_year(FROZEN, screen.zone) == 2027
        assert [str(c) for c in lots.get_row_at(0)] == [
            "BTC",
            "2026-11-20",
            "0.006",
            lots.get_row_at(0)[3].plain,
            lots.get_row_at(0)[4].plain,
            "2027-11-21",  # the CGT discount applies from the day after the anniversary
        ]
        assert tax.row_count == 1
        row = [str(c) for c in tax.get_row_at(0)]
        assert row[:4] == ["BTC", "2026-11-20", "2026-11-20", "0.004"] and row[-1] == "no"
        assert len(screen.query_one("#equity").points) == 4
        text = screen_text(app)
        assert "Tax FY2027 · 1 Jul 2026 – 30 Jun 2027" in text and "net" in text

        await pilot.press("left_square_bracket")
        await until(pilot, lambda: "FY2026" in screen_text(app))
        await until(pilot, lambda: tax.row_count == 0)
        assert "no disposals" in screen_text(app)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: tax.row_count == 1)

        # A fill while the screen is open reaches its positions and lots.
        await app.engine.place_order("ETH/AUD", "sell", "0.1")
        await until(pilot, lambda: lots.row_count == 2 and "0.1" in str(lots.get_row_at(1)[2]))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


# -- snapshots -----------------------------------------------------------------------------


async def _traded(pilot) -> None:
    await ready(pilot)
    await trade_and_mark(pilot.app)
    app = pilot.app
    await until(pilot, lambda: len(app.positions.positions) == 2 and not app._book_loading)
    await pilot.pause(1.0)  # past the watchlist's flash of the prices that changed


@pytest.mark.parametrize("view", ["book", "positions", "blotter"])
def test_desk_with_a_book_snapshot_narrow(snap_compare, tmp_path: Path, view: str) -> None:
    async def run_before(pilot) -> None:
        await _traded(pilot)
        await pilot.press(*["i"] * ["book", "positions", "blotter"].index(view), "i")
        await pilot.pause()

    assert snap_compare(make_desk(tmp_path), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(120, 40), (160, 48)], ids=["120x40", "160x48"])
def test_desk_with_a_book_snapshot(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Positions, working orders and fills: price and state whole, the book's ladder shown."""
    assert snap_compare(make_desk(tmp_path), terminal_size=size, run_before=_traded)


def test_kill_switch_confirm_snapshot(snap_compare, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:
        await _traded(pilot)
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(pilot.app.screen, Confirm))
        await pilot.pause()

    assert snap_compare(make_desk(tmp_path), terminal_size=(120, 40), run_before=run_before)


def test_order_ticket_snapshot(snap_compare, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("b", *"0.01")
        await until(pilot, lambda: "risk      ok" in ticket_text(pilot.app, "verdict"))

    assert snap_compare(make_desk(tmp_path), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (160, 48)], ids=["80x24", "120x40", "160x48"]
)
def test_pnl_screen_snapshot(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await _traded(pilot)
        await pilot.press("P")
        screen = pilot.app.screen
        await until(pilot, lambda: screen.report is not None)
        await pilot.pause()

    assert snap_compare(make_desk(tmp_path), terminal_size=size, run_before=run_before)


async def test_arming_live_needs_the_typed_phrase(tmp_path: Path) -> None:
    from dataclasses import replace

    from omc_tui.screens.arm import ArmLive

    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(80, 24), message_hook=notices) as pilot:
        await ready(pilot)
        await pilot.press("L")  # a paper engine has nothing to arm
        await until(pilot, lambda: notices.said("this engine trades on paper"))

        armed: list[str | None] = []

        async def arm_live(phrase: str) -> None:
            armed.append(phrase)

        async def disarm_live() -> None:
            armed.append(None)

        app.engine.arm_live = arm_live  # type: ignore[method-assign]
        app.engine.disarm_live = disarm_live  # type: ignore[method-assign]
        app.header.trading = replace(app.header.trading, mode="live", armed=False)
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, ArmLive)
        await pilot.press(*"arm live", "enter")  # not the phrase: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, ArmLive) and armed == []
        assert "type it exactly" in screen_text(app)
        app.screen.query_one(Input).value = ""
        await pilot.press(*"ARM LIVE", "enter")
        await until(pilot, lambda: armed == ["ARM LIVE"])
        assert not isinstance(app.screen, ArmLive)

        app.header.trading = replace(app.header.trading, armed=True)
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and "Disarm live trading?" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: armed == ["ARM LIVE", None])
