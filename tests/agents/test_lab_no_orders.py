"""Agents never reach a broker (DESIGN §7): the port has no order method, no code the graph
runs names a way to one, and a whole session on the simulated market, approval included,
places no order; the approved strategy trades later, through its deployment, like anyone's.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import dataclasses
import inspect
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agents.port import LabPort
from engine import config
from engine.api import LabSessionView
from engine.lab_port import EnginePort
from engine.local import LocalEngine
from engine.trading.commands import TradingCommands
from engine.trading.host import TradingHost
from engine.trading.model import Origin
from engine.trading.paper import PaperBroker
from engine.trading.trader import Trader
from ledgers.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
GOAL = "ETH/AUD 1h over 90 days, no sentiment, no catalysts"  # a stretch where a rule passes
START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


async def settled(engine: LocalEngine, session: str, *statuses: str) -> LabSessionView:
    async with asyncio.timeout(120):
        while (view := await engine.lab_detail(session)).session.status not in statuses:  # noqa: ASYNC110 - the run's task moves it
            await asyncio.sleep(0.05)
    return view.session


# -- agents never reach a broker: what the code says ------------------------------------------

# Words that, in a method's name, would mean it trades: place_order, cancel_all, submit, amend…
TRADING_WORDS = {
    "place", "cancel", "submit", "amend", "modify", "replace", "order", "orders", "buy", "sell",
    "trade", "execute", "deploy", "undeploy", "promote", "kill", "arm", "disarm", "liquidate",
    "broker", "trader", "trading",
}  # fmt: skip
# What no code the graph runs may name: the engine's order paths and what holds them.
ORDER_PATHS = {
    "place_order", "cancel_order", "cancel_all_orders", "submit_order", "set_kill_switch",
    "arm_live", "disarm_live", "place", "submit", "cancel_all", "broker", "trader",
    "trading_host", "_host", "TradingHost", "Trader", "PaperBroker", "LiveTrader", "promote",
    "deploy", "run_deployments", "OrderRequest",
}  # fmt: skip
# Ways around a name check: frames, closures and globals, and attributes named at run time.
ESCAPE_ATTRS = {
    "__closure__", "__globals__", "__self__", "__func__", "__code__", "__dict__", "__builtins__",
    "f_back", "f_globals", "f_locals", "gi_frame", "cr_frame", "tb_frame", "attrgetter",
    "methodcaller",
}  # fmt: skip
ESCAPE_CALLS = {"vars", "eval", "exec", "compile", "__import__", "setattr", "delattr", "globals"}
ESCAPE_MODULES = {"gc", "inspect", "sys", "ctypes", "importlib", "builtins", "engine", "ccxt"}


def _trades(name: str) -> bool:
    return bool(set(name.lower().split("_")) & TRADING_WORDS)


def _public(cls: type) -> set[str]:
    names = {n for n in dir(cls) if not n.startswith("_")}
    return names | {n for n in getattr(cls, "__annotations__", {}) if not n.startswith("_")}


def test_the_port_offers_no_way_to_trade() -> None:
    offered = _public(LabPort)
    assert {"book", "backtest", "candles", "venue"} <= offered  # the check sees the methods
    assert sorted(n for n in offered if _trades(n)) == []
    # The engine's side offers nothing the protocol does not: no extra door.
    assert _public(EnginePort) == offered


def _sources(*paths: Path) -> list[tuple[Path, ast.Module]]:
    found = []
    for path in paths:
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            found.append((file, ast.parse(file.read_text(), str(file))))
    return found


def _names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every identifier a module uses: names, attributes, definitions, keywords, imports, and
    text handed to getattr/hasattr."""
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, node.name
        elif isinstance(node, ast.keyword) and node.arg:
            yield line, node.arg
        elif isinstance(node, ast.alias):
            yield line, node.name.rpartition(".")[2]
            yield line, node.name.partition(".")[0]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
        ):
            yield line, str(node.args[1].value)


def test_no_code_of_the_agents_names_a_way_to_an_order() -> None:
    """The graph holds the port, the model, the meter and its callbacks: it reaches the engine
    only through the port's public methods, and names no order path at all."""
    trees = _sources(ROOT / "agents")
    assert len(trees) >= 10 and any(p.name == "graph.py" for p, _ in trees)
    named = [(p, line, n) for p, tree in trees for line, n in _names(tree)]
    assert any(n == "backtest" for _, _, n in named)  # the walk sees calls on the port
    bad = [f"{p.relative_to(ROOT)}:{line} {n}" for p, line, n in named if n in ORDER_PATHS]
    bad += [f"{p.relative_to(ROOT)}:{line} {n}" for p, line, n in named if n in ESCAPE_ATTRS]
    for path, tree in trees:
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                bad += [
                    f"{where}:{node.lineno} imports {m}"
                    for m in modules
                    if m.partition(".")[0] in ESCAPE_MODULES
                ]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in ESCAPE_CALLS:
                    bad.append(f"{where}:{node.lineno} calls {node.func.id}")
            # A private attribute of anything but itself: how a port's engine would be reached.
            # (``_mapping`` is SQLAlchemy's public name for a row as a mapping.)
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr != "_mapping"
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                bad.append(f"{where}:{node.lineno} reads .{node.attr}")
            # An attribute named at run time, on anything but itself.
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) > 1
                and not isinstance(node.args[1], ast.Constant)
                and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "self")
            ):
                bad.append(f"{where}:{node.lineno} getattr with a computed name")
    assert bad == []


def _chain(node: ast.AST) -> str | None:
    """``self._engine._host().trader.book`` for an expression of names, attributes, calls and
    awaits; None for anything else."""
    if isinstance(node, ast.Await):
        return _chain(node.value)
    if isinstance(node, ast.Call):
        inner = _chain(node.func)
        return None if inner is None else inner + "()"
    if isinstance(node, ast.Attribute):
        inner = _chain(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return None


def _engine_uses(function: ast.AST, held: str = "self._engine") -> list[tuple[int, str]]:
    """What a method does with what it holds (the engine, by default): each use of ``held``,
    followed through local names, as a full chain; one given a name ends in ``=``
    (``host = await self._engine._host()`` is ``self._engine._host()=``)."""
    parents = {child: node for node in ast.walk(function) for child in ast.iter_child_nodes(node)}
    aliases: dict[str, str] = {}

    def expand(chain: str) -> str:
        head, dot, rest = chain.partition(".")
        head, paren, after = head.partition("(")
        if head in aliases:
            return aliases[head] + paren + after + dot + rest
        return chain

    def continues(node: ast.AST) -> bool:
        parent = parents.get(node)
        return (
            (isinstance(parent, ast.Attribute) and parent.value is node)
            or (isinstance(parent, ast.Call) and parent.func is node)
            or (isinstance(parent, ast.Await) and parent.value is node)
        )

    uses = []
    for node in sorted(
        (n for n in ast.walk(function) if isinstance(n, ast.expr)),
        key=lambda n: (n.lineno, n.col_offset),
    ):
        if continues(node) or isinstance(getattr(node, "ctx", None), ast.Store | ast.Del):
            continue
        chain = _chain(node)
        if chain is None:
            continue
        full = expand(chain)
        if not full.startswith(held):
            continue
        parent = parents.get(node)
        named = (
            isinstance(parent, ast.Assign)
            and len(parent.targets) == 1
            and isinstance(parent.targets[0], ast.Name)
        )
        if named:
            aliases[parent.targets[0].id] = full  # type: ignore[union-attr]
        uses.append((node.lineno, full + "=" if named else full))
    return uses


# What the port's context in the engine may do with the engine it holds (and read what comes
# back); besides these it reads the feed, which is market data.
ENGINE_USES = {
    "self._engine._db()",
    "self._engine._host().trader.mark_now()",
    "self._engine._host().trader.book",
    "self._engine._host().trader.positions()",
    "self._engine._host().research",  # handed to the port, which only backtests with it
}
# What the port may do with its context (the engine's, or the Lab worker's).
CONTEXT_USES = {
    "self._context.venue",
    "self._context.simulated",
    "self._context.source",
    "self._context.symbols()",
    "self._context.db()",
    "self._context.fetch()",
    "self._context.book()",
    "self._context.research().backtest()",
    "self._context.research().backtest_signal()",
}


def _may(use: str, allowed: set[str] = ENGINE_USES, feed: str = "self._engine.feed") -> bool:
    """A use the port may make: a listed one or what it returns; on the way to one, a name
    for part of it (``host = …_host()``); anything of the feed that does not trade."""
    if use.startswith(feed):
        return not _trades(use.replace(".", "_").replace("()", "").rstrip("="))
    if use.endswith("="):
        part = use.removesuffix("=")
        return any(ok == part or ok.startswith(part + ".") for ok in allowed) or _may(
            part, allowed, feed
        )
    return any(use == ok or use.startswith(ok + ".") for ok in allowed)


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    (found,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
    return found


def _held(cls: ast.ClassDef) -> tuple[ast.AST, set[str]]:
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    held = {
        t.attr
        for n in ast.walk(init)
        if isinstance(n, ast.Assign | ast.AnnAssign)
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
        if isinstance(t, ast.Attribute)
    }
    return init, held


def _uses(cls: ast.ClassDef, init: ast.AST, held: str) -> list[tuple[int, str]]:
    return [
        (line, use)
        for method in cls.body
        if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef) and method is not init
        for line, use in _engine_uses(method, held)
    ]


def test_the_engines_port_uses_the_engine_only_to_read_and_backtest() -> None:
    """``EngineContext`` holds the whole engine (place_order and all), so what it and the port
    over it do with it is read from their code: every use is one of a short list, none of
    which trades."""
    path = ROOT / "engine" / "lab_port.py"
    tree = ast.parse(path.read_text(), str(path))
    context = _class(tree, "EngineContext")
    init, held = _held(context)
    assert held == {"_engine"}
    uses = _uses(context, init, "self._engine")
    assert ("self._engine._host().trader.book" in {u for _, u in uses}) and len(uses) >= 6
    bad = [f"engine/lab_port.py:{line} {use}" for line, use in uses if not _may(use)]
    assert bad == []

    port = _class(tree, "EnginePort")
    init, held = _held(port)
    assert held == {"_context", "_filled"}
    uses = _uses(port, init, "self._context")
    assert "self._context.research().backtest().id" in {u for _, u in uses} and len(uses) >= 8
    bad = [
        f"engine/lab_port.py:{line} {use}"
        for line, use in uses
        if not _may(use, CONTEXT_USES, "self._context.source")
    ]
    assert bad == []
    named = {n for _, n in _names(port)}
    assert not named & ORDER_PATHS
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert "agents.port" in imported
    assert sorted(m for m in imported if m.startswith(("engine.trading", "ccxt"))) == []


def test_the_lab_worker_asks_the_engine_only_for_the_book_and_history() -> None:
    """The graph runs in the Lab's worker, which holds no trader: its research service sees
    fees only, and all it may ask of the engine is the book (read) and a venue's history
    (fetched and kept), each answered there through the engine's port."""
    from engine.lab_worker import _FeesOnly

    path = ROOT / "engine" / "lab_worker.py"
    tree = ast.parse(path.read_text(), str(path))
    asked = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _chain(node.func) == "self._worker.call"
        and isinstance(node.args[0], ast.Constant)
    }
    assert asked == {"book", "fetch"}
    assert sorted(n for n in _public(_FeesOnly) if _trades(n)) == []
    worker = _class(tree, "LabWorker")
    assert not {n for _, n in _names(worker)} & (ORDER_PATHS - {"trader"})

    path = ROOT / "engine" / "lab.py"
    tree = ast.parse(path.read_text(), str(path))
    host = _class(tree, "LabHost")
    (answer,) = [n for n in host.body if getattr(n, "name", "") == "_answer_call"]
    used = {u for _, u in _engine_uses(answer, "self.port")}
    assert {u.rstrip("=") for u in used} == {"self.port.book()", "self.port.candles()"}
    assert not {n for _, n in _names(answer)} & ORDER_PATHS


def test_the_chain_reader_sees_a_way_to_an_order() -> None:
    """The reader above would catch a port method that reached for an order."""
    method = ast.parse(
        "async def sneaky(self):\n"
        "    host = await self._engine._host()\n"
        "    trader = host.trader\n"
        "    await trader.place(request)\n"
        "    await self._engine.place_order('ETH/AUD', 'buy', 1)\n"
    ).body[0]
    uses = [u for _, u in _engine_uses(method)]
    assert uses == [
        "self._engine._host()=",
        "self._engine._host().trader=",
        "self._engine._host().trader.place()",
        "self._engine.place_order()",
    ]
    assert [_may(u) for u in uses] == [True, True, False, False]


# -- agents never reach a broker: what a session does -----------------------------------------


@dataclasses.dataclass(frozen=True)
class OrderCall:
    """One call into an order path: where it was made from."""

    seam: str
    args: tuple[Any, ...]
    session: str | None  # the Lab session whose run (graph, nodes' tasks, approval) made it
    frames: tuple[str, ...]  # the files on the stack, relative to the repository

    @property
    def request(self) -> Any:
        return self.args[0] if self.args else None


def _frames() -> tuple[str, ...]:
    found = []
    for frame in inspect.stack(0):
        path = Path(frame.filename)
        if path.is_relative_to(ROOT):
            found.append(str(path.relative_to(ROOT)))
    return tuple(found)


# Set while a Lab session runs; the tasks LangGraph starts for its nodes inherit it.
IN_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("in_session", default=None)


# Every door to an order, from the EngineAPI's command down to the paper broker's matching.
SEAMS: tuple[tuple[type, str], ...] = (
    (TradingCommands, "place_order"),
    (TradingCommands, "cancel_order"),
    (TradingCommands, "cancel_all_orders"),
    (TradingCommands, "set_kill_switch"),
    (TradingHost, "place"),
    (Trader, "place"),
    (Trader, "cancel"),
    (Trader, "cancel_all"),
    (Trader, "set_kill_switch"),
    (PaperBroker, "submit"),
    (PaperBroker, "cancel"),
    (PaperBroker, "cancel_all"),
)


@pytest.fixture
def order_calls(monkeypatch: pytest.MonkeyPatch) -> list[OrderCall]:
    """Every call into an order path from now on, recorded before it goes through, with the
    Lab session (if any) whose run made it."""
    from engine.lab_worker import LabWorker

    calls: list[OrderCall] = []
    real_run = LabWorker._run

    async def run(self: LabWorker, session_id: str, given: Any) -> None:
        IN_SESSION.set(session_id)  # this task's own context: gone when the run ends
        await real_run(self, session_id, given)

    monkeypatch.setattr(LabWorker, "_run", run)

    def spy(owner: type, name: str) -> None:
        real = getattr(owner, name)
        seam = f"{owner.__name__}.{name}"
        if inspect.iscoroutinefunction(real):

            async def spied_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append(OrderCall(seam, args, IN_SESSION.get(), _frames()))
                return await real(self, *args, **kwargs)

            monkeypatch.setattr(owner, name, spied_async)
        else:

            def spied(self: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append(OrderCall(seam, args, IN_SESSION.get(), _frames()))
                return real(self, *args, **kwargs)

            monkeypatch.setattr(owner, name, spied)

    for owner, name in SEAMS:
        spy(owner, name)
    return calls


@pytest.fixture
async def sim_engine(db_url: str) -> AsyncIterator[LocalEngine]:
    # The worker as a task in this process, so the spies see every call the run makes.
    lab = {"isolate": False}
    s = config.load(None, sim={"enabled": True}, database={"url": db_url}, lab=lab)
    s.sources.enabled = False
    engine = LocalEngine(s, clock=ManualClock(START), schedule=False)
    await engine.start()
    await engine.wait_ready()
    await asyncio.wait_for(engine._lab_ready.wait(), 60)
    try:
        yield engine
    finally:
        await engine.stop()


PLAIN = (str, int, float, bool, Decimal, datetime, date, type(None))


def _plain(value: Any, where: str = "") -> list[str]:
    """Where ``value`` holds anything but plain data (a trader, a host, a broker would show)."""
    if isinstance(value, PLAIN):
        return []
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in _plain(v, f"{where}.{k}")]
    if isinstance(value, list | tuple):
        return [w for i, v in enumerate(value) for w in _plain(v, f"{where}[{i}]")]
    return [f"{where}: {type(value).__name__}"]


async def test_a_session_places_no_order_and_approval_only_deploys(
    sim_engine: LocalEngine, order_calls: list[OrderCall], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sim_engine
    from agents import graph

    runtimes: list[Any] = []
    real_build = graph.build

    def build(runtime: Any) -> Any:
        runtimes.append(runtime)
        return real_build(runtime)

    monkeypatch.setattr(graph, "build", build)
    asked_in: list[str | None] = []  # the session marker, as the graph's nodes see it
    real_backtest = EnginePort.backtest

    async def backtest(self: EnginePort, spec: Any) -> Any:
        asked_in.append(IN_SESSION.get())
        return await real_backtest(self, spec)

    monkeypatch.setattr(EnginePort, "backtest", backtest)

    view = await engine.lab_start(GOAL)
    view = await settled(engine, view.id, "waiting")
    await engine.lab_answer(view.id, "yes")
    view = await settled(engine, view.id, "waiting")
    assert view.waiting is not None and view.waiting["kind"] == "proposal"
    detail = await engine.lab_detail(view.id)
    tools = [r["tool"] for r in detail.results.values()]
    assert "backtest" in tools and "candles" in tools  # the graph did use the port

    # What the graph was given: the port over the worker's context, whose research service
    # knows fees and nothing else of the book.
    from engine.lab_worker import LabWorker, WorkerContext, _FeesOnly

    assert runtimes and all(isinstance(r.port, EnginePort) for r in runtimes)
    assert set(vars(runtimes[0].port)) == {"_context", "_filled"}
    context = runtimes[0].port._context
    assert isinstance(context, WorkerContext) and set(vars(context)) == {"_worker", "_run"}
    worker = context._worker
    assert isinstance(worker, LabWorker)
    assert isinstance((await context.research()).trader, _FeesOnly)
    given = {f.name: getattr(runtimes[0], f.name) for f in dataclasses.fields(runtimes[0])}
    assert not [n for n, v in given.items() if isinstance(v, Trader | TradingHost | PaperBroker)]
    # What the port hands back is plain data, never the trader or anything holding it.
    port = runtimes[0].port
    assert _plain(dict(await port.book()), "book") == []
    assert _plain({r: v["result"] for r, v in detail.results.items()}, "results") == []

    assert asked_in and set(asked_in) == {view.id}  # the marker reaches the nodes' tasks
    assert order_calls == []  # up to the proposal, no order path was touched
    assert await engine.orders() == []

    candidate = view.waiting["candidate"]
    await engine.lab_decide(view.id, True, allocation=Decimal("1000"))
    view = await settled(engine, view.id, "done")
    assert view.decision == {"decision": "approve", "allocation": "1000"}
    (deployment,) = await engine.deployments()
    assert deployment.backtest_id == candidate["backtest_id"]
    assert deployment.allocation == Decimal("1000")
    # Approval promoted and deployed the strategy (the gate again); it placed nothing itself.
    assert order_calls == []
    assert await engine.orders() == []

    # The deployment trades when its runner (the trading.strategies job) takes a bar that
    # asks for a position: that order is the strategy's, made outside any Lab session.
    host = await engine._host()
    placed = await host.research.run_deployments()
    assert placed == 1, "on this stretch the approved rule holds a position on the newest bar"
    assert {"Trader.place", "PaperBroker.submit"} <= {c.seam for c in order_calls}
    places = [c for c in order_calls if c.seam == "Trader.place"]
    assert len(places) == 1
    assert places[0].request.origin is Origin.STRATEGY
    assert places[0].request.strategy == deployment.name
    (order,) = await engine.orders()
    assert (order.origin, order.strategy) == ("strategy", deployment.name)

    # No order path was ever entered from the graph's code or during a Lab session's run.
    lab_code = ("agents/", "engine/lab.py", "engine/lab_port.py", "engine/lab_worker.py")
    assert all(c.frames for c in order_calls)  # the stacks were read
    assert [c for c in order_calls if any(f.startswith(lab_code) for f in c.frames)] == []
    assert [c for c in order_calls if c.session is not None] == []
    assert [c for c in order_calls if getattr(c.request, "origin", None) is Origin.AGENT] == []
