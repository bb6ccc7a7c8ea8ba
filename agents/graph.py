"""The Lab's graph: plan → scope → retrieve → analyse → train → evaluate → report → propose.

State holds ids and small results, never rows: each node asks the port again for what it
reads (the period is fixed when the scope is confirmed, so it reads the same rows on a
resume). The user is asked three times at most, each an ``interrupt``: to confirm the scope,
to answer a question when the goal names nothing researchable, and to approve or reject a
proposal. A result's id is given from a counter in the state, so a node that runs again
after a crash records the same ids and nothing twice. The studies run in a worker thread: on
a year of bars they take tenths of a second, which the engine's event loop owes the desk.
"""

from __future__ import annotations

import asyncio
import json
import operator
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypedDict

from agents import studies
from agents.models import BudgetExceeded, LanguageModel, Meter, NoModel
from agents.narrative import write_report
from agents.port import BacktestSpec, LabPort
from agents.scope import Scope, ScopeError, amend, read_scope
from ledgers.timeframes import seconds

MAX_STEPS = 12  # port calls one node may make
RECURSION_LIMIT = 40  # graph steps a run may take (seven nodes, a few questions)
CANDIDATE_RULES: tuple[tuple[str, dict[str, str]], ...] = (
    ("ma_cross", {"fast": "10", "slow": "30"}),
    ("ma_cross", {"fast": "20", "slow": "50"}),
    ("rsi", {}),
    ("breakout", {}),
)


class NoBars(ValueError):
    """The scope's market has no bars in its period: there is nothing to study."""


class StepLimit(RuntimeError):
    """A node asked the port more than ``MAX_STEPS`` times."""


class LabState(TypedDict, total=False):
    goal: str
    started: str  # ISO: when the run began; the scope's period ends at the bar forming then
    draft: dict[str, Any] | None  # the scope as read, before the user confirms it
    scope: dict[str, Any]
    next_id: int
    results: Annotated[dict[str, dict[str, Any]], operator.or_]  # id → {tool, args, result}
    notes: Annotated[list[str], operator.add]  # what the run said as it went
    candidate: dict[str, Any] | None  # the strategy the run proposes, with its backtest id
    report: str
    untraced: int
    decision: dict[str, Any] | None


@dataclass
class Runtime:
    """What the nodes use and the state does not hold: the port, the model, the meter."""

    port: LabPort
    model: LanguageModel = field(default_factory=NoModel)
    meter: Meter = field(default_factory=Meter)
    fee_bps: float = 10.0
    session: str = ""  # the session's id: names what the run keeps outside the graph
    on_result: Callable[[str, str, dict[str, Any], Any], Awaitable[None]] | None = None
    on_step: Callable[[str, str], Awaitable[None]] | None = None
    on_call: Callable[[str, Any], Awaitable[None]] | None = None  # (node, Completion): audit
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)


class _Recorder:
    """Gives a node's results their ids and hands them to the session's store."""

    def __init__(self, runtime: Runtime, state: LabState, node: str) -> None:
        self.runtime = runtime
        self.node = node
        self.next_id = state.get("next_id", 1)
        self.results: dict[str, dict[str, Any]] = {}
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise StepLimit(f"{self.node} made more than {MAX_STEPS} calls; stopped")

    async def record(self, tool: str, args: dict[str, Any], result: Any) -> str:
        result_id = f"r{self.next_id}"
        self.next_id += 1
        self.results[result_id] = {"tool": tool, "args": args, "result": result}
        if self.runtime.on_result is not None:
            await self.runtime.on_result(result_id, tool, args, result)
        return result_id

    def update(self, **extra: Any) -> dict[str, Any]:
        return {"next_id": self.next_id, "results": self.results, **extra}


async def _say(runtime: Runtime, node: str, text: str) -> None:
    if runtime.on_step is not None:
        await runtime.on_step(node, text)


def _scope(state: LabState) -> Scope:
    return Scope.from_json(state["scope"])


async def _read(
    runtime: Runtime, rec: _Recorder, key: tuple[Any, ...], read: Callable[[], Awaitable[Any]]
) -> Any:
    """What the port returned for ``key`` in this run: asked once, so each node that needs the
    scope's rows reads them without the port fetching and converting them again."""
    if key not in runtime.cache:
        rec.step()
        runtime.cache[key] = await read()
    return runtime.cache[key]


async def _candles(runtime: Runtime, rec: _Recorder, scope: Scope) -> Any:
    since, until = scope.window()
    key = ("candles", scope.symbol, scope.timeframe, since, until)
    return await _read(
        runtime, rec, key, lambda: runtime.port.candles(scope.symbol, scope.timeframe, since, until)
    )


async def _human(runtime: Runtime, rec: _Recorder, scope: Scope) -> Any:
    since, until = scope.window()
    key = ("human", scope.base, since, until)
    return await _read(runtime, rec, key, lambda: runtime.port.human(scope.base, since, until))


async def _catalysts(runtime: Runtime, rec: _Recorder, scope: Scope) -> Any:
    since, until = scope.window()
    key = ("catalysts", scope.base, since, until)
    return await _read(runtime, rec, key, lambda: runtime.port.catalysts(scope.base, since, until))


_SCOPE_TOOL = {
    "type": "function",
    "function": {
        "name": "set_scope",
        "description": "The market, bar size, period and ledgers the goal asks to research.",
        "parameters": {
            "type": "object",
            "properties": {
                "symbol": {"type": "string", "description": "e.g. ETH/AUD"},
                "timeframe": {"type": "string", "enum": ["1m", "5m", "15m", "1h", "4h", "1d"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 3650},
                "sentiment": {"type": "boolean"},
                "catalysts": {"type": "boolean"},
            },
            "required": ["symbol", "timeframe", "days"],
        },
    },
}


async def _model_scope(runtime: Runtime, goal: str, scope: Scope, symbols: list[str]) -> Scope:
    """The model's reading of the goal, checked like a user's change; the rule's reading
    stands when the model's cannot be used (and the run says why)."""
    from agents.models import ModelError

    messages = [
        {
            "role": "system",
            "content": "Read a trader's research goal into a scope. Listed symbols: "
            + ", ".join(symbols[:40])
            + f". When the goal does not say, keep: {json.dumps(scope.to_json())}.",
        },
        {"role": "user", "content": goal},
    ]
    try:
        done = await runtime.model.complete(messages, tools=[_SCOPE_TOOL], tool_choice="required")
    except ModelError as exc:
        await _say(runtime, "scope", f"the model could not read the goal ({exc}); read by rule")
        return scope
    if runtime.on_call is not None:
        await runtime.on_call("scope", done)
    call = next((c for c in done.tool_calls if c.name == "set_scope"), None)
    if call is None or call.arguments is None:
        await _say(runtime, "scope", "the model gave no usable scope; read by rule")
        return scope
    try:
        return amend(scope, call.arguments, symbols)
    except ScopeError as exc:
        await _say(runtime, "scope", f"the model's scope was refused ({exc}); read by rule")
        return scope


async def _train(runtime: Runtime, candles: Any) -> tuple[dict[str, Any], dict[str, float]]:
    return await asyncio.to_thread(studies.train, candles, fee_bps=runtime.fee_bps)


def _strategy(candidate: Mapping[str, Any]) -> str:
    params = ", ".join(f"{k} {v}" for k, v in candidate["params"].items())
    return f"{candidate['strategy']} ({params or 'defaults'})"


def build(runtime: Runtime) -> Any:
    """The graph, compiled by the caller with its checkpointer."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def guard() -> None:
        runtime.meter.check()  # BudgetExceeded stops the run before the node does anything

    async def plan_node(state: LabState) -> dict[str, Any]:
        """Read the goal into a draft scope (the model's reading, checked, when there is one);
        a node of its own, so confirming the scope never calls the model again."""
        guard()
        now = datetime.fromisoformat(state["started"])
        symbols = list(runtime.port.symbols())
        try:
            scope = read_scope(state["goal"], symbols, now)
        except ScopeError as exc:
            return {"draft": None, "notes": [str(exc)]}
        if runtime.model.available:
            scope = await _model_scope(runtime, state["goal"], scope, symbols)
        return {"draft": scope.to_json()}

    async def scope_node(state: LabState) -> dict[str, Any]:
        rec = _Recorder(runtime, state, "scope")
        symbols = list(runtime.port.symbols())
        if state.get("draft") is None:
            now = datetime.fromisoformat(state["started"])
            answer = interrupt({"kind": "question", "text": "Which symbol should I study?"})
            scope = read_scope(f"{state['goal']} {answer}", symbols, now)
        else:
            scope = Scope.from_json(state["draft"])  # type: ignore[arg-type]
        while True:
            answer = interrupt(
                {"kind": "scope", "text": f"Research {scope.describe()}?", "scope": scope.to_json()}
            )
            if answer in (None, True, "", "yes", "y", "ok"):
                break
            try:
                scope = amend(scope, answer, symbols)
            except ScopeError as exc:
                await _say(runtime, "scope", str(exc))
        result_id = await rec.record("scope", {"goal": state["goal"]}, scope.to_json())
        await _say(runtime, "scope", f"scope {result_id}: {scope.describe()}")
        return rec.update(scope=scope.to_json())

    async def retrieve_node(state: LabState) -> dict[str, Any]:
        guard()
        rec = _Recorder(runtime, state, "retrieve")
        scope = _scope(state)
        since, until = scope.window()
        window = {"since": since.isoformat(), "until": until.isoformat()}
        candles = await _candles(runtime, rec, scope)
        if not candles:  # nothing to study: said plainly, not as a failed backtest later
            raise NoBars(
                f"no {scope.timeframe} bars of {scope.symbol} from {runtime.port.venue} over "
                f"the last {scope.days} days: the engine keeps them as it runs (and backfills "
                "where the venue serves history); the simulated market (--sim) has them now"
            )
        args = {"symbol": scope.symbol, "timeframe": scope.timeframe, **window}
        found = await rec.record("candles", args, studies.market_summary(candles))
        await _say(runtime, "retrieve", f"{len(candles):,} {scope.timeframe} bars ({found})")
        if scope.sentiment:
            items = await _human(runtime, rec, scope)
            found = await rec.record(
                "human", {"currency": scope.base, **window}, studies.human_summary(items)
            )
            await _say(runtime, "retrieve", f"{len(items):,} news and social items ({found})")
        if scope.catalysts:
            events = await _catalysts(runtime, rec, scope)
            found = await rec.record(
                "catalysts", {"currency": scope.base, **window}, studies.catalyst_summary(events)
            )
            await _say(runtime, "retrieve", f"{len(events):,} catalysts ({found})")
        rec.step()
        await rec.record("ledger_stats", {}, dict(await runtime.port.ledger_stats()))
        return rec.update()

    async def analyse_node(state: LabState) -> dict[str, Any]:
        guard()
        rec = _Recorder(runtime, state, "analyse")
        scope = _scope(state)
        candles = await _candles(runtime, rec, scope)
        per_year = 365 * 86400 / seconds(scope.timeframe)
        try:
            found = await asyncio.to_thread(studies.indicators, candles, per_year)
        except studies.NotEnoughData as exc:
            await _say(runtime, "analyse", f"no indicators: {exc}")
            return rec.update(notes=[f"indicators skipped: {exc}"])
        result_id = await rec.record("indicators", {"symbol": scope.symbol}, found)
        await _say(runtime, "analyse", f"RSI, MACD, Bollinger bands, volatility ({result_id})")
        if scope.sentiment:
            items = await _human(runtime, rec, scope)
            aligned = await asyncio.to_thread(studies.sentiment, candles, items)
            result_id = await rec.record("sentiment_alignment", {"currency": scope.base}, aligned)
            await _say(runtime, "analyse", f"sentiment against forward returns ({result_id})")
        if scope.catalysts:
            events = await _catalysts(runtime, rec, scope)
            if events:
                study = await asyncio.to_thread(studies.catalysts, candles, events)
                result_id = await rec.record("event_study", {"currency": scope.base}, study)
                await _say(runtime, "analyse", f"event study ({result_id})")
        return rec.update()

    async def train_node(state: LabState) -> dict[str, Any]:
        guard()
        rec = _Recorder(runtime, state, "train")
        scope = _scope(state)
        candles = await _candles(runtime, rec, scope)
        try:
            summary, signal = await _train(runtime, candles)
        except (studies.NotEnoughData, ValueError) as exc:
            await _say(runtime, "train", f"no training: {exc}")
            return rec.update(notes=[f"training skipped: {exc}"])
        runtime.cache[("signal", scope.symbol)] = signal
        result_id = await rec.record("train", {"symbol": scope.symbol}, summary)
        verdict = "beats" if summary["beats_baseline"] else "does not beat"
        await _say(
            runtime, "train", f"{summary['best_candidate']} {verdict} the baselines ({result_id})"
        )
        return rec.update()

    async def evaluate_node(state: LabState) -> dict[str, Any]:
        guard()
        rec = _Recorder(runtime, state, "evaluate")
        scope = _scope(state)
        since, until = scope.window()
        signal = runtime.cache.get(("signal", scope.symbol))
        trained = any(r["tool"] == "train" for r in state.get("results", {}).values())
        if signal is None and trained:  # resumed after a restart: train again, same data
            _, signal = await _train(runtime, await _candles(runtime, rec, scope))
        window = (scope.symbol, scope.timeframe, since, until)
        specs = [BacktestSpec(*window, signal=signal or {}, key=f"{runtime.session}:signal")]
        specs += [
            BacktestSpec(*window, strategy=name, params=params, key=f"{runtime.session}:{i}")
            for i, (name, params) in enumerate(CANDIDATE_RULES)
        ]
        best: dict[str, Any] | None = None
        for spec in specs:
            if spec.strategy == "signal" and not spec.signal:
                continue
            label = "the model's signal" if spec.strategy == "signal" else spec.strategy
            rec.step()
            try:
                found = dict(await runtime.port.backtest(spec))
            except ValueError as exc:
                await _say(runtime, "evaluate", f"{label}: {exc}")
                continue
            args = {"strategy": spec.strategy, "params": dict(spec.params), "symbol": spec.symbol}
            result_id = await rec.record("backtest", args, found)
            passed = "passes" if found.get("gate_passed") else "fails"
            await _say(runtime, "evaluate", f"{label} {passed} the gate ({result_id})")
            deployable = spec.strategy != "signal"  # a signal cannot trade live bars
            if found.get("gate_passed") and deployable:
                if best is None or (found.get("sharpe") or 0) > best["sharpe"]:
                    best = {**args, "result": result_id, "sharpe": found.get("sharpe") or 0}
                    best["backtest_id"] = found.get("id")
        return rec.update(candidate=best)

    async def report_node(state: LabState) -> dict[str, Any]:
        guard()
        scope = _scope(state)
        report, untraced = await write_report(
            runtime.model,
            runtime.meter,
            state["goal"],
            scope,
            state.get("results", {}),
            state.get("candidate"),
            on_call=(lambda done: runtime.on_call("report", done)) if runtime.on_call else None,
        )
        await _say(runtime, "report", f"report written; {untraced} untraced figures")
        return {"report": report, "untraced": untraced}

    async def propose_node(state: LabState) -> dict[str, Any]:
        candidate = state.get("candidate")
        if candidate is None:
            return {"decision": None}
        answer = interrupt(
            {
                "kind": "proposal",
                "text": f"Paper-trade {_strategy(candidate)} on {candidate['symbol']} "
                f"({candidate['result']})?",
                "candidate": candidate,
            }
        )
        decision = answer if isinstance(answer, Mapping) else {"decision": str(answer)}
        return {"decision": dict(decision)}

    graph = StateGraph(LabState)
    nodes = [
        ("plan", plan_node),
        ("scope", scope_node),
        ("retrieve", retrieve_node),
        ("analyse", analyse_node),
        ("train", train_node),
        ("evaluate", evaluate_node),
        ("report", report_node),
        ("propose", propose_node),
    ]
    for name, fn in nodes:
        graph.add_node(name, fn)
    graph.add_edge(START, "plan")
    for (a, _), (b, _) in zip(nodes, nodes[1:], strict=False):
        graph.add_edge(a, b)
    graph.add_edge("propose", END)
    return graph


__all__ = ["RECURSION_LIMIT", "BudgetExceeded", "LabState", "Runtime", "StepLimit", "build"]
