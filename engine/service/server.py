"""The engine's one port: the attach websocket, and ``/healthz``, ``/readyz``, ``/metrics``.

Bad input never disturbs the engine or other clients: a malformed message, an unknown
method or wrong arguments get an error answer; a missing or wrong token is refused before the
websocket opens; an oversized message closes that connection with the reason. Every refusal is
logged. Quotes coalesce for a slow client; orders, fills and risk events are never dropped —
a client so far behind that its queue passes ``MAX_BEHIND`` is closed to resync instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.http11 import Request, Response

from engine.bus import Subscription
from engine.events import JobEvent, ModeEvent, ReadyEvent
from engine.service import codec
from engine.service.protocol import (
    ANSWERS_ONLY,
    ATTACH_PATH,
    PROTOCOL,
    ProtocolError,
    bind,
    error_type,
    failure,
    signatures,
)

if TYPE_CHECKING:
    from engine.config import Settings

log = logging.getLogger("omc.service")

# Events after which a client gets a fresh snapshot first: the desk repaints from it. Feed,
# quality and book events carry their own state (the client applies them to its snapshot);
# a job's event comes with the job's new status; the whole snapshot (watchlist sparklines,
# every job's next run) is sent again now and then as jobs run, not on every run.
RESYNC = (ModeEvent, ReadyEvent)
SNAPSHOT_EVERY = 30.0  # seconds: at most this stale, while jobs run
MAX_BEHIND = 20_000  # queued events a client may lag before it is closed to resync
MAX_INFLIGHT = 16  # requests one client may have running at once


@dataclass
class Role:
    """What this engine is right now, as clients and probes are told."""

    role: str  # leader | standby
    leader: str = ""  # the leader's address, for a standby's clients to follow
    engine: dict[str, Any] = field(default_factory=dict)  # book, data, venue, database


class AttachServer:
    """Serves one engine (or, on a standby, only hellos that point at the leader)."""

    def __init__(
        self,
        listen: str,
        token: str,
        *,
        engine: Any = None,
        role: Callable[[], Role],
        ready: Callable[[], Awaitable[list[str]]],
        metrics: Callable[[], tuple[bytes, str]] | None = None,
        tls: ssl.SSLContext | None = None,
        max_message: int = 1_048_576,
        advertise: str | None = None,
    ) -> None:
        host, _, port = listen.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)
        self._token = token.encode()
        self.engine = engine
        self._role = role
        self._ready = ready
        self._metrics = metrics
        self._tls = tls
        self._max_message = max_message
        self._advertise = advertise
        self._server: Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._cache: dict[int, tuple[Any, str]] = {}  # id(event) -> (event, its JSON)
        self.clients = 0
        self._table = signatures()

    @property
    def address(self) -> str:
        """Where others reach this server: on every interface, this machine's own address."""
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        host = self._host
        if self._advertise:
            host, _, given = (
                self._advertise.rpartition(":")
                if ":" in self._advertise
                else (self._advertise, "", "")
            )
            port = int(given) if given.isdigit() else port
        elif host in ("0.0.0.0", "::", ""):
            host = _own_address()
        return f"{'wss' if self._tls else 'ws'}://{host}:{port}"

    async def start(self) -> str:
        """Listen; on this machine a taken port gives way to any free one (the address is
        published, so clients find it all the same). Returns the address to publish."""
        try:
            return await self._listen()
        except OSError as exc:
            if self._port == 0 or self._host not in ("127.0.0.1", "localhost", "::1"):
                raise
            log.info("port %s is taken (%s); listening on a free one", self._port, exc.strerror)
            self._port = 0
            return await self._listen()

    async def _listen(self) -> str:
        self._server = await serve(
            self._session,
            self._host,
            self._port,
            process_request=self._http,
            ssl=self._tls,
            max_size=self._max_message,
            ping_interval=20,
            ping_timeout=20,
            server_header="omc-engine",
            logger=logging.getLogger("omc.service.ws"),
        )
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 3)

    def serve_engine(self, engine: Any) -> None:
        """A standby became the leader: from now on clients get this engine."""
        self.engine = engine

    # -- HTTP: probes, metrics and the token check -------------------------------------------

    async def _http(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return _text(HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            reasons = await self._ready()
            if reasons:
                return _text(HTTPStatus.SERVICE_UNAVAILABLE, "\n".join(reasons) + "\n")
            return _text(HTTPStatus.OK, "ready\n")
        if path == "/metrics" and self._metrics is not None:
            body, content_type = self._metrics()
            headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body))})
            return Response(200, "OK", headers, body)
        if path != ATTACH_PATH:
            return _text(HTTPStatus.NOT_FOUND, "not found: try /attach, /healthz, /readyz\n")
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self._token):
            said = "a wrong token" if token else "no token"
            log.warning("attach refused from %s: %s", _peer(conn), said)
            return _text(HTTPStatus.UNAUTHORIZED, "a valid bearer token is needed\n")
        return None

    # -- the websocket ------------------------------------------------------------------------

    async def _session(self, ws: ServerConnection) -> None:
        role = self._role()
        hello = {
            "type": "hello",
            "protocol": PROTOCOL,
            "role": role.role,
            "leader": role.leader,
            "engine": role.engine,
        }
        if role.role != "leader" or self.engine is None:
            # A load balancer sends clients to any engine: a standby carries them through to
            # the leader, and only when it cannot reach it says where the leader is.
            if role.leader and await self._proxy(ws, role.leader):
                return
            await ws.send(json.dumps(hello))
            await ws.close(1013, f"standby; the leader is at {role.leader or 'unknown'}"[:120])
            return
        engine = self.engine
        self.clients += 1
        watching = ANSWERS_ONLY not in request_query(ws).split("&")
        # Subscribed before the snapshot: nothing falls between.
        sub: Subscription | None = engine.bus.subscribe() if watching else None
        pump = asyncio.create_task(self._pump(ws, sub)) if sub is not None else None
        inflight = asyncio.Semaphore(MAX_INFLIGHT)
        try:
            hello["speed"] = engine.settings.sim.speed if engine.feed.source.simulated else 1.0
            hello["now"] = engine.now().isoformat()
            await ws.send(json.dumps(hello))
            if watching:
                snapshot = codec.encode(engine.snapshot())
                await ws.send(json.dumps({"type": "snapshot", "snapshot": snapshot}))
            async for raw in ws:
                await inflight.acquire()
                task = asyncio.create_task(self._answer(ws, engine, raw))
                self._sessions.add(task)
                task.add_done_callback(lambda t: (self._sessions.discard(t), inflight.release()))
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 1009:
                log.warning("attach: %s sent a message over the size limit", _peer(ws))
        finally:
            self.clients -= 1
            if sub is not None and pump is not None:
                sub.close()
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

    async def _proxy(self, ws: ServerConnection, leader: str) -> bool:
        """Relay this client to the leader and back; False if the leader cannot be reached."""
        from websockets.asyncio.client import connect

        from engine.service.remote import attach_url

        query = request_query(ws)
        try:
            upstream = await connect(
                attach_url(leader) + (f"?{query}" if query else ""),
                additional_headers={"Authorization": f"Bearer {self._token.decode()}"},
                open_timeout=5,
                max_size=self._max_message,
                ssl=ssl.create_default_context() if leader.startswith("wss") else None,
            )
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            log.warning("standby cannot reach the leader at %s: %s", leader, exc)
            return False
        self.clients += 1

        async def relay(source: Any, sink: Any) -> None:
            with contextlib.suppress(ConnectionClosed):
                async for message in source:
                    await sink.send(message)

        try:
            legs = [
                asyncio.create_task(relay(upstream, ws)),
                asyncio.create_task(relay(ws, upstream)),
            ]
            _, pending = await asyncio.wait(legs, return_when=asyncio.FIRST_COMPLETED)
            for leg in pending:
                leg.cancel()
        finally:
            self.clients -= 1
            await upstream.close()
            await ws.close(1012, "the leader went away; reconnect")
        return True

    async def _pump(self, ws: ServerConnection, sub: Subscription) -> None:
        sent = time.monotonic()  # the snapshot sent on connecting
        try:
            while True:
                if sub.pending > MAX_BEHIND:
                    log.warning("attach: %s fell %d events behind; closing", _peer(ws), sub.pending)
                    await ws.close(1013, "too far behind; reconnect to resync")
                    return
                batch = await sub.batch()
                if not batch:
                    return
                jobs = {e.job for e in batch if isinstance(e, JobEvent)}
                if self.engine is not None and (
                    any(isinstance(e, RESYNC) for e in batch)
                    or (jobs and time.monotonic() - sent > SNAPSHOT_EVERY)
                ):
                    snapshot = codec.encode(self.engine.snapshot())
                    await ws.send(json.dumps({"type": "snapshot", "snapshot": snapshot}))
                    sent = time.monotonic()
                elif jobs and self.engine is not None:
                    statuses = [codec.encode(s) for s in self._job_statuses(sorted(jobs))]
                    await ws.send(json.dumps({"type": "jobs", "jobs": statuses}))
                events = ",".join(self._encoded(e) for e in batch)
                await ws.send(f'{{"type":"events","events":[{events}]}}')
        except ConnectionClosed:
            return

    def _job_statuses(self, names: list[str]) -> list[Any]:
        found = []
        for name in names:
            with contextlib.suppress(KeyError, AttributeError):  # a job gone, or no runner
                found.append(self.engine.jobs.status(name))
        return found

    def _encoded(self, event: Any) -> str:
        """An event's JSON, made once however many clients it goes to."""
        key = id(event)
        found = self._cache.get(key)
        if found is not None and found[0] is event:
            return found[1]
        if len(self._cache) > 20_000:
            self._cache.clear()
        text = json.dumps(codec.encode(event), separators=(",", ":"))
        self._cache[key] = (event, text)
        return text

    async def _answer(self, ws: ServerConnection, engine: Any, raw: str | bytes) -> None:
        request_id: Any = None
        try:
            try:
                message = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise ProtocolError("malformed JSON") from None
            if not isinstance(message, dict):
                raise ProtocolError("a request is a JSON object")
            request_id = message.get("id")
            if not isinstance(request_id, int | str) or isinstance(request_id, bool):
                request_id = None
                raise ProtocolError("a request needs an id (number or text)")
            method = message.get("method")
            if not isinstance(method, str):
                raise ProtocolError("a request needs a method")
            try:
                params = codec.decode(message.get("params", {}))
            except codec.CodecError as exc:
                raise ProtocolError(f"{method}: {exc}") from None
            args, kwargs = bind(method, params, self._table)
            result = getattr(engine, method)(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            reply = {"type": "result", "id": request_id, "result": codec.encode(result)}
        except Exception as exc:
            kind, text, rule = failure(exc)
            if kind == "internal":
                log.error("attach request failed", exc_info=exc)
            elif kind in ("usage", "protocol"):
                log.info("attach: refused a request from %s: %s", _peer(ws), text)
            reply = {
                "type": "error",
                "id": request_id,
                "error": {"kind": kind, "message": text, "rule": rule, "type": error_type(exc)},
            }
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(reply))


def _text(status: HTTPStatus, body: str) -> Response:
    data = body.encode()
    headers = Headers(
        {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(data))}
    )
    return Response(status.value, status.phrase, headers, data)


def _peer(conn: ServerConnection) -> str:
    try:
        host, port, *_ = conn.remote_address
        return f"{host}:{port}"
    except (TypeError, ValueError, OSError):
        return "a client"


def attach_server(settings: Settings, listen: str | None = None, **parts: Any) -> AttachServer:
    """The server of this engine's ``[service]`` settings (``listen`` overrides where):
    ``parts`` are its engine, role, readiness and metrics."""
    from engine.service.token import engine_token

    s = settings.service
    return AttachServer(
        listen or s.listen,
        engine_token(settings),
        tls=tls_context(s.tls_cert, s.tls_key),
        max_message=s.max_message_bytes,
        advertise=s.advertise,
        **parts,
    )


def _own_address() -> str:
    """This machine's address as others see it (on ECS, the task's private address)."""
    import socket

    try:
        found = socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
    return found


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server TLS context from PEM files, or None for plain ws:// on a trusted network."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise ValueError("TLS needs both [service] tls_cert and tls_key")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def request_query(ws: ServerConnection) -> str:
    """The query of the request that opened ``ws`` ("" for none)."""
    request = ws.request
    return request.path.partition("?")[2] if request is not None else ""
