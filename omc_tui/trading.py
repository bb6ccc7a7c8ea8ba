"""The desk's trading: the book's panes kept current, and the order, cancel and kill actions."""

from __future__ import annotations

from textual import work
from textual.app import App

from engine.api import EngineAPI, TradingView
from engine.trading.commands import TradingUnavailable
from omc_tui import format as fmt
from omc_tui.messages import BookChanged, BookWaiting
from omc_tui.screens.confirm import Choice, Confirm
from omc_tui.widgets.blotter import WORKING, Blotter
from omc_tui.widgets.header import DeskHeader
from omc_tui.widgets.positions import PositionsPane
from omc_tui.widgets.status import StatusBar


class TradingDesk(App[int]):
    """The trading half of the desk app; ``DeskApp`` composes the panes these methods use."""

    engine: EngineAPI
    symbol: str | None
    timeframe: str
    header: DeskHeader
    status: StatusBar
    positions: PositionsPane
    blotter: Blotter

    book_view: TradingView | None = None  # the book as last read
    book_problem: str | None = None  # why the engine cannot give the book (trading is down)
    storage_ready = False
    _book_stale = False
    _book_loading = False
    _fills_changed = False

    def __init__(self) -> None:
        super().__init__()
        # The user's parameter edits per strategy: kept while the desk runs, whichever screen.
        self.strategy_params: dict[str, str] = {}

    # -- the trading book ------------------------------------------------------------------

    def book_waiting(self) -> str | None:
        """What the book's panes and screens wait for; None once the book has been read."""
        if self.book_view is not None:
            return None
        if self.book_problem is not None:
            return self.book_problem
        database = self.status.feed("database")
        if database is not None and database.status == "down":
            return f"waiting for the database ({database.error})"
        if not self.storage_ready:
            return "waiting for the database to open"
        return "loading the book"

    def _show_waiting(self) -> None:
        """Tell the panes and the open screens what the book waits for, until it is read."""
        reason = self.book_waiting()
        if reason is None:
            return
        self.positions.wait(reason)
        self.blotter.wait(reason)
        for screen in self.screen_stack[1:]:
            screen.post_message(BookWaiting(reason))

    def _book_changed(self, *, fills: bool = False) -> None:
        """Re-read the book soon; a burst of orders, fills and marks costs one read at a time."""
        self._book_stale = True
        self._fills_changed |= fills
        if not self._book_loading:
            self._book_loading = True
            self.load_book()

    @work(exclusive=True, group="book", exit_on_error=False, name="read the book")
    async def load_book(self) -> None:
        try:
            while self._book_stale:
                self._book_stale = False
                fills, self._fills_changed = self._fills_changed, False
                try:
                    view = await self.engine.trading()
                except TradingUnavailable as exc:  # the panes say why, not a notice per event
                    self.book_problem = str(exc)
                    self._show_waiting()
                    return
                self._show_book(view, fills)
        finally:
            self._book_loading = False

    def _show_book(self, view: TradingView, fills_changed: bool) -> None:
        self.book_view, self.book_problem = view, None
        self.header.trading = view.trading
        self.positions.show(view.positions, view.portfolio)
        self.blotter.show(view.orders, view.fills, self.engine.now().date())
        if view.portfolio is not None:
            self.status.set_portfolio(view.portfolio)
        for screen in self.screen_stack[1:]:
            screen.post_message(BookChanged(view, fills_changed))

    # -- actions ---------------------------------------------------------------------------

    def action_order_ticket(self, side: str) -> None:
        if self.symbol is None:
            self.notify("select a symbol first", severity="warning")
            return
        from omc_tui.screens.ticket import OrderTicket  # screens load when first opened

        self.push_screen(OrderTicket(self.engine, self.symbol, side, self.book_waiting()))

    def action_cancel_order(self) -> None:
        order = self.blotter.highlighted_order()
        if order is None or order.state not in WORKING:
            self.notify("highlight a working order to cancel it", severity="warning")
            return
        self._cancel(order.client_id)

    @work(group="trading.cancel", exit_on_error=False, name="cancel")
    async def _cancel(self, client_id: str) -> None:
        try:
            order = await self.engine.cancel_order(client_id)
        except Exception as exc:  # not working any more, or the engine refused: say why
            self.notify(str(exc), title="not cancelled", severity="error")
            return
        rest = fmt.qty(order.quantity - order.filled)
        self.notify(f"cancelled {order.side} {rest} {order.symbol} ({order.client_id})")

    def action_kill(self) -> None:
        trading = self.header.trading
        working = (
            sum(1 for o in self.book_view.orders if o.state in WORKING) if self.book_view else 0
        )
        if trading is None:  # nothing to switch yet: say what it waits for
            waiting = self.book_waiting() or "loading the book"
            confirm = Confirm(
                "The kill switch waits for the book",
                f"{waiting[:1].upper()}{waiting[1:]}. No order can be placed until trading "
                "has started; the switch can be set then.",
                [],
            )
        elif trading.kill_switch:
            confirm = Confirm(
                "Release the kill switch?",
                "New orders will be accepted again, each still checked by the risk guard.",
                [Choice("y", "Release", "release", "warning")],
            )
        else:
            choices = [Choice("y", "Engage", "engage", "error")]
            if working:  # the body says how many: the button stays short enough to fit
                choices.append(Choice("a", "Engage + cancel all", "cancel", "error"))
            confirm = Confirm(
                "Engage the kill switch?",
                "Every new order is refused until it is released, whatever places it."
                + _working_sentence(working),
                choices,
            )
        self.push_screen(confirm, self._kill_chosen)

    def _kill_chosen(self, choice: str | None) -> None:
        if choice is not None:
            self._set_kill_switch(choice != "release", cancel_all=choice == "cancel")

    @work(group="trading.kill", exit_on_error=False, name="kill switch")
    async def _set_kill_switch(self, on: bool, *, cancel_all: bool) -> None:
        await self.engine.set_kill_switch(on, cancel_all=cancel_all)
        if on:
            cancelled = " and working orders cancelled" if cancel_all else ""
            self.notify(
                f"kill switch engaged{cancelled}: new orders are refused", severity="warning"
            )
        else:
            self.notify("kill switch released: orders are accepted again")

    def action_arm_live(self) -> None:
        trading = self.header.trading
        if trading is None:
            waiting = self.book_waiting() or "loading the book"
            self.notify(f"{waiting}: arming waits for the book", severity="warning")
        elif trading.mode != "live":
            self.notify(
                'this engine trades on paper: set [trading] mode = "live" to trade live',
                severity="warning",
            )
        elif trading.armed:
            confirm = Confirm(
                "Disarm live trading?",
                "New orders will be refused by the risk guard until it is armed again.",
                [Choice("y", "Disarm", "disarm", "warning")],
            )
            self.push_screen(confirm, lambda choice: choice and self._arm(None))
        else:
            from omc_tui.screens.arm import ArmLive

            self.push_screen(ArmLive(), lambda phrase: phrase and self._arm(phrase))

    @work(group="trading.arm", exit_on_error=False, name="arm live")
    async def _arm(self, phrase: str | None) -> None:
        if phrase is None:
            await self.engine.disarm_live()
            self.notify("live trading disarmed")
        else:
            await self.engine.arm_live(phrase)
            self.notify("live trading ARMED: orders go to the venue", severity="warning")

    def action_pnl(self) -> None:
        from omc_tui.screens.pnl import PnLScreen

        self.push_screen(PnLScreen(self.engine, self.book_view, self.book_waiting()))

    def action_strategies(self) -> None:
        from omc_tui.screens.strategies import StrategiesScreen

        self.push_screen(
            StrategiesScreen(
                self.engine,
                self.symbol,
                self.timeframe,
                waiting=self.book_waiting(),
                edits=self.strategy_params,
            )
        )


def _working_sentence(count: int) -> str:
    if count == 0:
        return ""
    return " 1 order is working." if count == 1 else f" {count} orders are working."
