"""Keyboard flows of the desk, driven through Textual's Pilot on the simulated market."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import ccxt

from engine.events import QuoteEvent
from ledgers.clock import ManualClock
from ledgers.sources.ccxt_market import CcxtMarket
from omc_tui.screens.help import HelpScreen
from omc_tui.widgets.chart import CandleChart
from omc_tui.widgets.watchlist import Watchlist
from tests.conftest import FROZEN
from tests.desk.conftest import make_desk, row_text, screen_text, settle
from tests.ledgers.fake_exchange import FakeExchange


def chart_title(app) -> str:
    return app.query_one(CandleChart).render_line(0).text


async def test_first_paint_shows_mode_clock_and_every_price(
    tmp_path: Path, desk_engine: str
) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        where = "local engine" if desk_engine == "local" else "attached · 127.0.0.1:"
        assert "PAPER" in text and "SIM data" in text and where in text
        assert "2026-11-20 09:30:00 UTC" in text
        watchlist = app.query_one(Watchlist)
        assert len(watchlist.symbols) == 12
        for symbol in watchlist.symbols:
            row = row_text(app, symbol)
            assert row.startswith(symbol) and "%" in row, row
        assert chart_title(app).startswith("BTC/AUD · 1h")


async def test_arrows_and_jk_move_the_selection_and_the_chart_follows(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert app.symbol == "ETH/AUD" and chart_title(app).startswith("ETH/AUD")
        await pilot.press("down", "down")
        await settle(pilot)
        assert app.symbol == "XRP/AUD"
        await pilot.press("k")
        await settle(pilot)
        assert app.symbol == "SOL/AUD" and chart_title(app).startswith("SOL/AUD")
        await pilot.press("G")
        await settle(pilot)
        assert app.symbol == "XLM/AUD"
        await pilot.press("up", "g")
        await settle(pilot)
        assert app.symbol == "BTC/AUD"


async def test_t_cycles_every_timeframe_and_each_has_history(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        seen = []
        for _ in range(6):
            await pilot.press("t")
            await settle(pilot)
            chart = app.query_one(CandleChart)
            seen.append(app.timeframe)
            assert len(chart._bars) > 50, app.timeframe
            assert f"· {app.timeframe} ·" in chart_title(app)
        assert seen == ["4h", "1d", "1m", "5m", "15m", "1h"]
        await pilot.press("T")
        assert app.timeframe == "15m"


async def test_help_lists_every_action_and_closes(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for action_id in ("desk.quit", "chart.timeframe", "watchlist.down", "market.simulate"):
            assert action_id in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_a_registered_action(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"next chart timeframe")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert app.timeframe == "4h"


async def test_keymap_from_config_rebinds_an_action(tmp_path: Path) -> None:
    app = make_desk(tmp_path, keymap={"chart.timeframe": "x"})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        assert app.timeframe == "4h"


async def test_q_stops_the_engine_and_quits(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert app.engine.writer.pending == 0  # everything buffered reached the database


async def test_unknown_symbol_is_shown_as_such_and_the_rest_work(tmp_path: Path) -> None:
    app = make_desk(tmp_path, watchlist=["BTC/AUD", "WHAT/AUD", "ETH/AUD"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "unknown symbol" in row_text(app, "WHAT/AUD")
        assert "%" in row_text(app, "ETH/AUD")


async def test_a_quote_repaints_only_its_own_row_and_flashes_changed_digits(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        watchlist = app.query_one(Watchlist)
        rendered: list[str] = []
        original = watchlist._render_row

        def spy(row, is_cursor, width):
            rendered.append(row.symbol)
            return original(row, is_cursor, width)

        watchlist._render_row = spy  # type: ignore[method-assign]
        eth = app.engine.snapshot().watchlist[1].quote
        assert eth is not None
        app.engine.bus.publish(replace(eth, last=eth.last + 1.0))
        await pilot.pause(0.05)
        assert rendered == ["ETH/AUD"]
        row = watchlist._rows[1]
        assert row.flash_up and row.flash_from >= 0


async def test_offline_venue_says_so_and_m_switches_to_the_simulated_market(tmp_path: Path) -> None:
    clock = ManualClock(FROZEN)
    fake = FakeExchange()
    fake.fail_next(ccxt.NetworkError("Temporary failure in name resolution"), times=50)
    app = make_desk(tmp_path, sim=False, source=CcxtMarket(exchange=fake, clock=clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.engine.wait_ready()
        await app.engine.run_job("market.tickers")
        await app.engine.run_job("market.tickers")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "LIVE data" in text and "coinspot is unreachable" in text and "Press m" in text
        await pilot.press("m")
        await settle(pilot)
        text = screen_text(app)
        assert "SIM data" in text and "unreachable" not in text
        assert "%" in row_text(app, "BTC/AUD")


async def test_chart_follows_live_candles_of_the_selected_symbol(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        engine = app.engine
        before = app.query_one(CandleChart)._bars[-1]
        engine.clock.advance(3600)
        await engine.run_job("market.tickers")
        await engine.run_job("candles.build")
        await pilot.pause(0.1)
        after = app.query_one(CandleChart)._bars[-1]
        assert after.ts > before.ts
        quote = app.engine.snapshot().watchlist[0].quote
        assert isinstance(quote, QuoteEvent) and after.close == quote.last


async def test_the_desk_keeps_updating_under_a_modal(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        eth = app.engine.snapshot().watchlist[1].quote
        assert eth is not None
        app.engine.bus.publish(replace(eth, last=eth.last * 1.01))
        await pilot.pause(0.6)  # past the desk's clock tick and the event's arrival
        await pilot.press("escape")
        await pilot.pause()
        assert app.watchlist._rows[1].quote.last == eth.last * 1.01
        assert app.return_code is None  # nothing crashed while help was open
