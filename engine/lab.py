"""The Lab inside the engine: sessions run as tasks, checkpointed in the engine's database.

A session runs its graph until it ends or waits on a human (the scope, a question, a
proposal); each step, question and spend is published as a ``LabEvent`` and kept in the
session's entries, so a desk attached later sees it all. The graph's checkpoints live in the
engine's own database (LangGraph's SQLite or PostgreSQL saver), so a session survives a
restart: a run cut off mid-way is marked ``stopped`` and resumes where it stood.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.api import LabDetail, LabSessionView, LabStep
from engine.events import LabEvent

if TYPE_CHECKING:
    from engine.local import LocalEngine

log = logging.getLogger("omc.lab")


NO_MODEL = ("none", "no", "-")


class LabError(ValueError):
    """A Lab command that cannot be done; the message says why and what would do."""


class LabHost:
    def __init__(self, engine: LocalEngine) -> None:
        from agents.sessions import SessionStore
        from engine.lab_port import EnginePort

        self._engine = engine
        assert engine.db is not None
        self.store = SessionStore(engine.db)
        self.port = EnginePort(engine)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._keys: dict[tuple[Any, ...], Any] = {}  # model keys opened from the vault
        self._saver: Any = None
        self._saver_cm: Any = None

    def _now(self) -> datetime:
        return self._engine.clock.now()

    async def open(self) -> None:
        """Open the checkpointer; a session left running by a stopped engine is ``stopped``."""
        self._saver_cm = _checkpointer(self._engine.db.url)  # type: ignore[union-attr]
        self._saver = await self._saver_cm.__aenter__()
        for row in await self.store.sessions(limit=500):
            if row["status"] == "running":
                await self.store.update(
                    row["id"], self._now(), status="stopped", error="the engine stopped mid-run"
                )

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._saver_cm is not None:
            await self._saver_cm.__aexit__(None, None, None)
            self._saver_cm = self._saver = None

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
        await self._model(model)  # refuse a model that cannot be opened before anything is kept
        session_id = "lab-" + uuid.uuid4().hex[:10]
        await self.store.create(session_id, goal, model, budget, self._now())
        state = {"goal": goal, "started": self._now().isoformat()}
        await self._launch(session_id, state)
        return await self.session_view(session_id)

    async def answer(self, session_id: str, text: Any) -> LabSessionView:
        """Answer what the session waits on (the scope, a question)."""
        session_id = (await self._waiting(session_id, ("scope", "question")))["id"]
        from langgraph.types import Command

        await self._launch(session_id, Command(resume=text))
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
        from langgraph.types import Command

        decision: dict[str, Any] = {"decision": "approve" if approve else "reject"}
        if approve:
            decision["allocation"] = None if allocation is None else str(allocation)
        else:
            decision["reason"] = reason.strip()
        await self._launch(session_id, Command(resume=decision))
        return await self.session_view(session_id)

    async def resume(self, session_id: str, *, budget: Decimal | None = None) -> LabSessionView:
        row = await self._row(session_id)
        session_id = row["id"]
        if row["status"] not in ("stopped", "failed"):
            raise LabError(f"{session_id} is {row['status']}; only a stopped session resumes")
        if budget is not None:
            await self.store.update(session_id, self._now(), budget=budget)
        await self._launch(session_id, None)
        return await self.session_view(session_id)

    async def cancel(self, session_id: str) -> LabSessionView:
        row = await self._row(session_id)
        session_id = row["id"]
        if row["status"] in ("done", "cancelled"):
            raise LabError(f"{session_id} is already {row['status']}")
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
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

    async def _launch(self, session_id: str, graph_input: Any) -> None:
        if (task := self._tasks.get(session_id)) is not None and not task.done():
            raise LabError(f"{session_id} is already running")
        await self._set(session_id, "running", "running", waiting=None, error=None)
        task = asyncio.create_task(self._run(session_id, graph_input), name=f"omc-lab-{session_id}")
        self._tasks[session_id] = task
        task.add_done_callback(
            lambda t: (
                self._tasks.pop(session_id, None) if self._tasks.get(session_id) is t else None
            )
        )

    async def _model(self, name: str | None, meter: Any = None) -> Any:
        from agents.models import NoModel

        if not name:
            return NoModel()
        return await _open_model(self._engine, name, meter, self._keys)

    async def _run(self, session_id: str, graph_input: Any) -> None:
        await asyncio.to_thread(importlib.import_module, "agents.graph")  # off the loop
        from agents.graph import RECURSION_LIMIT, Runtime, build
        from agents.models import BudgetExceeded, Meter

        row = await self._row(session_id)
        meter = Meter(budget=row["budget"])
        meter.calls, meter.spent = row["calls"], row["spent"]
        meter.prompt_tokens, meter.completion_tokens = (
            row["prompt_tokens"],
            row["completion_tokens"],
        )
        meter.unpriced_calls = row["unpriced_calls"]
        runtime = Runtime(
            port=self.port,
            model=await self._model(row["model"], meter),
            meter=meter,
            session=session_id,
            fee_bps=float(self._fee_bps()),
            on_result=lambda rid, tool, args, result: self._result(
                session_id, rid, tool, args, result
            ),
            on_step=lambda node, text: self._step(session_id, node, text),
            on_call=lambda node, done: self._call(session_id, node, done, meter),
        )
        app = build(runtime).compile(checkpointer=self._saver)
        config = {"configurable": {"thread_id": session_id}, "recursion_limit": RECURSION_LIMIT}
        try:
            async for _ in app.astream(graph_input, config, stream_mode="updates"):
                await self._spend(session_id, meter)
            state = await app.aget_state(config)
        except asyncio.CancelledError:
            await self._spend(session_id, meter)
            raise
        except BudgetExceeded as exc:
            await self._spend(session_id, meter)
            await self._set(session_id, "stopped", str(exc), error=str(exc))
            return
        except Exception as exc:  # a failed run is kept, with why, and may be resumed
            expected = isinstance(exc, ValueError)  # a study with nothing to study, say
            log.error("Lab session %s failed: %s", session_id, exc, exc_info=not expected)
            await self._spend(session_id, meter)
            await self._set(session_id, "failed", f"failed: {exc}", error=str(exc))
            return
        await self._spend(session_id, meter)
        await self._settle(session_id, state)

    async def _settle(self, session_id: str, state: Any) -> None:
        values = state.values
        extra: dict[str, Any] = {}
        if values.get("report") is not None:
            extra.update(report=values["report"], untraced=values.get("untraced"))
        if state.interrupts:
            waiting = dict(state.interrupts[0].value)
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

    def _fee_bps(self) -> Decimal:
        fee = self._engine.settings.trading.taker_fee
        return (fee if fee is not None else Decimal("0.001")) * 10_000

    async def _result(self, session_id: str, rid: str, tool: str, args: Any, result: Any) -> None:
        await self.store.add_result(session_id, rid, tool, args, result, self._now())

    async def _step(self, session_id: str, node: str, text: str) -> None:
        if await self.store.add_entry(session_id, "step", node, text, self._now()) is not None:
            self._publish(session_id, "step", text, "running", node=node)

    async def _call(self, session_id: str, node: str, done: Any, meter: Any) -> None:
        """Keep a model call for audit (what was asked, what came back, its price) and say
        what the session has spent."""
        tokens = done.prompt_tokens + done.completion_tokens
        text = f"{done.model}: {tokens:,} tokens, {done.cost_label}"
        await self.store.add_entry(session_id, "call", node, text, self._now(), done.to_json())
        await self._spend(session_id, meter)
        spent = meter.spent
        total = meter.prompt_tokens + meter.completion_tokens
        self._publish(session_id, "cost", text, "running", node=node, spent=spent, tokens=total)

    async def _spend(self, session_id: str, meter: Any) -> None:
        await self.store.update(
            session_id,
            self._now(),
            calls=meter.calls,
            prompt_tokens=meter.prompt_tokens,
            completion_tokens=meter.completion_tokens,
            unpriced_calls=meter.unpriced_calls,
            spent=meter.spent,
        )

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


async def _open_model(
    engine: LocalEngine, name: str, meter: Any, keys: dict[tuple[Any, ...], Any]
) -> Any:
    """The session's model, with its key from the vault when the vault holds one (named
    ``[lab] key``, else the provider: openai, anthropic…), opened with OMC_VAULT_PASSPHRASE.

    An opened key is kept in ``keys`` until it is replaced or rotated: opening the vault
    derives its key with scrypt, a quarter of a second, which a session would pay at its
    start and at every resume. litellm loads (seconds, the first time) on a thread."""
    from pydantic import ValidationError

    from agents.models import ModelError, ModelSpec, UnpricedModel, open_model
    from engine import vault

    lab = engine.settings.lab
    db = engine.db
    assert db is not None
    key_name = lab.key or name.partition("/")[0]
    key, base_url = None, lab.base_url
    stored = {k.name: k for k in await vault.stored_keys(db)}
    if key_name in stored:
        secret = vault.env_passphrase()
        if secret is None:
            raise LabError(
                f"the key {key_name} is in the vault, which the engine opens only with "
                f"{vault.PASSPHRASE_ENV}: set it where the engine runs"
            )
        info = stored[key_name]
        opener = hashlib.sha256(secret.get_secret_value().encode()).hexdigest()
        version = (key_name, info.added_at, info.rotated_at, opener)
        key = keys.get(version)
        if key is None:
            try:
                key = (await vault.Vault.open(db, secret)).get(key_name)
            except vault.VaultError as exc:
                raise LabError(f"the vault did not open: {exc}") from None
            keys.clear()  # an older version of a key is never used again
            keys[version] = key
        base_url = info.base_url or base_url
    try:
        spec = ModelSpec(model=name, api_key=key, base_url=base_url, timeout=lab.timeout)
        first = "litellm" not in sys.modules
        model = await asyncio.to_thread(open_model, spec, meter)
        if first:
            gc.freeze()  # litellm's few hundred thousand objects: no collection walks them
        return model
    except ValidationError as exc:
        raise LabError(f"model {name!r}: {exc.errors()[0]['msg']}") from None
    except (UnpricedModel, ModelError) as exc:
        raise LabError(str(exc)) from None


def preload(url: str) -> None:
    """Import what opening the Lab needs (its store, its port, the checkpointer for ``url``),
    off the event loop: run on a thread, so a desk keeps painting meanwhile."""
    from sqlalchemy.engine import make_url

    postgres = make_url(url).get_backend_name() == "postgresql"
    saver = "langgraph.checkpoint.postgres.aio" if postgres else "langgraph.checkpoint.sqlite.aio"
    for module in ("agents.sessions", "engine.lab_port", saver, "langgraph.types"):
        importlib.import_module(module)


@contextlib.asynccontextmanager
async def _checkpointer(url: str) -> AsyncIterator[Any]:
    """LangGraph's saver in the engine's own database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        async with AsyncPostgresSaver.from_conn_string(dsn) as saver:
            await saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(parsed.database or ":memory:") as saver:
        await saver.setup()
        yield saver


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
        return await (await self._lab()).sessions(limit)

    async def lab_detail(self, session: str) -> LabDetail:
        return await (await self._lab()).detail(session)

    async def lab_defaults(self) -> dict[str, Any]:
        lab, trading = self.settings.lab, self.settings.trading
        return {"model": lab.model, "budget": lab.budget, "allocation": trading.allocation}
