"""The Lab inside the engine: sessions run in the Lab's worker, checkpointed in the engine's
database.

A session runs its graph until it ends or waits on a human (the scope, a question, a
proposal); each step, question and spend is published as a ``LabEvent`` and kept in the
session's entries, so a desk attached later sees it all. The graph runs in a process of its
own (``engine.lab_worker``), so a study's seconds of Python never take the interpreter from the
desk or the book; the engine keeps the commands, the statuses, and what an approval does. The
graph's checkpoints live in the engine's own database (LangGraph's SQLite or PostgreSQL
saver), so a session survives a restart: a run cut off mid-way is marked ``stopped`` and
resumes where it stood.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import logging
import os
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.api import LabDetail, LabSessionView, LabStep
from engine.events import LabEvent
from ledgers.clock import ManualClock

if TYPE_CHECKING:
    from engine.local import LocalEngine

log = logging.getLogger("omc.lab")


NO_MODEL = ("none", "no", "-")
_ROOT = str(Path(__file__).resolve().parent.parent)  # where the worker imports us from
CANCEL_SECONDS = 10.0  # a run asked to stop has this long before the worker is let go


class LabError(ValueError):
    """A Lab command that cannot be done; the message says why and what would do."""


class LabHost:
    """The Lab in the engine: its commands, and the sessions' runs handed to the Lab's worker
    (``engine.lab_worker``), whose steps it publishes and whose ends it settles."""

    def __init__(self, engine: LocalEngine) -> None:
        from agents.sessions import SessionStore
        from engine.lab_port import EngineContext, EnginePort

        self._engine = engine
        assert engine.db is not None
        self.store = SessionStore(engine.db)
        self.port = EnginePort(EngineContext(engine))  # what the worker asks of the engine
        self._link: _Link | None = None
        self._linking = asyncio.Lock()
        self._running: dict[str, asyncio.Future[str]] = {}
        self._chores: set[asyncio.Task[Any]] = set()
        self._closing = False

    def _now(self) -> datetime:
        return self._engine.clock.now()

    async def open(self) -> None:
        """A session left running by a stopped engine is ``stopped``; it resumes on asking."""
        for row in await self.store.sessions(limit=500):
            if row["status"] == "running":
                await self.store.update(
                    row["id"], self._now(), status="stopped", error="the engine stopped mid-run"
                )

    async def close(self) -> None:
        self._closing = True
        running = [sid for sid, future in self._running.items() if not future.done()]
        for session_id in running:
            with contextlib.suppress(Exception):
                await self._set(
                    session_id,
                    "stopped",
                    "the engine stopped mid-run",
                    error="the engine stopped mid-run",
                )
        link, self._link = self._link, None
        if link is not None:
            await link.close()
        for future in self._running.values():
            if not future.done():
                future.set_result("stopped")
        self._running.clear()
        for task in list(self._chores):
            task.cancel()

    def warm(self) -> None:
        """Start the worker now (its libraries take a second or two to load), so a session
        asked for soon starts at once: the desk calls this when the Lab opens."""
        if self._link is None and not self._closing:
            self._chore(self._worker())

    async def warmed(self) -> None:
        """Wait until the worker is up with its libraries loaded (what a long-running engine
        has after its first session)."""
        await (await self._worker()).call("ping")

    # -- commands ----------------------------------------------------------------------------

    async def start(
        self, goal: str, *, model: str | None = None, budget: Decimal | None = None
    ) -> LabSessionView:
        goal = goal.strip()
        if not goal:
            raise LabError("a goal is needed: say what to research")
        settings = self._engine.settings.lab
        model = model or settings.model
        if model is not None and model.strip().lower() in NO_MODEL:
            model = None  # asked for none: the rule-based planner, even with a default set
        budget = settings.budget if budget is None else budget
        if budget is not None and budget < 0:
            raise LabError(f"a budget cannot be negative, got {budget}")
        if model is not None:  # refuse a model that cannot be opened before anything is kept
            await (await self._worker()).call("check_model", name=model)
        session_id = "lab-" + uuid.uuid4().hex[:10]
        await self.store.create(session_id, goal, model, budget, self._now())
        state = {"goal": goal, "started": self._now().isoformat()}
        await self._launch(session_id, {"kind": "start", "state": state})
        return await self.session_view(session_id)

    async def answer(self, session_id: str, text: Any) -> LabSessionView:
        """Answer what the session waits on (the scope, a question)."""
        session_id = (await self._waiting(session_id, ("scope", "question")))["id"]
        await self._launch(session_id, {"kind": "resume", "value": text})
        return await self.session_view(session_id)

    async def decide(
        self,
        session_id: str,
        approve: bool,
        *,
        reason: str = "",
        allocation: Decimal | None = None,
    ) -> LabSessionView:
        """Approve (to paper, through the gate and promotion) or reject a proposal."""
        session_id = (await self._waiting(session_id, ("proposal",)))["id"]
        if approve and allocation is not None and allocation <= 0:
            raise LabError(f"an allocation must be positive, got {allocation}")
        if not approve and not reason.strip():
            reason = "rejected without a reason"
        decision: dict[str, Any] = {"decision": "approve" if approve else "reject"}
        if approve:
            decision["allocation"] = None if allocation is None else str(allocation)
        else:
            decision["reason"] = reason.strip()
        await self._launch(session_id, {"kind": "resume", "value": decision})
        return await self.session_view(session_id)

    async def resume(self, session_id: str, *, budget: Decimal | None = None) -> LabSessionView:
        row = await self._row(session_id)
        session_id = row["id"]
        if row["status"] not in ("stopped", "failed"):
            raise LabError(f"{session_id} is {row['status']}; only a stopped session resumes")
        if budget is not None:
            await self.store.update(session_id, self._now(), budget=budget)
        await self._launch(session_id, {"kind": "continue"})
        return await self.session_view(session_id)

    async def cancel(self, session_id: str) -> LabSessionView:
        row = await self._row(session_id)
        session_id = row["id"]
        if row["status"] in ("done", "cancelled"):
            raise LabError(f"{session_id} is already {row['status']}")
        running = self._running.get(session_id)
        if running is not None and not running.done() and self._link is not None:
            await self._link.send({"op": "cancel", "session": session_id})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(running), CANCEL_SECONDS)
        await self._set(session_id, "cancelled", "cancelled by the user", waiting=None)
        return await self.session_view(session_id)

    async def sessions(self, limit: int = 50) -> list[LabSessionView]:
        return [_view(r) for r in await self.store.sessions(limit)]

    async def session_view(self, session_id: str) -> LabSessionView:
        return _view(await self._row(session_id))

    async def detail(self, session_id: str) -> LabDetail:
        row = await self._row(session_id)
        entries = await self.store.entries(row["id"])
        steps = tuple(LabStep(e["seq"], e["node"], e["text"], e["at"], e["kind"]) for e in entries)
        results = await self.store.results(row["id"])
        return LabDetail(_view(row), steps, results, row["report"])

    # -- running -----------------------------------------------------------------------------

    async def _row(self, session_id: str) -> dict[str, Any]:
        row = await self.store.get(session_id)
        if row is None:
            found = await self.store.find(session_id)
            if len(found) == 1:
                row = await self.store.get(found[0])
            elif found:
                raise LabError(f"{session_id!r} names several sessions: {', '.join(found)}")
        if row is None:
            raise LabError(f"no Lab session {session_id!r}; omc lab list shows them")
        return dict(row)

    async def _waiting(self, session_id: str, kinds: tuple[str, ...]) -> dict[str, Any]:
        row = await self._row(session_id)
        waiting = row.get("waiting") or {}
        if row["status"] != "waiting" or waiting.get("kind") not in kinds:
            what = waiting.get("kind") if row["status"] == "waiting" else row["status"]
            raise LabError(f"{row['id']} is not waiting for that (it is {what})")
        return row

    async def _launch(self, session_id: str, graph_input: dict[str, Any]) -> None:
        if (running := self._running.get(session_id)) is not None and not running.done():
            raise LabError(f"{session_id} is already running")
        link = await self._worker()
        await self._set(session_id, "running", "running", waiting=None, error=None)
        self._running[session_id] = asyncio.get_running_loop().create_future()
        await link.send({"op": "run", "session": session_id, "input": graph_input, **self._run()})

    def _run(self) -> dict[str, Any]:
        """What a run in the worker needs to know of the engine as it stands."""
        feed = self._engine.feed
        source = feed.source
        sim = None
        if source.simulated and type(source).__name__ == "SimMarket":
            sim = {
                "seed": source.seed,
                "symbols": len(source.universe),
                "quote": source.quote,
                "tick_seconds": source.tick_seconds,
            }
        fees: dict[str, Decimal] = {}
        host = self._engine.trading_host
        if host is not None:
            for symbol in self.port.symbols():
                rules = host.trader.market.rules(symbol)
                if rules is not None:
                    fees[symbol] = rules.taker_fee
        clock = self._engine.clock
        rate = 0.0 if isinstance(clock, ManualClock) else float(getattr(clock, "speed", 1.0))
        return {
            "now": clock.now(),
            "rate": rate,
            "venue": self.port.venue,
            "symbols": list(self.port.symbols()),
            "simulated": bool(source.simulated),
            "sim": sim,
            "fees": fees,
        }

    async def _worker(self) -> _Link:
        async with self._linking:
            if self._closing:
                raise LabError("the engine is stopping")
            if self._link is None or self._link.gone:
                self._link = await self._spawn()
            return self._link

    async def _spawn(self) -> _Link:
        settings = self._engine.settings
        url = settings.database_url()
        if not settings.lab.isolate or _in_memory(url):
            from engine.lab_worker import LabWorker, queue_pair

            here, there = queue_pair()
            task = asyncio.create_task(LabWorker(there, settings).serve(), name="omc-lab-worker")
            link = _Link(here, task=task)
        else:
            link = await _Link.process(settings)
        link.reader = asyncio.create_task(self._read(link), name="omc-lab-reader")
        return link

    async def _read(self, link: _Link) -> None:
        """What the worker says, in order, until it goes."""
        while (message := await link.channel.receive()) is not None:
            op = message["op"]
            if op == "event":
                self._publish(
                    message["session"],
                    message["what"],
                    message["text"],
                    "running",
                    node=message.get("node", ""),
                    spent=message.get("spent"),
                    tokens=message.get("tokens", 0),
                )
            elif op == "end":
                self._chore(self._ended(message))
            elif op == "call":
                self._chore(self._answer_call(link, message))
            elif op == "reply":
                link.replied(message)
        link.gone = True
        link.fail_calls("the Lab's worker stopped")
        if self._closing or self._link is not link:
            return
        code = await link.exit_code()
        log.error("the Lab's worker stopped (exit code %s)", code)
        for session_id, future in list(self._running.items()):
            if not future.done():
                why = f"the Lab's worker stopped (exit code {code}); resume to carry on"
                with contextlib.suppress(Exception):
                    await self._set(session_id, "stopped", why, error=why)
                future.set_result("stopped")

    def _chore(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _answer_call(self, link: _Link, message: dict[str, Any]) -> None:
        """The worker asks for what lives in the engine: the book, a venue's history."""
        reply: dict[str, Any] = {"op": "reply", "id": message["id"]}
        try:
            args = message["args"]
            if message["method"] == "book":
                reply["value"] = dict(await self.port.book())
            elif message["method"] == "fetch":
                bars = await self.port.candles(
                    args["symbol"], args["timeframe"], args["since"], args["until"]
                )
                reply["value"] = len(bars)
            else:
                reply["error"] = f"the engine has no {message['method']!r} for the Lab"
        except Exception as exc:
            reply["error"] = str(exc)
        with contextlib.suppress(Exception):
            await link.send(reply)

    async def _ended(self, message: dict[str, Any]) -> None:
        session_id, status = message["session"], message["status"]
        try:
            if status == "settle":
                await self._settle(session_id, message["values"], message["waiting"])
            elif status in ("stopped", "failed"):
                await self._set(session_id, status, message["text"], error=message["error"])
        finally:
            future = self._running.pop(session_id, None)
            if future is not None and not future.done():
                future.set_result(status)

    async def _settle(
        self, session_id: str, values: dict[str, Any], waiting: dict[str, Any] | None
    ) -> None:
        extra: dict[str, Any] = {}
        if values.get("report") is not None:
            extra.update(report=values["report"], untraced=values.get("untraced"))
        if waiting:
            await self._set(session_id, "waiting", waiting["text"], waiting=waiting, **extra)
            return
        decision = values.get("decision")
        text = "done"
        if decision:
            text = await self._carry_out(session_id, values.get("candidate") or {}, decision)
        await self._set(session_id, "done", text, waiting=None, decision=decision, **extra)

    async def _carry_out(
        self, session_id: str, candidate: dict[str, Any], decision: dict[str, Any]
    ) -> str:
        """An approved proposal goes to paper through promotion (the gate again) and
        deployment, as a human's would; a rejection is kept with its reason."""
        if decision.get("decision") != "approve":
            text = f"proposal rejected: {decision.get('reason') or 'no reason given'}"
            await self._step(session_id, "propose", text)
            return text
        allocation = decision.get("allocation")
        host = await self._engine._host()
        try:
            await host.research.promote(candidate["backtest_id"], by=f"lab:{session_id}")
            deployment = await host.research.deploy(
                candidate["backtest_id"], Decimal(allocation) if allocation else None
            )
        except Exception as exc:  # the gate or the book refused: said, nothing half done
            text = f"approved, but not deployed: {exc}"
            await self._step(session_id, "propose", text)
            return text
        text = f"approved: {deployment.name} trades on paper with {deployment.allocation}"
        await self._step(session_id, "propose", text)
        return text

    async def _step(self, session_id: str, node: str, text: str) -> None:
        if await self.store.add_entry(session_id, "step", node, text, self._now()) is not None:
            self._publish(session_id, "step", text, "running", node=node)

    async def _set(self, session_id: str, status: str, text: str, **values: Any) -> None:
        await self.store.update(session_id, self._now(), status=status, **values)
        row = await self._row(session_id)
        self._publish(
            session_id,
            "waiting" if status == "waiting" else "status",
            text,
            status,
            spent=row["spent"],
            tokens=row["prompt_tokens"] + row["completion_tokens"],
        )

    def _publish(self, session_id: str, what: str, text: str, status: str, **extra: Any) -> None:
        self._engine.bus.publish(LabEvent(session_id, what, self._now(), text, status, **extra))


def _view(row: dict[str, Any]) -> LabSessionView:
    return LabSessionView(
        id=row["id"],
        goal=row["goal"],
        status=row["status"],
        model=row["model"],
        budget=row["budget"],
        spent=row["spent"],
        calls=row["calls"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        unpriced_calls=row["unpriced_calls"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        waiting=row["waiting"],
        untraced=row["untraced"],
        error=row["error"],
        decision=row["decision"],
    )


def _in_memory(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def preload(url: str) -> None:
    """Import what opening the Lab needs in the engine (its store and its port), off the
    event loop; the graph, LangGraph and the models load in the Lab's worker."""
    for module in ("agents.sessions", "engine.lab_port"):
        importlib.import_module(module)


class _Link:
    """The engine's end of the Lab's worker: a process of its own, or a task here."""

    def __init__(
        self, channel: Any, *, process: asyncio.subprocess.Process | None = None, task: Any = None
    ) -> None:
        self.channel = channel
        self.process = process
        self.task = task
        self.reader: asyncio.Task[None] | None = None
        self.gone = False
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._log: asyncio.Task[None] | None = None

    @classmethod
    async def process(cls, settings: Any) -> _Link:
        from engine.lab_worker import StreamChannel

        path = os.environ.get("PYTHONPATH")
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONPATH": _ROOT if not path else _ROOT + os.pathsep + path,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.lab_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stdin is not None and process.stdout is not None
        link = cls(StreamChannel(process.stdout, process.stdin), process=process)
        link._log = asyncio.create_task(_relay(process.stderr), name="omc-lab-worker-log")
        level = logging.getLogger("omc").getEffectiveLevel()
        await link.send({"op": "hello", "settings": settings, "level": level})
        return link

    async def send(self, message: dict[str, Any]) -> None:
        if self.gone:
            raise LabError("the Lab's worker has stopped")
        try:
            await self.channel.send(message)
        except (ConnectionError, RuntimeError) as exc:
            self.gone = True
            raise LabError(f"the Lab's worker has stopped: {exc}") from None

    async def call(self, op: str, **args: Any) -> Any:
        """Ask the worker and wait for its answer (a LabError when it says no)."""
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        await self.send({"op": op, "id": call_id, **args})
        return await future

    def replied(self, message: dict[str, Any]) -> None:
        future = self._calls.pop(message["id"], None)
        if future is None or future.done():
            return
        if "error" in message:
            future.set_exception(LabError(message["error"]))
        else:
            future.set_result(message.get("value"))

    def fail_calls(self, why: str) -> None:
        for future in self._calls.values():
            if not future.done():
                future.set_exception(LabError(why))
        self._calls.clear()

    async def exit_code(self) -> int | None:
        if self.process is None:
            return None
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.process.wait(), 5)
        return None

    async def close(self) -> None:
        """Stop the worker: its stdin closes and it exits (killed if it has not in seconds)."""
        self.gone = True
        self.channel.close()
        if self.task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, CANCEL_SECONDS)
        if self.process is not None:
            try:
                await asyncio.wait_for(self.process.wait(), CANCEL_SECONDS)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        for task in (self.reader, self._log):
            if task is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 1)


async def _relay(stream: asyncio.StreamReader | None) -> None:
    """The worker's log lines into the engine's log, at their level."""
    if stream is None:
        return
    worker = logging.getLogger("omc.lab.worker")
    level = logging.WARNING
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        name, _, _ = text.partition(" ")
        level = logging.getLevelName(name) if name.isupper() and name.isalpha() else level
        worker.log(level if isinstance(level, int) else logging.WARNING, "%s", text)


class LabCommands:
    """The Lab's commands on an engine (the desk's and the command line's, attached or not)."""

    lab: LabHost | None
    lab_error: str | None
    _lab_ready: asyncio.Event
    settings: Any

    async def _lab(self) -> LabHost:
        await self._lab_ready.wait()
        if self.lab is None:
            raise LabError(f"the Lab is not available: {self.lab_error}")
        return self.lab

    async def lab_start(
        self, goal: str, *, model: str | None = None, budget: Decimal | None = None
    ) -> LabSessionView:
        return await (await self._lab()).start(goal, model=model, budget=budget)

    async def lab_answer(self, session: str, text: str) -> LabSessionView:
        return await (await self._lab()).answer(session, text)

    async def lab_decide(
        self,
        session: str,
        approve: bool,
        *,
        reason: str = "",
        allocation: Decimal | None = None,
    ) -> LabSessionView:
        lab = await self._lab()
        return await lab.decide(session, approve, reason=reason, allocation=allocation)

    async def lab_resume(self, session: str, *, budget: Decimal | None = None) -> LabSessionView:
        return await (await self._lab()).resume(session, budget=budget)

    async def lab_cancel(self, session: str) -> LabSessionView:
        return await (await self._lab()).cancel(session)

    async def lab_sessions(self, limit: int = 50) -> list[LabSessionView]:
        lab = await self._lab()
        lab.warm()  # someone is looking at the Lab: a session may be asked for soon
        return await lab.sessions(limit)

    async def lab_detail(self, session: str) -> LabDetail:
        return await (await self._lab()).detail(session)

    async def lab_defaults(self) -> dict[str, Any]:
        lab, trading = self.settings.lab, self.settings.trading
        return {"model": lab.model, "budget": lab.budget, "allocation": trading.allocation}
