"""The Lab's worker: sessions' graphs run in a process of their own.

A study reads a year of rows, computes indicators, trains models and runs five backtests:
seconds of Python, which in the engine's process would hold the interpreter's lock against the
desk painting beside it (measured: the desk's tick-to-screen p99 went from 7 ms to 25–43 ms
while sessions ran, with every step already on worker threads). So the engine hands each run
to this worker. It opens the engine's database with connections of its own, its own LangGraph
checkpointer and its own research service (the same backtester, fees and gate), and makes the
simulated market's history itself when the engine is on it (the simulator is a function of
time: the same bars). It asks the engine only for what lives there: the book, a venue's
history. What a run does comes back as messages: its steps and spend (the engine publishes
them on its bus) and its end (the engine settles it: the status, an approved proposal's
deployment through the gate and promotion).

Messages are pickled dicts framed by their length, on the worker's stdin and stdout; what
anything in the worker prints goes to its stderr, which the engine logs. When the engine goes,
even by kill -9, the worker reads the end of its stdin and exits at once, so a restarted engine
never meets a run still going on its behalf.

With ``[lab] isolate = false``, or on an in-memory database, the same worker runs as a task in
the engine's process, over queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import itertools
import logging
import os
import pickle
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Protocol

log = logging.getLogger("omc.lab")

_HEADER = struct.Struct("!I")
NICE = 10  # the worker's scheduling priority below the engine's
Message = dict[str, Any]


# -- channels ---------------------------------------------------------------------------------


class Channel(Protocol):
    async def send(self, message: Message) -> None: ...

    async def receive(self) -> Message | None:
        """The next message; None when the other side has gone."""
        ...


def encode(message: Message) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


class QueueChannel:
    """One end of a pair of queues: the worker in the engine's own process. A message is
    copied as a pipe would (pickled), so neither side ever holds the other's objects."""

    def __init__(self, inbox: asyncio.Queue[bytes | None], outbox: asyncio.Queue[bytes | None]):
        self._inbox, self._outbox = inbox, outbox

    async def send(self, message: Message) -> None:
        self._outbox.put_nowait(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    async def receive(self) -> Message | None:
        body = await self._inbox.get()
        return None if body is None else pickle.loads(body)

    def close(self) -> None:
        self._outbox.put_nowait(None)


def queue_pair() -> tuple[QueueChannel, QueueChannel]:
    a: asyncio.Queue[bytes | None] = asyncio.Queue()
    b: asyncio.Queue[bytes | None] = asyncio.Queue()
    return QueueChannel(a, b), QueueChannel(b, a)


class StreamChannel:
    """The engine's end of a worker process: its stdout to read, its stdin to write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def send(self, message: Message) -> None:
        self._writer.write(encode(message))
        await self._writer.drain()

    async def receive(self) -> Message | None:
        try:
            header = await self._reader.readexactly(_HEADER.size)
            body = await self._reader.readexactly(_HEADER.unpack(header)[0])
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return pickle.loads(body)  # our own child, on a pipe only we hold

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


class _PipeChannel:
    """The worker process's end: frames read from stdin by a thread of their own (so the end
    of the engine is noticed even while the loop is busy), written to the saved stdout."""

    def __init__(self, inbox: asyncio.Queue[Message], out: int) -> None:
        self._inbox, self._out = inbox, out

    async def send(self, message: Message) -> None:
        data = memoryview(encode(message))
        while data:
            data = data[os.write(self._out, data) :]

    async def receive(self) -> Message | None:
        return await self._inbox.get()


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> Message | None:
    header = _read_exactly(fd, _HEADER.size)
    body = None if header is None else _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)  # from the engine that started us


# -- what the port stands on in the worker ----------------------------------------------------


class _Clock:
    """The engine's clock, as the engine last said it: its time then, and how fast it runs
    (0 for a clock that moves only when told, the simulator's speed on the simulated market)."""

    def __init__(self) -> None:
        self.set(datetime.now(UTC), 1.0)

    def set(self, now: datetime, rate: float) -> None:
        self._at, self._origin, self._rate = now, time.monotonic(), rate

    def now(self) -> datetime:
        return self._at + timedelta(seconds=(time.monotonic() - self._origin) * self._rate)


class _FeesOnly:
    """The research service's view of the book in the worker: each symbol's taker fee, as the
    engine's market rules give it. It has no orders, no broker and no positions."""

    def __init__(self) -> None:
        self.fees: dict[str, Decimal] = {}
        self.market = self

    def rules(self, symbol: str) -> Any:
        fee = self.fees.get(symbol)
        return None if fee is None else SimpleNamespace(taker_fee=fee)


class WorkerContext:
    """``engine.lab_port.PortContext`` in the worker: its own database connections and
    research service; the engine asked for the book and for a venue's history."""

    def __init__(self, worker: LabWorker, run: Message) -> None:
        self._worker = worker
        self._run = run

    @property
    def venue(self) -> str:
        return str(self._run["venue"])

    @property
    def simulated(self) -> bool:
        return bool(self._run["simulated"])

    @property
    def source(self) -> Any:
        return self._worker.simulator(self._run.get("sim"))

    def symbols(self) -> Sequence[str]:
        return list(self._run["symbols"])

    async def db(self) -> Any:
        return self._worker.db

    async def fetch(self, symbol: str, timeframe: str, since: datetime, until: datetime) -> int:
        args = {"symbol": symbol, "timeframe": timeframe, "since": since, "until": until}
        return int(await self._worker.call("fetch", **args))

    async def book(self) -> Mapping[str, Any]:
        return dict(await self._worker.call("book"))

    async def research(self) -> Any:
        return self._worker.research()


# -- the worker -------------------------------------------------------------------------------


class LabWorker:
    """Runs sessions' graphs for one engine; see the module's docstring."""

    def __init__(self, channel: Channel, settings: Any, warming: Any = None) -> None:
        self.channel = channel
        self.settings = settings
        self.warming: asyncio.Future[Any] | None = warming  # the libraries, loading
        self.clock = _Clock()
        self.db: Any = None
        self._store: Any = None
        self._saver: Any = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._chores: set[asyncio.Task[None]] = set()
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._keys: dict[tuple[Any, ...], Any] = {}  # model keys opened from the vault
        self._sim: tuple[Any, Any] | None = None  # (its parameters, the simulated market)
        self._venue = ""
        self._fees = _FeesOnly()
        self._research: Any = None

    async def serve(self) -> None:
        """Open the database and the checkpointer, then do what the engine asks until it goes."""
        from agents.sessions import SessionStore
        from ledgers.database import Database

        self.db = Database(self.settings.database_url())
        try:
            self._store = SessionStore(self.db)
            async with checkpointer(self.db.url) as saver:
                self._saver = saver
                if self.warming is not None:
                    self.warming = asyncio.ensure_future(self._ready(self.warming))
                while (message := await self.channel.receive()) is not None:
                    self._handle(message)
        finally:
            tasks = [*self._tasks.values(), *self._chores]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.db.dispose()

    def _handle(self, message: Message) -> None:
        op = message["op"]
        if op == "run":
            self._start(message)
        elif op == "cancel":
            task = self._tasks.get(message["session"])
            if task is not None:
                task.cancel()
        elif op == "reply":
            future = self._calls.pop(message["id"], None)
            if future is not None and not future.done():
                if "error" in message:
                    from engine.lab import LabError

                    future.set_exception(LabError(message["error"]))
                else:
                    future.set_result(message.get("value"))
        elif op == "check_model":
            self._chore(self._check_model(message["id"], message["name"]))
        elif op == "ping":
            self._chore(self._pong(message["id"]))
        else:
            log.warning("the Lab's worker was sent %r, which it does not know", op)

    def _chore(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def call(self, method: str, **args: Any) -> Any:
        """Ask the engine for something that lives there."""
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        await self.channel.send({"op": "call", "id": call_id, "method": method, "args": args})
        return await future

    def simulator(self, params: Mapping[str, Any] | None) -> Any:
        """The simulated market the engine is on (made here from its parameters), or None."""
        if params is None:
            return None
        if self._sim is None or self._sim[0] != params:
            from ledgers.sources.sim import SimMarket

            self._sim = (dict(params), SimMarket(clock=self.clock, **params))
        return self._sim[1]

    def research(self) -> Any:
        if self._research is None:
            from engine.trading.research import Research

            t = self.settings.trading
            self._research = Research(
                self.db,
                self._fees,  # type: ignore[arg-type]
                lambda: self._venue,
                self.clock.now,
                gate=t.gate(),
                slippage_bps=t.slippage_bps,
                allocation=t.allocation,
            )
        return self._research

    # -- a run ---------------------------------------------------------------------------------

    def _start(self, run: Message) -> None:
        session_id = run["session"]
        self.clock.set(run["now"], run["rate"])
        self._venue = run["venue"]
        self._fees.fees = dict(run["fees"])
        task = asyncio.create_task(self._run(session_id, run), name=f"omc-lab-{session_id}")
        self._tasks[session_id] = task
        task.add_done_callback(
            lambda t: (
                self._tasks.pop(session_id, None) if self._tasks.get(session_id) is t else None
            )
        )

    async def _run(self, session_id: str, run: Message) -> None:
        from agents.graph import RECURSION_LIMIT, Runtime, build
        from agents.models import BudgetExceeded, Meter
        from engine.lab_port import EnginePort

        try:
            row = await self._store.get(session_id)
            meter = Meter(budget=row["budget"])
            meter.calls, meter.spent = row["calls"], row["spent"]
            meter.prompt_tokens = row["prompt_tokens"]
            meter.completion_tokens = row["completion_tokens"]
            meter.unpriced_calls = row["unpriced_calls"]
            runtime = Runtime(
                port=EnginePort(WorkerContext(self, run)),
                model=await self._model(row["model"], meter),
                meter=meter,
                session=session_id,
                fee_bps=float(self._fee_bps()),
                on_result=lambda rid, tool, args, result: self._store.add_result(
                    session_id, rid, tool, args, result, self.clock.now()
                ),
                on_step=lambda node, text: self._step(session_id, node, text),
                on_call=lambda node, done: self._call(session_id, node, done, meter),
            )
        except Exception as exc:  # the model would not open, say: the run ends, resumable
            await self._end(session_id, "failed", f"failed: {exc}", error=str(exc))
            return
        app = build(runtime).compile(checkpointer=self._saver)
        config = {"configurable": {"thread_id": session_id}, "recursion_limit": RECURSION_LIMIT}
        try:
            async for _ in app.astream(_graph_input(run["input"]), config, stream_mode="updates"):
                await self._spend(session_id, meter)
            state = await app.aget_state(config)
        except asyncio.CancelledError:
            await self._spend(session_id, meter)
            await self._end(session_id, "cancelled", "cancelled")
            raise
        except BudgetExceeded as exc:
            await self._spend(session_id, meter)
            await self._end(session_id, "stopped", str(exc), error=str(exc))
            return
        except Exception as exc:  # a failed run is kept, with why, and may be resumed
            expected = isinstance(exc, ValueError)  # a study with nothing to study, say
            log.error("Lab session %s failed: %s", session_id, exc, exc_info=not expected)
            await self._spend(session_id, meter)
            await self._end(session_id, "failed", f"failed: {exc}", error=str(exc))
            return
        await self._spend(session_id, meter)
        values = {k: state.values.get(k) for k in ("report", "untraced", "decision", "candidate")}
        waiting = dict(state.interrupts[0].value) if state.interrupts else None
        await self._end(session_id, "settle", "", values=values, waiting=waiting)

    async def _end(self, session_id: str, status: str, text: str, **extra: Any) -> None:
        await self.channel.send(
            {"op": "end", "session": session_id, "status": status, "text": text, **extra}
        )

    async def _step(self, session_id: str, node: str, text: str) -> None:
        if await self._store.add_entry(session_id, "step", node, text, self.clock.now()):
            await self.channel.send(
                {"op": "event", "session": session_id, "what": "step", "text": text, "node": node}
            )

    async def _call(self, session_id: str, node: str, done: Any, meter: Any) -> None:
        """Keep a model call for audit (what was asked, what came back, its price) and say
        what the session has spent."""
        tokens = done.prompt_tokens + done.completion_tokens
        text = f"{done.model}: {tokens:,} tokens, {done.cost_label}"
        now = self.clock.now()
        await self._store.add_entry(session_id, "call", node, text, now, done.to_json())
        await self._spend(session_id, meter)
        await self.channel.send(
            {
                "op": "event",
                "session": session_id,
                "what": "cost",
                "text": text,
                "node": node,
                "spent": meter.spent,
                "tokens": meter.prompt_tokens + meter.completion_tokens,
            }
        )

    async def _spend(self, session_id: str, meter: Any) -> None:
        await self._store.update(
            session_id,
            self.clock.now(),
            calls=meter.calls,
            prompt_tokens=meter.prompt_tokens,
            completion_tokens=meter.completion_tokens,
            unpriced_calls=meter.unpriced_calls,
            spent=meter.spent,
        )

    def _fee_bps(self) -> Decimal:
        fee = self.settings.trading.taker_fee
        return (fee if fee is not None else Decimal("0.001")) * 10_000

    async def _ready(self, imports: asyncio.Future[Any]) -> None:
        """The libraries loaded, then the configured model opened: its key comes out of the
        vault (scrypt, most of a second) while the user is still typing a goal. A model that
        does not open says why when a session asks for it."""
        await imports
        if self.settings.lab.model:
            try:
                await self._model(self.settings.lab.model)
            except Exception as exc:
                log.debug("the Lab's model did not open ahead of a session: %s", exc)

    async def _pong(self, call_id: int) -> None:
        """Answer once the libraries every run needs are loaded."""
        if self.warming is not None:
            with contextlib.suppress(Exception):
                await self.warming
        await self.channel.send({"op": "reply", "id": call_id, "value": True})

    # -- the model -----------------------------------------------------------------------------

    async def _check_model(self, call_id: int, name: str) -> None:
        from engine.lab import LabError

        try:
            await self._model(name)
        except LabError as exc:
            await self.channel.send({"op": "reply", "id": call_id, "error": str(exc)})
        except Exception as exc:
            log.error("the Lab could not open model %s: %s", name, exc, exc_info=True)
            await self.channel.send({"op": "reply", "id": call_id, "error": str(exc)})
        else:
            await self.channel.send({"op": "reply", "id": call_id, "value": True})

    async def _model(self, name: str | None, meter: Any = None) -> Any:
        from agents.models import NoModel

        if not name:
            return NoModel()
        return await _open_model(self.settings.lab, self.db, name, meter, self._keys)


def _graph_input(given: Message) -> Any:
    """What the graph is run with: a new session's state, the answer it waits on, or nothing
    (carry on from its checkpoint)."""
    if given["kind"] == "start":
        return given["state"]
    if given["kind"] == "resume":
        from langgraph.types import Command

        return Command(resume=given["value"])
    return None


async def _open_model(
    lab: Any, db: Any, name: str, meter: Any, keys: dict[tuple[Any, ...], Any]
) -> Any:
    """The session's model, with its key from the vault when the vault holds one (named
    ``[lab] key``, else the provider: openai, anthropic…), opened with OMC_VAULT_PASSPHRASE.

    An opened key is kept in ``keys`` until it is replaced or rotated: opening the vault
    derives its key with scrypt, a quarter of a second, which a session would pay at its
    start and at every resume. litellm loads (seconds, the first time) on a thread."""
    from pydantic import ValidationError

    from agents.models import ModelError, ModelSpec, UnpricedModel, open_model
    from engine import vault
    from engine.lab import LabError

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


@contextlib.asynccontextmanager
async def checkpointer(url: str) -> AsyncIterator[Any]:
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


# -- the process -------------------------------------------------------------------------------


WARM = (
    "agents.graph",  # LangGraph
    "agents.training",
    "engine.lab_port",
    "engine.trading.research",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "litellm",  # seconds to load: a model chosen at the desk then opens at once
)


def _warm() -> None:
    """What every run needs, loaded before the first is asked for (on a thread: the worker
    answers meanwhile), and out of the engine's process altogether."""
    import importlib

    for module in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    with contextlib.suppress(ImportError):
        from agents.graph import build

        # LangGraph compiles its first graph in a process in half a second
        build(None).compile()  # type: ignore[arg-type]
    gc.freeze()


async def _serve(settings: Any, inbox: asyncio.Queue[Message], out: int) -> None:
    warming = asyncio.ensure_future(asyncio.to_thread(_warm))
    await LabWorker(_PipeChannel(inbox, out), settings, warming).serve()


def main() -> None:
    """``python -m engine.lab_worker``, started by the engine; its first frame is the settings."""
    out = os.dup(1)
    os.dup2(2, 1)  # anything printed goes to stderr, never into the frames
    # Research is background work: where cores are few, the engine and the desk go first.
    with contextlib.suppress(OSError):
        os.nice(NICE)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    hello = _read_frame(0)
    if hello is None:
        return
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("omc").setLevel(hello.get("level", logging.INFO))
    for noisy in ("litellm", "LiteLLM", "openai", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL + 1)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[Message] = asyncio.Queue()

        def read() -> None:
            while (message := _read_frame(0)) is not None:
                loop.call_soon_threadsafe(inbox.put_nowait, message)
            os._exit(0)  # the engine has gone: so does everything it asked for, at once

        threading.Thread(target=read, name="omc-lab-inbox", daemon=True).start()
        await _serve(hello["settings"], inbox, out)

    asyncio.run(run())


if __name__ == "__main__":
    main()
