"""The desk: wires the panes to an ``EngineAPI``; the panes own their own behaviour."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from engine.api import TIMEFRAME_NAMES, EngineAPI, EngineUnavailable, Snapshot
from engine.events import (
    BookEvent,
    CandleEvent,
    Event,
    FeedEvent,
    FillEvent,
    InstrumentsEvent,
    JobEvent,
    LabEvent,
    LeaderEvent,
    LedgerEvent,
    ModeEvent,
    OrderEvent,
    PortfolioEvent,
    QuoteEvent,
    ReadyEvent,
    RiskEvent,
    TradingEvent,
)
from omc_tui import actions, first_frame
from omc_tui.messages import LabChanged
from omc_tui.screens.confirm import Confirm
from omc_tui.starting import EngineStarting, StartRefused
from omc_tui.trading import TradingDesk
from omc_tui.widgets.blotter import Blotter
from omc_tui.widgets.book import OrderBook
from omc_tui.widgets.catalysts import CatalystFeed
from omc_tui.widgets.chart import CandleChart
from omc_tui.widgets.glass import GlassPane
from omc_tui.widgets.header import DeskHeader
from omc_tui.widgets.human import HumanPane
from omc_tui.widgets.positions import PositionsPane
from omc_tui.widgets.status import StatusBar
from omc_tui.widgets.watchlist import Watchlist

if TYPE_CHECKING:
    from engine.config import DeskSettings

TICK_SECONDS = 0.25  # the desk's repaint tick for the clock and expiring flashes
# The panes each terminal size leaves out (desk.tcss lays them out): `i` puts them one at a
# time in the chart's place, so every pane is reachable at every size.
HIDDEN_PANES = {
    "-narrow": ("book", "positions", "blotter", "catalysts", "human", "glass"),
    "-medium": ("catalysts", "human", "glass"),
    "-wide": (),
}
# The desk's own keys act only while the desk is the screen in front. The kill switch is not
# among them: it can be reached from every screen.
DESK_ONLY = frozenset(
    {"move", "move_to", "timeframe", "chart_style", "simulate", "cycle_view", "cycle_focus"}
    | {"jobs", "explorer", "pnl", "strategies", "lab", "settings", "order_ticket", "cancel_order"}
)


def _desk_commands() -> Any:
    from omc_tui.commands import DeskCommands  # the palette loads when it first opens

    return DeskCommands


FRAME_SAVE_SECONDS = 10.0  # how often the first frame of the next start is kept
# Seconds the database's engine, attached to, has to come back after the connection drops
# before the desk looks for what now owns the database (see ``DeskApp._succeed``).
SUCCESSION_GRACE = 2.0


class DeskApp(TradingDesk):
    CSS_PATH = "desk.tcss"
    TITLE = "Oh My Coins"
    BINDINGS = actions.bindings()
    COMMANDS = App.COMMANDS | {_desk_commands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-medium"), (160, "-wide")]

    header: DeskHeader
    banner: Static
    watchlist: Watchlist
    book: OrderBook
    chart: CandleChart
    status: StatusBar
    catalysts: CatalystFeed
    human: HumanPane
    glass: GlassPane
    positions: PositionsPane
    blotter: Blotter

    def __init__(
        self,
        engine: EngineAPI | EngineStarting,
        desk: DeskSettings | None = None,
        *,
        starter: Callable[[], tuple[EngineAPI, DeskSettings]] | None = None,
        frame_key: str | None = None,
        follow_database: bool = False,
    ) -> None:
        """``engine`` runs the desk; or, with ``starter``, an ``EngineStarting`` stands in
        for it while ``starter`` loads it after the first frame is painted.

        ``follow_database``: the desk runs on its database's engine, whichever that is
        (``starter`` finds it). Attached to an owner that goes away, it runs ``starter``
        again: it attaches to the next owner, or owns the database itself."""
        super().__init__()
        self.engine: Any = engine
        self._starter = starter
        self._follow = follow_database and starter is not None
        self._frame_key = frame_key
        self.refused: StartRefused | None = None
        self.keymap: dict[str, str] = dict(desk.keymap) if desk else {}
        self.timeframe = desk.timeframe if desk else "1h"
        self.symbol: str | None = None
        self.mode: ModeEvent | None = None

    def compose(self) -> ComposeResult:
        yield DeskHeader(id="header")
        yield Static("", id="banner")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Watchlist(id="watchlist")
                yield OrderBook(id="book")
            yield CandleChart(id="chart")
        # Before the trading panes, so that where `i` shows one it takes the chart's place.
        with Horizontal(id="intel"):
            yield CatalystFeed(id="catalysts")
            yield HumanPane(id="human")
            yield GlassPane(id="glass")
        with Horizontal(id="trade"):
            yield PositionsPane(id="positions")
            yield Blotter(id="blotter")
        yield StatusBar(id="status")
        if self._starter is None:
            yield Footer()  # on a cold start it follows the first frame (see ``_boot``)

    async def on_mount(self) -> None:
        # Panes are held here: while a modal (help, palette) is on top, ``query_one`` would
        # search that screen instead of the desk.
        self.header = self.query_one(DeskHeader)
        self.banner = self.query_one("#banner", Static)
        self.watchlist = self.query_one(Watchlist)
        self.book = self.query_one(OrderBook)
        self.chart = self.query_one(CandleChart)
        self.status = self.query_one(StatusBar)
        self.catalysts = self.query_one(CatalystFeed)
        self.human = self.query_one(HumanPane)
        self.glass = self.query_one(GlassPane)
        self.positions = self.query_one(PositionsPane)
        self.blotter = self.query_one(Blotter)
        if self._starter is not None:
            # The first frame, from the last session, before the engine's heavy imports.
            self.apply_snapshot(self.engine.snapshot())
            self.chart.clear("starting the engine…")
            self.watchlist.focus()
            self.call_after_refresh(self._boot)
            return
        await self._start_engine()

    @work(exclusive=True, group="boot", exit_on_error=False, name="start the engine")
    async def _boot(self) -> None:
        assert self._starter is not None
        # The footer's keys are many widgets: they come a frame after the prices.
        await self.mount(Footer())
        try:
            engine, desk = await asyncio.to_thread(self._starter)
        except StartRefused as exc:
            self.refused = exc
            self.exit(return_code=2)
            return
        self.engine.attach(engine)  # screens opened meanwhile reach it through the stand-in
        self.engine = engine
        self.keymap = dict(desk.keymap)
        if desk.timeframe != self.timeframe:
            self.timeframe = desk.timeframe
        try:
            await self._start_engine()
        except EngineUnavailable as exc:  # owned by another engine, or nobody answers
            self.refused = StartRefused(str(exc), code=1)
            self.exit(return_code=1)
            return
        if self._frame_key is not None:
            self.set_interval(FRAME_SAVE_SECONDS, self._save_frame)

    @work(exclusive=True, group="succession", exit_on_error=False, name="follow the database")
    async def _succeed(self, lost: Any) -> None:
        """The attached engine ``lost`` dropped: once it has had ``SUCCESSION_GRACE`` to come
        back, whatever now owns the database runs the desk — the next owner, attached to, or
        this desk's own engine when none does."""
        from engine.service.remote import RemoteEngine

        assert self._starter is not None
        while self.engine is lost and not lost.connected.is_set():
            await asyncio.sleep(SUCCESSION_GRACE)
            if lost.connected.is_set():
                return  # it came back (a restart, a dropped connection)
            try:
                engine, _ = await asyncio.to_thread(self._starter)
            except StartRefused as exc:
                self.notify(f"cannot take over the database: {exc}", severity="error")
                return
            if isinstance(engine, RemoteEngine) and engine.host == lost.host:
                continue  # it still holds the database: keep reconnecting to it
            try:
                await engine.start()
            except EngineUnavailable:
                continue  # another process took the database first: look again
            if self.engine is not lost or lost.connected.is_set():
                await engine.stop()  # the desk moved on meanwhile
                return
            await self._replace_engine(lost, engine)

    async def _replace_engine(self, lost: Any, engine: EngineAPI) -> None:
        """Run the desk on ``engine`` from now on, ``lost`` dropped."""
        self.workers.cancel_group(self, "events")
        self.engine = engine
        with contextlib.suppress(Exception):  # it is gone already: closing it only tidies
            await lost.stop()
        self.status.forget_feed("engine")  # the attach connection's: the new engine says its own
        self.apply_snapshot(engine.snapshot())
        self.consume_events()
        self._show_waiting()
        self._book_changed(fills=True)
        if self.symbol is not None:
            self.run_worker(
                engine.select(self.symbol),
                group="select",
                exclusive=True,
                exit_on_error=False,
                name="follow the symbol",
            )
        where = engine.snapshot().mode.engine
        now = "runs its own engine" if where == "local" else f"is {where}"
        self.notify(f"The engine at {lost.host} stopped: the desk {now}.", timeout=8)

    def _save_frame(self) -> None:
        assert self._frame_key is not None
        first_frame.save(self._frame_key, self.engine.snapshot())

    async def _start_engine(self) -> None:
        if self.keymap:
            if bad := actions.unknown_ids(self.keymap):
                self.notify(f"key map names unknown actions: {', '.join(bad)}", severity="warning")
            self.set_keymap(self.keymap)
        self.chart.clear("loading history…")
        await self.engine.start()
        self.apply_snapshot(self.engine.snapshot())
        self.consume_events()
        self._show_waiting()
        self._book_changed(fills=True)
        self.set_interval(TICK_SECONDS, self._tick)
        if self.focused is None:
            self.watchlist.focus()

    # -- engine state ----------------------------------------------------------------------

    def apply_snapshot(self, snap: Snapshot) -> None:
        self._set_mode(snap.mode)
        self.storage_ready = snap.ready
        self.header.now = snap.now
        watchlist = self.watchlist
        watchlist.set_rows(snap.watchlist)
        status = self.status
        status.set_jobs(list(snap.jobs))
        for feed in snap.feeds:
            status.on_feed(feed)
        self._update_banner()
        if snap.book is not None:
            self.book.show(snap.book)
        if self.symbol is None and watchlist.selected:
            self._select(watchlist.selected)
        elif snap.ready:
            self.load_chart()

    @work(exclusive=True, group="events", exit_on_error=False, name="engine events")
    async def consume_events(self) -> None:
        async for event in self.engine.events():
            self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        if isinstance(event, QuoteEvent):
            self.watchlist.update_quote(event)
        elif isinstance(event, CandleEvent):
            self._on_candle(event)
        elif isinstance(event, BookEvent):
            self.book.show(event)
        elif isinstance(event, JobEvent):
            self.status.on_job(event)
        elif isinstance(event, FeedEvent):
            self.status.on_feed(event)
            self._update_banner()
            if event.feed in ("database", "trading"):
                self._show_waiting()
            elif event.feed == "engine" and event.status == "down" and self._follow:
                self._succeed(self.engine)
        elif isinstance(event, InstrumentsEvent):
            self.watchlist.mark_unknown(event.unknown)
        elif isinstance(event, ModeEvent):
            self._set_mode(event)
        elif isinstance(event, ReadyEvent):
            self.apply_snapshot(self.engine.snapshot())
            self._show_waiting()
            self.load_chart()
            self.load_intel()
        elif isinstance(event, LedgerEvent):
            self.load_intel(event.ledger)
        elif isinstance(event, OrderEvent | FillEvent):
            self._book_changed(fills=isinstance(event, FillEvent))
        elif isinstance(event, PortfolioEvent):
            self.status.set_portfolio(event)
            self.positions.set_portfolio(event)
            self._book_changed()
        elif isinstance(event, TradingEvent):
            self.header.trading = event
            self._book_changed()
        elif isinstance(event, RiskEvent) and not event.allowed and event.origin != "manual":
            # A person's own refusals are shown where they placed the order.
            self.notify(event.message, title=f"{event.origin} order refused", severity="warning")
        elif isinstance(event, LabEvent):
            for screen in self.screen_stack[1:]:  # the Lab screen follows its sessions
                screen.post_message(LabChanged(event))
        elif isinstance(event, LeaderEvent) and not event.leader:
            # The engine no longer owns its database: it trades and schedules nothing more.
            self.notify(event.reason or "", title="engine deposed", severity="error", timeout=30)

    def _on_candle(self, event: CandleEvent) -> None:
        if event.timeframe == "1h":
            self.watchlist.add_spark_point(event.symbol, event.close, event.closed)
        if event.symbol == self.symbol and event.timeframe == self.timeframe:
            self.chart.update_bar(event)

    def _set_mode(self, mode: ModeEvent) -> None:
        changed = self.mode is not None and self.mode.data != mode.data
        self.mode = mode
        self.header.mode = mode
        if changed:
            self._update_banner()

    def _update_banner(self) -> None:
        banner = self.banner
        mode = self.mode
        feed = self.status.feed(f"{mode.venue}.market") if mode else None
        if mode is not None and mode.data == "LIVE" and feed is not None and feed.status == "down":
            banner.update(
                f"[b]{mode.venue} is unreachable[/b] — {feed.error}. "
                f"Prices are not live. Press [b]m[/b] to switch to the simulated market."
            )
            banner.display = True
        else:
            banner.display = False

    def _tick(self) -> None:
        self.header.now = self.engine.now()
        self.watchlist.expire_flashes()

    # -- chart -----------------------------------------------------------------------------

    def _select(self, symbol: str) -> None:
        if symbol == self.symbol:
            return
        self.symbol = symbol
        self.book.follow(symbol)
        self.run_worker(
            self.engine.select(symbol),
            group="select",
            exclusive=True,
            exit_on_error=False,
            name="follow the symbol",
        )
        self.load_chart()
        if self.engine.snapshot().ready:
            self.load_intel()

    @work(exclusive=True, group="chart", exit_on_error=False, name="load the chart")
    async def load_chart(self) -> None:
        symbol, timeframe = self.symbol, self.timeframe
        if symbol is None:
            return
        chart = self.chart
        bars = await self.engine.candles(symbol, timeframe)
        if (symbol, timeframe) != (self.symbol, self.timeframe):
            return  # the user moved on while this loaded
        if bars:
            chart.set_bars(symbol, timeframe, bars)
        else:
            chart.clear(f"no {timeframe} candles for {symbol} yet")

    # -- intelligence panes ----------------------------------------------------------------

    @work(group="intel", exit_on_error=False, name="load intelligence")
    async def load_intel(self, ledger: str | None = None) -> None:
        """Refresh the panes of ``ledger`` (all when None), filtered to the selected symbol."""
        symbol = self.symbol
        if ledger in (None, "catalyst"):
            events = await self.engine.catalysts(symbol)
            scope = symbol or ""
            if not events:  # a quiet coin still shows what moves the market
                events, scope = await self.engine.catalysts(None), "all"
            self.catalysts.show(events, scope)
        if ledger in (None, "human"):
            items = await self.engine.human_items(symbol)
            scope = symbol or ""
            if not items:
                items, scope = await self.engine.human_items(None), "all"
            self.human.show(await self.engine.mood(), items, scope)
        if ledger in (None, "glass"):
            self.glass.show(await self.engine.glass())

    @on(CatalystFeed.Opened)
    def _open_catalyst(self, message: CatalystFeed.Opened) -> None:
        from omc_tui.screens.catalyst import CatalystDetail

        self.push_screen(CatalystDetail(message.event))

    @on(Watchlist.Selected)
    def _on_selected(self, message: Watchlist.Selected) -> None:
        self._select(message.symbol)

    # -- actions ---------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self.watchlist.move(delta)

    def action_move_to(self, index: int) -> None:
        watchlist = self.watchlist
        watchlist.move_to(index if index >= 0 else len(watchlist.symbols) - 1)

    def action_timeframe(self, step: int) -> None:
        names = list(TIMEFRAME_NAMES)
        self.timeframe = names[(names.index(self.timeframe) + step) % len(names)]
        self.chart.clear(f"loading {self.symbol} {self.timeframe}…")
        self.load_chart()

    def action_chart_style(self) -> None:
        self.chart.toggle_style()

    def hidden_panes(self) -> tuple[str, ...]:
        """The panes this terminal's size leaves out, which `i` shows in the chart's place."""
        screen = self.screen_stack[0]
        return next((p for size, p in HIDDEN_PANES.items() if screen.has_class(size)), ())

    def action_cycle_view(self) -> None:
        """The chart's place shows the chart, then each pane this size leaves out in turn."""
        views = ("chart", *self.hidden_panes())
        screen = self.screen_stack[0]
        current = next((v for v in views if screen.has_class(f"-show-{v}")), "chart")
        following = views[(views.index(current) + 1) % len(views)]
        for view in HIDDEN_PANES["-narrow"]:
            screen.set_class(view == following, f"-show-{view}")
        if following == "blotter":
            self.blotter.focus()
        elif following == "catalysts":
            self.catalysts.focus()
        else:
            self.call_after_refresh(self._focus_shown)

    def _focus_shown(self) -> None:
        """Keep the focus on a pane that is on screen (the watchlist always is)."""
        if self.screen is self.screen_stack[0] and self.focused not in self.screen.focus_chain:
            self.watchlist.focus()

    def on_resize(self) -> None:
        self.call_after_refresh(self._focus_shown)  # a smaller terminal may hide the focused pane
        self.refresh_bindings()  # `i` is in the footer only where it has panes to show

    def action_cycle_focus(self) -> None:
        """The next pane on screen that takes keys; panes this size hides are skipped."""
        self.screen_stack[0].focus_next()

    def action_jobs(self) -> None:
        from omc_tui.screens.jobs import JobsScreen  # screens load when first opened

        self.push_screen(JobsScreen(self.engine))

    def action_explorer(self) -> None:
        from omc_tui.screens.explorer import ExplorerScreen

        self.push_screen(ExplorerScreen(self.engine, self.symbol))

    def action_lab(self) -> None:
        from omc_tui.screens.lab import LabScreen

        self.push_screen(LabScreen(self.engine))

    def action_settings(self) -> None:
        from omc_tui.screens.settings import SettingsScreen

        self.push_screen(SettingsScreen(self.engine))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in DESK_ONLY and self.screen is not self.screen_stack[0]:
            return False
        if action == "cycle_view":
            return bool(self.hidden_panes())
        if action == "cancel_order":
            return isinstance(self.focused, Blotter)  # in the footer only where it applies
        if action == "kill":
            return not isinstance(self.screen, Confirm)  # one question at a time
        return True

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, EngineUnavailable):  # an attached engine away: the header says so
            self.notify(str(error), title=event.worker.name, severity="warning")
            return
        # No failure of the desk's own work is silent.
        self.notify(f"{event.worker.name} failed: {error}", severity="error")

    def action_help(self) -> None:
        from omc_tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.keymap))

    async def action_simulate(self) -> None:
        if self.mode is not None and self.mode.data == "SIM":
            self.notify("Already on the simulated market.")
            return
        await self.engine.use_simulated_market()
        self.notify("Switched to the simulated market (SIM data).")

    async def action_quit(self) -> None:
        if isinstance(self.engine, EngineStarting):  # quit before the engine even started
            self.exit(0)
            return
        if self._frame_key is not None:
            self._save_frame()  # the next start paints from here
        await self.engine.stop()
        self.exit(0)
