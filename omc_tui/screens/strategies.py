"""Strategies and backtests: run one on the selected symbol, judge it, promote, deploy, undeploy."""

from __future__ import annotations

import time
from decimal import Decimal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from engine.api import BacktestView, DeploymentView, EngineAPI, StrategyInfo
from engine.config import TIMEFRAME_NAMES
from engine.trading.commands import TradingUnavailable
from omc_tui import format as fmt
from omc_tui.messages import BookChanged, BookWaiting
from omc_tui.screens._backtest_view import metrics_text, number, pct
from omc_tui.screens.confirm import Choice, Confirm
from omc_tui.widgets.equity import EquityCurve
from omc_tui.widgets.strategy_params import StrategyParams, params_text


class _Table(DataTable[Text]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="strategies.down", tooltip="Next row"),
        Binding("k", "cursor_up", "Up", show=False, id="strategies.up", tooltip="Previous row"),
    ]


class StrategiesScreen(Screen[None]):
    """Backtest → (governance gate) → paper: every step is the user's own decision."""

    DEFAULT_CSS = """
    StrategiesScreen { layout: vertical; }
    StrategiesScreen #research { height: 1fr; }
    StrategiesScreen #catalogue { width: 56; height: 100%; }
    StrategiesScreen #result { width: 1fr; height: 100%; }
    StrategiesScreen DataTable, StrategiesScreen #bt-equity, StrategiesScreen #metrics {
        border: round $primary-darken-2;
    }
    StrategiesScreen DataTable:focus { border: round $accent; }
    StrategiesScreen #strategies { height: 1fr; }
    StrategiesScreen #deployments { height: 1fr; }
    StrategiesScreen #run { height: 1; padding: 0 1; background: $panel; }
    StrategiesScreen #metrics { height: auto; min-height: 6; padding: 0 1; }
    StrategiesScreen #bt-equity { height: 1fr; min-height: 5; }
    StrategiesScreen #backtests { height: 1fr; }
    StrategiesScreen.-narrow #research { layout: vertical; overflow-y: auto; }
    StrategiesScreen.-narrow #catalogue, StrategiesScreen.-narrow #result {
        width: 100%; height: auto;
    }
    StrategiesScreen.-narrow #strategies { height: 6; }
    StrategiesScreen.-narrow #deployments { height: 6; }
    StrategiesScreen.-narrow #backtests { height: 8; }
    StrategiesScreen.-narrow #bt-equity { display: none; }
    """
    BINDINGS = [
        Binding("r", "run", "Backtest", id="strategies.run", tooltip="Backtest the strategy"),
        Binding("e", "edit", "Params", id="strategies.params", tooltip="Edit its parameters"),
        Binding("t", "timeframe", "Timeframe", id="strategies.timeframe", tooltip="Next timeframe"),
        Binding("p", "promote", "Promote", id="strategies.promote", tooltip="Promote to paper"),
        Binding("d", "deploy", "Deploy", id="strategies.deploy", tooltip="Paper-trade it"),
        Binding("u", "undeploy", "Undeploy", id="strategies.undeploy", tooltip="Stop a deployment"),
        Binding(
            "escape", "close", "Close", id="strategies.close", tooltip="Cancel a run, or close"
        ),
    ]
    AUTO_FOCUS = "#strategies"

    def __init__(
        self,
        engine: EngineAPI,
        symbol: str | None,
        timeframe: str = "1h",
        *,
        waiting: str | None = None,
        edits: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.symbol = symbol
        self.timeframe = timeframe
        self.waiting = waiting  # what the book waits for; backtests need it
        self._edits = edits  # the desk's parameter edits, kept when this screen closes
        self.strategies: list[StrategyInfo] = []
        self.backtests: list[BacktestView] = []
        self.deployments: list[DeploymentView] = []
        self.running: str | None = None  # what is being backtested, while it runs
        self._running_strategy: str | None = None
        self._started = 0.0
        self._ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="research"):
            with Vertical(id="catalogue"):
                yield _Table(id="strategies", cursor_type="row")
                yield StrategyParams(edits=self._edits, id="params")
                yield _Table(id="deployments", cursor_type="row")
            with Vertical(id="result"):
                yield Static(id="run")
                yield Static(id="metrics")
                yield EquityCurve(id="bt-equity")
                yield _Table(id="backtests", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        titles = {
            "strategies": "Strategies",
            "deployments": "Deployments",
            "backtests": "Backtests",
        }
        for table_id, title in titles.items():
            self.query_one(f"#{table_id}", DataTable).border_title = title
        self.query_one("#strategies", DataTable).add_columns("Strategy", "Params")
        self.query_one("#deployments", DataTable).add_columns(
            "Deployment", "Allocation", "Active", "Last bar"
        )
        self.query_one("#backtests", DataTable).add_columns(
            "Id", "Strategy", "Symbol", "TF", "Return", "Sharpe", "Trades", "Gate", "Promoted"
        )
        self.query_one("#bt-equity", EquityCurve).border_title = "Backtest equity"
        self.query_one("#metrics", Static).border_title = "Metrics"
        self._paint_run()
        self.query_one("#metrics", Static).update(Text("no backtest selected", style="dim"))
        if self.waiting is not None:
            self._paint_waiting(self.waiting)
        self.load()

    # -- loading ---------------------------------------------------------------------------

    @work(exclusive=True, group="strategies.load", exit_on_error=False, name="load strategies")
    async def load(self, select: str | None = None) -> None:
        self.strategies = await self.engine.strategies()
        self._fill_strategies()
        try:
            self.backtests = await self.engine.backtests()
            self._fill_backtests(select)
            self.deployments = await self.engine.deployments()
        except TradingUnavailable as exc:  # said in place of the tables, not as a failure
            self._paint_waiting(str(exc))
            return
        self._fill_deployments()

    def _paint_waiting(self, reason: str) -> None:
        """Backtests and deployments live in the book: say what it waits for until it is read."""
        self.waiting = reason
        for table_id in ("backtests", "deployments"):
            self.query_one(f"#{table_id}", DataTable).border_subtitle = reason
        self.query_one("#metrics", Static).update(Text(f"{reason}…", style="dim"))
        self.query_one("#bt-equity", EquityCurve).show([], "", empty="")

    @on(BookWaiting)
    def _book_waiting(self, message: BookWaiting) -> None:
        if self.waiting is not None:
            self._paint_waiting(message.reason)

    @on(BookChanged)
    def _book_read(self) -> None:
        if self.waiting is not None:  # the book has arrived: fill in what waited for it
            self.waiting = None
            for table_id in ("backtests", "deployments"):
                self.query_one(f"#{table_id}", DataTable).border_subtitle = ""
            self.load()

    def _refused_while_waiting(self, what: str) -> bool:
        if self.waiting is None:
            return False
        self.notify(f"{self.waiting}: {what} once the book has loaded", severity="warning")
        return True

    def _fill_strategies(self) -> None:
        table = self.query_one("#strategies", DataTable)
        if table.row_count:
            return  # the catalogue does not change while the engine runs
        for s in self.strategies:
            params = params_text(s.params)
            table.add_row(Text(s.name, style="bold"), Text(params, style="cyan"), key=s.name)
        self._show_params()

    def _fill_backtests(self, select: str | None) -> None:
        table = self.query_one("#backtests", DataTable)
        table.clear()
        for b in self.backtests:
            m = b.metrics
            table.add_row(
                Text(b.id, style="dim"),
                Text(b.strategy),
                Text(b.symbol),
                Text(b.timeframe),
                pct(m.get("total_return_pct"), signed=True),
                number(m.get("sharpe")),
                Text(str(m.get("trades", "—")), justify="right"),
                Text("pass", style="green") if b.gate_passed else Text("fail", style="red"),
                Text(f"{b.promoted_at:%m-%d %H:%M}" if b.promoted_at else "—"),
                key=b.id,
            )
        if select is not None and select in {b.id for b in self.backtests}:
            table.move_cursor(row=table.get_row_index(select), animate=False)
        self._show_selected()

    def _fill_deployments(self) -> None:
        table = self.query_one("#deployments", DataTable)
        table.clear()
        for d in self.deployments:
            table.add_row(
                Text(d.name, style="bold" if d.active else "dim"),
                Text(fmt.money(d.allocation), justify="right"),
                Text("yes", style="green") if d.active else Text("no", style="dim"),
                Text(f"{d.last_bar:%m-%d %H:%M}" if d.last_bar else "—", style="dim"),
                key=d.name,
            )

    # -- the selected backtest -------------------------------------------------------------

    def selected_backtest(self) -> BacktestView | None:
        table = self.query_one("#backtests", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((b for b in self.backtests if b.id == key), None)

    @on(DataTable.RowHighlighted, "#backtests")
    def _show_selected(self) -> None:
        backtest = self.selected_backtest()
        metrics = self.query_one("#metrics", Static)
        curve = self.query_one("#bt-equity", EquityCurve)
        if backtest is None:
            metrics.update(Text("no backtests yet: r runs the highlighted strategy", style="dim"))
            curve.show([], "", empty="")
            return
        metrics.update(metrics_text(backtest))
        if self.has_class("-narrow"):
            metrics.scroll_visible()  # on a short screen the metrics sit below the catalogue
        if backtest.equity:
            points = [(t, Decimal(str(v))) for t, v in backtest.equity]
            curve.show(points, backtest.symbol.partition("/")[2], unit="points")
        else:
            curve.show([], "", empty="the engine keeps curves of this session's backtests only")
        curve.border_title = f"{backtest.strategy} on {backtest.symbol} · {backtest.timeframe}"

    # -- running a backtest ----------------------------------------------------------------

    def _strategy(self) -> str | None:
        table = self.query_one("#strategies", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowHighlighted, "#strategies")
    def _show_params(self) -> None:
        name = self._strategy()
        strategy = next((s for s in self.strategies if s.name == name), None)
        if strategy is not None:
            self.query_one(StrategyParams).show(strategy)

    def action_edit(self) -> None:
        if self._strategy() is not None:
            self.query_one(StrategyParams).edit()

    @on(StrategyParams.Done)
    def _params_done(self) -> None:
        self.query_one("#strategies", DataTable).focus()

    @on(DataTable.RowSelected, "#strategies")
    def _strategy_entered(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        if self._refused_while_waiting("backtests run"):
            return
        strategy = self._strategy()
        if strategy is None or self.symbol is None:
            self.notify("select a strategy and, on the desk, a symbol", severity="warning")
            return
        if self.running is not None:
            self.notify(f"{self.running} is still running (esc cancels it)", severity="warning")
            return
        params = self.query_one(StrategyParams).params()
        if params is None:
            return  # malformed: the editor says why, and the engine is not asked
        self.running = f"{strategy} on {self.symbol} · {self.timeframe}"
        self._running_strategy = strategy
        self._started = time.monotonic()
        self._ticker = self.set_interval(0.5, self._paint_run)
        self._paint_run()
        self._backtest(strategy, self.symbol, self.timeframe, params)

    @work(exclusive=True, group="strategies.backtest", exit_on_error=False, name="backtest")
    async def _backtest(
        self, strategy: str, symbol: str, timeframe: str, params: dict[str, str]
    ) -> None:
        view = await self.engine.backtest(strategy, symbol, timeframe=timeframe, params=params)
        self.notify(
            f"backtest {view.id}: {strategy} on {symbol} {timeframe} — "
            + ("gate passed" if view.gate_passed else "gate failed")
        )
        self.load(select=view.id)

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        state = event.state
        backtest = event.worker.group == "strategies.backtest"
        if backtest and state is WorkerState.ERROR and self._running_strategy is not None:
            # A refusal (bad parameters, say) is shown under the parameters that caused it.
            self.query_one(StrategyParams).refuse(self._running_strategy, str(event.worker.error))
        elif state is WorkerState.ERROR:
            self.notify(f"{event.worker.name} failed: {event.worker.error}", severity="error")
        if backtest and state not in (WorkerState.PENDING, WorkerState.RUNNING):
            self._finish_run("cancelled" if state is WorkerState.CANCELLED else None)

    def _finish_run(self, outcome: str | None) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if outcome is not None and self.running is not None:
            self.notify(f"backtest of {self.running} {outcome}", severity="warning")
        self.running = None
        self._running_strategy = None
        self._paint_run()

    def _paint_run(self) -> None:
        run = self.query_one("#run", Static)
        if self.running is not None:
            seconds = time.monotonic() - self._started
            run.update(
                Text.assemble(
                    ("backtesting ", "bold"),
                    self.running,
                    (f" · running… {seconds:.0f}s · esc cancels", "yellow"),
                )
            )
            return
        run.update(
            Text.assemble(
                "r runs the highlighted strategy on ",
                (self.symbol or "—", "bold"),
                " · ",
                (self.timeframe, "bold"),
                (" (t changes it)", "dim"),
            )
        )

    def action_timeframe(self) -> None:
        names = list(TIMEFRAME_NAMES)
        index = names.index(self.timeframe) if self.timeframe in names else 0
        self.timeframe = names[(index + 1) % len(names)]
        self._paint_run()

    # -- promote, deploy, undeploy ---------------------------------------------------------

    def action_promote(self) -> None:
        if self._refused_while_waiting("promoting works"):
            return
        backtest = self.selected_backtest()
        if backtest is None:
            self.notify("no backtest selected", severity="warning")
            return
        if not backtest.gate_passed:
            reasons = "; ".join(backtest.gate_reasons)
            self.notify(f"the governance gate failed: {reasons}", severity="error")
            return
        body = (
            f"{backtest.strategy} on {backtest.symbol} ({backtest.timeframe}) passed the "
            "governance gate. Promoting it allows deploying it to paper trading."
        )
        choices = [Choice("y", "Promote", backtest.id, "warning")]
        self.app.push_screen(Confirm("Promote to paper?", body, choices), self._promote)

    @work(group="strategies.change", exit_on_error=False, name="promote")
    async def _promote(self, backtest_id: str | None) -> None:
        if backtest_id is not None:
            view = await self.engine.promote(backtest_id)
            self.notify(f"{view.id} promoted to paper")
            self.load(select=view.id)

    def action_deploy(self) -> None:
        if self._refused_while_waiting("deploying works"):
            return
        backtest = self.selected_backtest()
        if backtest is None:
            self.notify("no backtest selected", severity="warning")
            return
        if backtest.promoted_at is None:
            self.notify(
                "promote it first (p): deploying needs a promoted backtest", severity="warning"
            )
            return
        body = (
            f"Paper-trade {backtest.strategy} on {backtest.symbol} ({backtest.timeframe}) with "
            "the configured allocation? Its orders pass the risk guard like any other."
        )
        choices = [Choice("y", "Deploy", backtest.id, "warning")]
        self.app.push_screen(Confirm("Deploy to paper?", body, choices), self._deploy)

    @work(group="strategies.change", exit_on_error=False, name="deploy")
    async def _deploy(self, backtest_id: str | None) -> None:
        if backtest_id is not None:
            view = await self.engine.deploy(backtest_id)
            self.notify(f"deployed {view.name} with {fmt.money(view.allocation)}")
            self.load(select=backtest_id)

    def action_undeploy(self) -> None:
        if self._refused_while_waiting("undeploying works"):
            return
        table = self.query_one("#deployments", DataTable)
        if not table.row_count:
            self.notify("nothing is deployed", severity="warning")
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        deployment = next((d for d in self.deployments if d.name == name), None)
        if deployment is None:
            return
        if not deployment.active:
            self.notify(f"{deployment.name} is already stopped", severity="warning")
            return
        body = (
            f"Stop paper-trading {deployment.strategy} on {deployment.symbol} "
            f"({deployment.timeframe})? It places no new orders; what it bought stays in the "
            "book."
        )
        choices = [Choice("y", "Undeploy", deployment.name, "warning")]
        self.app.push_screen(Confirm("Undeploy?", body, choices), self._undeploy)

    @work(group="strategies.change", exit_on_error=False, name="undeploy")
    async def _undeploy(self, name: str | None) -> None:
        if name is None:
            return
        view = await self.engine.undeploy(name)
        self.notify(f"{view.name} stopped" if not view.active else f"{view.name} still active")
        self.load()

    def action_close(self) -> None:
        if self.running is not None:
            self.workers.cancel_group(self, "strategies.backtest")
            return
        self.app.pop_screen()
