"""The Lab: research sessions on a goal, streamed as they work, answered and approved here.

The sessions list and a new goal (with its model and budget) on the left; the selected
session on the right: its cost against its budget, what it waits on, its steps with the tool
results they cite folded beneath them, and its report with every traced figure a link to the
result it came from. Everything goes through the ``EngineAPI``, so it works attached.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.suggester import SuggestFromList
from textual.widgets import (
    DataTable,
    Footer,
    Input,
    Markdown,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
    Tree,
)
from textual.widgets.option_list import Option

from agents.tracing import UNTRACED_TAG, trace
from engine.api import EngineAPI, LabDetail, LabSessionView
from omc_tui.messages import LabChanged
from omc_tui.screens.confirm import Choice, Confirm

REFRESH_SECONDS = 0.3  # a streaming session is re-read at most this often
RESULT_LINES = 60  # a folded result shows this many lines; the result screen shows it all
# Models a user is likely to name; sessions' own models are offered too.
KNOWN_MODELS = (
    "none",
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "anthropic/claude-3-5-sonnet-latest",
    "anthropic/claude-3-5-haiku-latest",
    "gemini/gemini-1.5-flash",
    "ollama/llama3.1",
)
STATUS_STYLE = {
    "running": "yellow",
    "waiting": "bold cyan",
    "done": "green",
    "stopped": "red",
    "failed": "bold red",
    "cancelled": "dim",
}
_CITED = re.compile(r"\b(r\d+)\b")


class _Sessions(DataTable[Text]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="lab.down", tooltip="Next session"),
        Binding("k", "cursor_up", "Up", show=False, id="lab.up", tooltip="Previous session"),
    ]


class LabScreen(Screen[None]):
    """Research under human control: the Lab proposes; the user confirms, answers, approves."""

    DEFAULT_CSS = """
    LabScreen { layout: vertical; }
    LabScreen #lab-body { height: 1fr; }
    LabScreen #lab-side { width: 40; height: 100%; }
    LabScreen.-wide #lab-side { width: 52; }
    LabScreen #lab-main { width: 1fr; height: 100%; }
    LabScreen #lab-sessions { height: 1fr; border: round $primary-darken-2; }
    LabScreen #lab-sessions:focus { border: round $accent; }
    LabScreen #lab-new { height: auto; border: round $primary-darken-2; padding: 0 1; }
    LabScreen #lab-new:focus-within { border: round $accent; }
    LabScreen #lab-new Input { height: 1; border: none; padding: 0; background: $boost; }
    LabScreen #lab-new Input:focus { background: $panel-lighten-1; }
    LabScreen #lab-new .label { height: 1; color: $text-muted; }
    LabScreen #lab-meter { height: auto; padding: 0 1; background: $panel; }
    LabScreen #lab-waiting { height: auto; max-height: 8; padding: 0 1; display: none; }
    LabScreen #lab-waiting.-shown { display: block; border: round $accent; }
    LabScreen #lab-answer { height: 1; border: none; padding: 0 1; display: none; }
    LabScreen #lab-answer.-shown { display: block; background: $boost; }
    LabScreen #lab-tabs { height: 1fr; }
    LabScreen #lab-steps { height: 1fr; }
    LabScreen #lab-report-scroll { height: 1fr; }
    LabScreen.-narrow #lab-body { layout: vertical; }
    LabScreen.-narrow #lab-side { width: 100%; height: auto; }
    LabScreen.-narrow #lab-sessions { height: 5; }
    LabScreen.-narrow #lab-main { width: 100%; height: 1fr; }
    LabScreen.-narrow #lab-new { display: none; }
    LabScreen.-narrow #lab-new.-open { display: block; }
    LabScreen.-narrow #lab-new .label { display: none; }
    """
    BINDINGS = [
        Binding("n", "new", "New goal", id="lab.new", tooltip="Type a goal for a new session"),
        Binding("y", "yes", "Confirm", id="lab.yes", tooltip="Confirm the scope, or approve"),
        Binding("a", "answer", "Answer", id="lab.answer", tooltip="Answer, or change the scope"),
        Binding("r", "reject", "Reject", id="lab.reject", tooltip="Reject the proposal"),
        Binding("u", "resume", "Resume", id="lab.resume", tooltip="Resume a stopped session"),
        Binding("c", "cancel", "Cancel", id="lab.cancel", tooltip="Stop the session for good"),
        Binding("v", "view", "Steps/Report", id="lab.view", tooltip="Steps or the report"),
        Binding("o", "figures", "Figures", id="lab.figures", tooltip="Open a figure's result"),
        Binding("escape", "close", "Close", id="lab.close", tooltip="Leave a field, or close"),
    ]
    AUTO_FOCUS = "#lab-sessions"

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__()
        self.engine = engine
        self.sessions: list[LabSessionView] = []
        self.detail: LabDetail | None = None
        self.selected: str | None = None
        self.unavailable: str | None = None  # why the Lab cannot be used, when it cannot
        self._mode: str | None = None  # what the answer field is for: answer|reject|approve|budget
        self._shown_steps = 0  # steps of the selected session already in the tree
        self._shown_report: str | None = None
        self._dirty = False
        self._sessions_dirty = False
        self._defaults: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="lab-body"):
            with Vertical(id="lab-side"):
                yield _Sessions(id="lab-sessions", cursor_type="row")
                with Vertical(id="lab-new"):
                    yield Static("Goal (n)", classes="label")
                    yield Input(
                        placeholder="goal: an edge in ETH/AUD on 1h over 90 days?",
                        id="lab-goal",
                    )
                    yield Static("Model (none: rule-based)", classes="label")
                    yield Input(
                        placeholder="model: engine default",
                        id="lab-model",
                        suggester=SuggestFromList(KNOWN_MODELS, case_sensitive=False),
                    )
                    yield Static("Budget, USD", classes="label")
                    yield Input(placeholder="budget USD: engine default", id="lab-budget")
            with Vertical(id="lab-main"):
                yield Static(id="lab-meter")
                yield Static(id="lab-waiting")
                yield Input(id="lab-answer")
                with TabbedContent(id="lab-tabs"):
                    with TabPane("Steps", id="lab-steps-tab"):
                        yield Tree("steps", id="lab-steps")
                    with TabPane("Report", id="lab-report-tab"):
                        with VerticalScroll(id="lab-report-scroll"):
                            yield Markdown(id="lab-report", open_links=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#lab-sessions", DataTable)
        table.border_title = "Lab sessions"
        table.add_columns("Id", "Status", "Spent", "Goal")
        self.query_one("#lab-new").border_title = "New session"
        tree = self.query_one("#lab-steps", Tree)
        tree.show_root = False
        tree.guide_depth = 2
        self._paint_meter()
        self.set_interval(REFRESH_SECONDS, self._refresh_if_dirty)
        self.load()

    # -- loading -----------------------------------------------------------------------------

    @work(exclusive=True, group="lab.load", exit_on_error=False, name="load the Lab")
    async def load(self, select: str | None = None) -> None:
        try:
            self.sessions = await self.engine.lab_sessions()
        except Exception as exc:  # the Lab is down (trading is, say): said in its place
            self.unavailable = str(exc)
            self._paint_meter()
            return
        self.unavailable = None
        self._fill_sessions(select)
        if not self._defaults:
            self._defaults = await self.engine.lab_defaults()
            self._paint_defaults()
        await self._load_detail()

    def _paint_defaults(self) -> None:
        model = self._defaults.get("model") or "none"
        budget = self._defaults.get("budget")
        self.query_one("#lab-model", Input).placeholder = f"model: {model} (the engine's default)"
        self.query_one("#lab-budget", Input).placeholder = (
            f"budget: {budget} USD (the engine's default)"
            if budget is not None
            else "budget: no limit (the engine's default)"
        )
        models = [*KNOWN_MODELS, *(s.model for s in self.sessions if s.model)]
        self.query_one("#lab-model", Input).suggester = SuggestFromList(
            list(dict.fromkeys(models)), case_sensitive=False
        )

    def _fill_sessions(self, select: str | None = None) -> None:
        table = self.query_one("#lab-sessions", DataTable)
        keep = select or self.selected
        table.clear()
        for s in self.sessions:
            table.add_row(
                Text(s.id.removeprefix("lab-"), style="dim"),
                Text(s.status, style=STATUS_STYLE.get(s.status, "")),
                Text(f"${s.spent:.2f}", justify="right"),
                Text(s.goal, overflow="ellipsis", no_wrap=True),
                key=s.id,
            )
        if keep is not None and keep in {s.id for s in self.sessions}:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
            self.selected = keep
        elif self.sessions:
            self.selected = self.sessions[0].id
        table.border_subtitle = f"{len(self.sessions)}" if self.sessions else ""

    async def _load_detail(self) -> None:
        if self.selected is None:
            self.detail = None
            self._paint()
            return
        detail = await self.engine.lab_detail(self.selected)
        if detail.session.id != self.selected:
            return  # another session was picked while this one was read
        self.detail = detail
        self._paint()

    @on(DataTable.RowHighlighted, "#lab-sessions")
    def _session_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is None or key == self.selected:
            return
        self.selected = key
        self._reset_detail()
        self._show_detail()

    @work(exclusive=True, group="lab.detail", exit_on_error=False, name="read a Lab session")
    async def _show_detail(self) -> None:
        await self._load_detail()

    def _reset_detail(self) -> None:
        self.detail = None
        self._shown_steps = 0
        self._shown_report = None
        self.query_one("#lab-steps", Tree).clear()
        self.query_one("#lab-report", Markdown).update("")
        self._leave_answer()

    @on(LabChanged)
    def _lab_changed(self, message: LabChanged) -> None:
        event = message.event
        self._sessions_dirty = True
        if event.session == self.selected:
            self._dirty = True
            if event.what == "cost" and self.detail is not None:
                self._paint_meter(live=(event.spent, event.tokens))

    def _refresh_if_dirty(self) -> None:
        if self._sessions_dirty:
            self._sessions_dirty = False
            self._dirty = False
            self.load()
        elif self._dirty:
            self._dirty = False
            self._show_detail()

    # -- painting ----------------------------------------------------------------------------

    def _paint(self) -> None:
        self.refresh_bindings()  # the keys that apply follow what the session waits on
        self._paint_meter()
        self._paint_waiting()
        self._paint_steps()
        self._paint_report()

    def _paint_meter(self, live: tuple[Decimal | None, int] | None = None) -> None:
        meter = self.query_one("#lab-meter", Static)
        if self.unavailable is not None:
            meter.update(Text(f"the Lab is not available: {self.unavailable}", style="red"))
            return
        if self.detail is None:
            hint = "n types a goal; enter starts it" if not self.sessions else "reading…"
            meter.update(Text(hint, style="dim"))
            return
        meter.update(meter_text(self.detail.session, live))

    def _paint_waiting(self) -> None:
        panel = self.query_one("#lab-waiting", Static)
        view = self.detail.session if self.detail else None
        text = waiting_text(view) if view else None
        panel.set_class(text is not None, "-shown")
        if text is not None:
            panel.update(text)
        if self._mode is not None and not self._mode_applies(view):
            self._leave_answer()

    def _mode_applies(self, view: LabSessionView | None) -> bool:
        if view is None:
            return False
        kind = (view.waiting or {}).get("kind") if view.status == "waiting" else None
        return {
            "answer": kind in ("scope", "question"),
            "reject": kind == "proposal",
            "approve": kind == "proposal",
            "budget": view.status in ("stopped", "failed"),
        }.get(self._mode or "", False)

    def _paint_steps(self) -> None:
        assert self.detail is not None
        tree = self.query_one("#lab-steps", Tree)
        results = self.detail.results
        for step in self.detail.steps[self._shown_steps :]:
            if step.kind == "call":
                tree.root.add_leaf(Text.assemble(("  model ", "magenta"), (step.text, "dim")))
                continue
            label = Text.assemble((f"{step.node:>8} ", "bold cyan"), step.text)
            cited = [rid for rid in _CITED.findall(step.text) if rid in results]
            if not cited:
                tree.root.add_leaf(label)
                continue
            node = tree.root.add(label, expand=False)
            for rid in cited:
                add_result(node, rid, results[rid])
        self._shown_steps = len(self.detail.steps)
        if tree.cursor_line < 0 or tree.cursor_line >= tree.last_line - 1:
            tree.scroll_end(animate=False)  # follow the run unless the user has moved up

    def _paint_report(self) -> None:
        assert self.detail is not None
        report = self.detail.report
        if report == self._shown_report:
            return
        self._shown_report = report
        markdown = self.query_one("#lab-report", Markdown)
        if report is None:
            markdown.update("*No report yet: it is written once the study is done.*")
            return
        markdown.update(linked_report(report, self.detail.results))
        untraced = self.detail.session.untraced or 0
        tab = self.query_one("#lab-report-tab", TabPane)
        tab.border_subtitle = f"{untraced} untraced" if untraced else "every figure traced"

    # -- the answer field --------------------------------------------------------------------

    def _ask(self, mode: str, prompt: str, value: str = "") -> None:
        self._mode = mode
        field = self.query_one("#lab-answer", Input)
        field.placeholder = prompt
        field.value = value
        field.add_class("-shown")
        field.focus()

    def _leave_answer(self) -> None:
        self._mode = None
        field = self.query_one("#lab-answer", Input)
        field.remove_class("-shown")
        field.value = ""
        if self.focused is field:
            self.query_one("#lab-sessions").focus()

    @on(Input.Submitted, "#lab-answer")
    def _answered(self, event: Input.Submitted) -> None:
        event.stop()
        view = self._waiting_view()
        mode, text = self._mode, event.value.strip()
        if view is None or mode is None:
            self._leave_answer()
            return
        if mode == "answer":
            if not text:
                self.notify("type an answer, or a change such as '4h, 30 days'", severity="warning")
                return
            self._leave_answer()
            self._send(view.id, "answer", text)
        elif mode == "reject":
            self._leave_answer()
            self._send(view.id, "reject", text)
        elif mode == "approve":
            allocation = _amount(text) if text else None
            if text and (allocation is None or allocation <= 0):
                self.notify(f"an allocation is a positive amount, not {text!r}", severity="error")
                return
            self._leave_answer()
            self._send(view.id, "approve", allocation)
        elif mode == "budget":
            budget = _amount(text) if text else None
            if text and (budget is None or budget < 0):
                self.notify(f"a budget is an amount in USD, not {text!r}", severity="error")
                return
            self._leave_answer()
            self._send(view.id, "resume", budget)

    @work(group="lab.command", exit_on_error=False, name="Lab")
    async def _send(self, session: str, what: str, value: Any = None) -> None:
        engine = self.engine
        if what == "answer":
            await engine.lab_answer(session, value)
        elif what == "approve":
            view = await engine.lab_decide(session, True, allocation=value)
            self.notify(f"{view.id}: approved; it goes to paper through the gate")
        elif what == "reject":
            await engine.lab_decide(session, False, reason=value or "")
            self.notify(f"{session}: proposal rejected")
        elif what == "resume":
            await engine.lab_resume(session, budget=value)
        elif what == "cancel":
            await engine.lab_cancel(session)
            self.notify(f"{session} cancelled")
        self._sessions_dirty = True

    # -- actions -----------------------------------------------------------------------------

    def _waiting_view(self) -> LabSessionView | None:
        return self.detail.session if self.detail is not None else None

    def _waiting_kind(self) -> str | None:
        view = self._waiting_view()
        if view is None or view.status != "waiting":
            return None
        return (view.waiting or {}).get("kind")

    def action_new(self) -> None:
        self.query_one("#lab-new").add_class("-open")  # a narrow screen shows it only now
        self.query_one("#lab-goal", Input).focus()

    @on(Input.Submitted, "#lab-goal, #lab-model, #lab-budget")
    def _start(self, event: Input.Submitted) -> None:
        event.stop()
        goal = self.query_one("#lab-goal", Input).value.strip()
        if not goal:
            self.notify("type a goal first: what should the Lab research?", severity="warning")
            self.query_one("#lab-goal", Input).focus()
            return
        model = self.query_one("#lab-model", Input).value.strip() or None
        raw = self.query_one("#lab-budget", Input).value.strip()
        budget = _amount(raw) if raw else None
        if raw and (budget is None or budget < 0):
            self.notify(f"a budget is an amount in USD, not {raw!r}", severity="error")
            self.query_one("#lab-budget", Input).focus()
            return
        self._begin(goal, model, budget)

    @work(group="lab.command", exit_on_error=False, name="start a Lab session")
    async def _begin(self, goal: str, model: str | None, budget: Decimal | None) -> None:
        view = await self.engine.lab_start(goal, model=model, budget=budget)
        self.query_one("#lab-goal", Input).value = ""
        self.query_one("#lab-new").remove_class("-open")
        self.notify(f"{view.id} started: it asks to confirm its scope first")
        self.selected = view.id
        self._reset_detail()
        self.query_one("#lab-sessions").focus()
        self.load(select=view.id)

    def action_yes(self) -> None:
        kind = self._waiting_kind()
        view = self._waiting_view()
        if view is None or kind is None:
            self.notify("nothing to confirm: the session is not waiting", severity="warning")
        elif kind == "scope":
            self._send(view.id, "answer", "yes")
        elif kind == "proposal":
            # The default is said, not typed in: a typed-in value hid the prompt that says
            # what the field is for.
            default = self._defaults.get("allocation")
            with_default = f"enter approves with {default}, or type" if default else "type"
            self._ask(
                "approve",
                f"allocation to paper-trade it with: {with_default} an amount (esc does not)",
            )
        else:
            self.action_answer()

    def action_answer(self) -> None:
        kind = self._waiting_kind()
        if kind == "scope":
            self._ask("answer", "a change to the scope, e.g. '4h, 30 days, no catalysts'")
        elif kind == "question":
            self._ask("answer", "your answer")
        else:
            self.notify("the session asks nothing now", severity="warning")

    def action_reject(self) -> None:
        if self._waiting_kind() != "proposal":
            self.notify("no proposal waits on a decision", severity="warning")
            return
        self._ask("reject", "why not? (kept with the session; enter rejects)")

    def action_resume(self) -> None:
        view = self._waiting_view()
        if view is None or view.status not in ("stopped", "failed"):
            self.notify("only a stopped session resumes", severity="warning")
            return
        if view.budget is not None and view.spent >= view.budget:
            self._ask("budget", "a higher budget in USD (enter resumes)", str(view.budget * 2))
            return
        self._send(view.id, "resume")

    def action_cancel(self) -> None:
        view = self._waiting_view()
        if view is None or view.status in ("done", "cancelled"):
            self.notify("no session to cancel", severity="warning")
            return
        body = f"Stop {view.id} for good? What it found so far is kept.\n\n{view.goal}"
        choices = [Choice("y", "Cancel it", view.id, "error")]
        self.app.push_screen(
            Confirm("Cancel the session?", body, choices),
            lambda chosen: chosen and self._send(chosen, "cancel"),
        )

    def action_view(self) -> None:
        tabs = self.query_one("#lab-tabs", TabbedContent)
        steps = tabs.active == "lab-steps-tab"
        tabs.active = "lab-report-tab" if steps else "lab-steps-tab"
        if not steps:
            self.query_one("#lab-steps").focus()

    def action_figures(self) -> None:
        if self.detail is None or not self.detail.report:
            self.notify("no report yet", severity="warning")
            return
        figures = traced_figures(self.detail.report, self.detail.results)
        if not figures:
            self.notify("the report cites no results", severity="warning")
            return
        self.app.push_screen(FiguresScreen(figures), self._open_result)

    def _open_result(self, rid: str | None) -> None:
        if rid and self.detail is not None and rid in self.detail.results:
            self.app.push_screen(ResultScreen(rid, self.detail.results[rid]))

    @on(Markdown.LinkClicked, "#lab-report")
    def _link(self, event: Markdown.LinkClicked) -> None:
        self._open_result(event.href.removeprefix("#"))

    def action_close(self) -> None:
        if isinstance(self.focused, Input):
            if self.focused.id == "lab-answer":
                self._leave_answer()
            self.query_one("#lab-new").remove_class("-open")
            self.query_one("#lab-sessions").focus()
            return
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        kind = self._waiting_kind()
        view = self._waiting_view()
        if action == "yes":
            return kind in ("scope", "proposal")
        if action == "answer":
            return kind in ("scope", "question")
        if action == "reject":
            return kind == "proposal"
        if action == "resume":
            return view is not None and view.status in ("stopped", "failed")
        if action == "cancel":
            return view is not None and view.status not in ("done", "cancelled")
        if action == "figures":
            return self.detail is not None and bool(self.detail.report)
        return True


class FiguresScreen(ModalScreen[str | None]):
    """The report's traced figures: enter opens the tool result one came from."""

    DEFAULT_CSS = """
    FiguresScreen { align: center middle; }
    FiguresScreen OptionList {
        width: 90; max-width: 100%; height: auto; max-height: 80%;
        border: round $accent; background: $surface;
    }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="lab.figures.close")]

    def __init__(self, figures: list[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self._figures = figures

    def compose(self) -> ComposeResult:
        options = [
            Option(
                Text.assemble(
                    (f"{figure:>10}", "bold green"),
                    "  ",
                    (f"{rid:<4}", "cyan"),
                    f" {tool:<20} ",
                    (f"…{context}" if context else "", "dim"),
                    no_wrap=True,
                    overflow="ellipsis",
                ),
                str(index),
            )
            for index, (figure, rid, tool, context) in enumerate(self._figures)
        ]
        listing = OptionList(*options)
        listing.border_title = "Traced figures: enter opens the result"
        yield listing

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._figures[int(event.option.id or 0)][1])


class ResultScreen(ModalScreen[None]):
    """One tool result whole: the tool, what it was asked and what it returned."""

    DEFAULT_CSS = """
    ResultScreen { align: center middle; }
    ResultScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="lab.result.close")]

    def __init__(self, rid: str, result: dict[str, Any]) -> None:
        super().__init__()
        self._rid = rid
        self._result = result

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"{self._rid} · {self._result.get('tool', '?')}"
            scroll.border_subtitle = "esc closes"
            yield Static(
                Text.assemble(
                    ("asked ", "bold"),
                    _json(self._result.get("args")),
                    ("\n\nreturned\n", "bold"),
                    _json(self._result.get("result")),
                )
            )


# -- what the screen shows, as plain functions (tested on their own) ---------------------------


def meter_text(view: LabSessionView, live: tuple[Decimal | None, int] | None = None) -> Text:
    """The session's cost against its budget: model, calls, tokens, dollars and a bar."""
    spent = view.spent
    tokens = view.prompt_tokens + view.completion_tokens
    if live is not None:
        spent = live[0] if live[0] is not None else spent
        tokens = max(tokens, live[1])
    text = Text.assemble(
        (view.id, "bold"),
        "  ",
        (view.status, STATUS_STYLE.get(view.status, "")),
        "  ",
        (view.model or "no model: rule-based planner, templated report", "magenta"),
    )
    if view.model:
        text.append(f"  {view.calls} calls · {tokens:,} tokens · ")
        text.append(f"${spent:.4f}", style="bold")
        if view.unpriced_calls:
            text.append(f" (+{view.unpriced_calls} at an unknown price)", style="yellow")
    if not view.model:
        return text  # nothing is spent without a model
    if view.budget is not None:
        share = float(spent / view.budget) if view.budget > 0 else 1.0
        width = 12
        filled = min(width, round(share * width))
        style = "red" if share >= 1 else "yellow" if share >= 0.8 else "green"
        text.append(f"  of ${view.budget:.2f} ")
        text.append("█" * filled, style=style)
        text.append("░" * (width - filled), style="dim")
    else:
        text.append("  no budget limit", style="dim")
    return text


def waiting_text(view: LabSessionView) -> Text | None:
    """What the session waits on and the keys that answer it; why it stopped, if it did."""
    waiting = view.waiting or {}
    if view.status == "waiting":
        kind = waiting.get("kind")
        keys = {
            "scope": "y confirms · a changes it · c cancels",
            "question": "a answers · c cancels",
            "proposal": "y approves (to paper, through the gate) · r rejects",
        }.get(kind or "", "a answers")
        return Text.assemble(
            (f"{kind or 'waiting'}: ", "bold cyan"),
            str(waiting.get("text", "")),
            "\n",
            (keys, "dim"),
        )
    if view.status in ("stopped", "failed"):
        return Text.assemble(
            (f"{view.status}: ", "bold red"), view.error or "", "\n", ("u resumes", "dim")
        )
    if view.status == "done" and view.decision:
        decision = view.decision.get("decision", "")
        return Text.assemble(("decided: ", "bold"), decision)
    return None


def add_result(node: Any, rid: str, result: dict[str, Any]) -> None:
    """A tool result folded under the step that cites it: the tool and its args, then what it
    returned, a line per leaf."""
    args = result.get("args") or {}
    head = Text.assemble(
        (rid, "cyan"), " ", (result.get("tool", "?"), "bold"), " ", (_compact(args), "dim")
    )
    child = node.add(head, expand=False, data=rid)
    lines = _json(result.get("result")).plain.splitlines()
    for line in lines[:RESULT_LINES]:
        child.add_leaf(Text(line, style="dim"))
    if len(lines) > RESULT_LINES:
        child.add_leaf(Text(f"… {len(lines) - RESULT_LINES} more lines (o opens it whole)"))


def linked_report(report: str, results: dict[str, Any]) -> str:
    """The report for the screen: each traced figure a link to its result, untraced ones
    flagged loudly. Figures in code stay as they are."""
    values = {rid: {"args": r.get("args"), "result": r.get("result")} for rid, r in results.items()}
    traced = trace(report, values)
    code = _code_spans(report)
    pieces: list[str] = []
    at = 0
    for t in sorted(traced.traces, key=lambda t: t.figure.start):
        figure = t.figure
        if t.result_id is None or not figure.citations or _inside(code, figure.start):
            continue
        pieces += [report[at : figure.start], f"[{figure.text}](#{t.result_id})"]
        at = figure.end
    pieces.append(report[at:])
    return "".join(pieces).replace(UNTRACED_TAG, f"**{UNTRACED_TAG}**")


def traced_figures(report: str, results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure as written, result id, tool, the words around it) of every cited figure that
    traced, in the report's order."""
    values = {rid: {"args": r.get("args"), "result": r.get("result")} for rid, r in results.items()}
    found = []
    for t in trace(report, values).traces:
        figure = t.figure
        if t.result_id is None or not figure.citations:
            continue
        line_start = report.rfind("\n", 0, figure.start) + 1
        before = report[max(line_start, figure.start - 40) : figure.start]
        context = re.sub(r"\s*\[r\d+\]", "", before).strip(" *|-•#(").strip()[-32:]
        tool = str(results[t.result_id].get("tool", ""))
        found.append((figure.text, t.result_id, tool, context))
    return found


def _code_spans(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in re.finditer(r"^```.*?^```", text, re.S | re.M)]
    spans += [m.span() for m in re.finditer(r"`[^`\n]+`", text)]
    return spans


def _inside(spans: list[tuple[int, int]], position: int) -> bool:
    return any(a <= position < b for a, b in spans)


def _json(value: Any) -> Text:
    return Text(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _compact(args: Any) -> str:
    text = json.dumps(args, default=str, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= 60 else text[:59] + "…"


def _amount(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
