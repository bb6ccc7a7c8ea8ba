"""``RemoteEngine``: the EngineAPI over the attach websocket, so the desk cannot tell.

It keeps the engine's last snapshot, republishes the engine's events on a bus of its own (quotes
coalesce for a slow desk like anywhere else), and answers commands as request/response pairs.
When the connection drops it reconnects with backoff and resyncs from a fresh snapshot; a
command while it is down fails at once with ``Unreachable`` and never hangs. A standby answers
with the leader's address, and the client follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from engine.api import Snapshot
from engine.bus import EventBus
from engine.events import BookEvent, Event, FeedEvent, ModeEvent, QualityEvent, QuoteEvent
from engine.service import codec
from engine.service.protocol import (
    ANSWERS_ONLY,
    ATTACH_PATH,
    PROTOCOL,
    Unreachable,
    remote_error,
)

log = logging.getLogger("omc.remote")

BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
LONG_CALLS = {"backtest": 600.0, "export": 600.0, "run_job": 300.0}
CALL_SECONDS = 30.0


def attach_url(address: str) -> str:
    """``host:port``, ``ws://host:port`` or ``wss://host[:port]`` → the attach URL."""
    if "://" not in address:
        address = f"ws://{address}"
    parts = urlsplit(address)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(
            f"{address!r} is not an engine address; expected ws://HOST:PORT or wss://…"
        )
    return f"{parts.scheme}://{parts.netloc}{ATTACH_PATH}"


def _is_job(value: Any) -> bool:
    from engine.jobs import JobStatus

    return isinstance(value, JobStatus)


def _loopback(url: str) -> bool:
    """Whether ``url`` names this machine (by address, or as localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RemoteEngine:
    def __init__(
        self,
        address: str,
        token: str,
        *,
        reconnect: bool = True,
        tls: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        events: bool = True,
    ) -> None:
        """``events=False`` attaches for answers only (a command): no snapshot, no events."""
        self.url = attach_url(address)
        self._events = events
        self._token = token
        self._reconnect = reconnect
        self._tls = tls
        self._connect_timeout = connect_timeout
        self.bus = EventBus()
        self._ws: ClientConnection | None = None
        self._snapshot: Snapshot | None = None
        self._clock: tuple[datetime, float, float] | None = None  # engine now, monotonic, speed
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self.hello: dict[str, Any] = {}
        self.connected = asyncio.Event()

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, following a standby to its leader; ``Unreachable`` if nobody answers."""
        await self._connect()
        self._reader = asyncio.create_task(self._read(), name="omc-remote")

    async def stop(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        self._fail_pending("the desk is closing")
        self.bus.close()

    async def _connect(self) -> None:
        url, hops = self.url, 0
        while True:
            ws = await self._open(url)
            hello = json.loads(await ws.recv())
            if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL:
                await ws.close()
                raise Unreachable(f"{url} speaks another protocol ({hello.get('protocol')})")
            if hello.get("role") == "leader":
                break
            await ws.close()
            leader = hello.get("leader") or ""
            hops += 1
            if not leader or hops > 3:
                raise Unreachable(f"the engine at {self.host} is a standby and knows no leader")
            log.info("%s is a standby; following the leader at %s", url, leader)
            url = attach_url(leader)
        if not self._events:
            self.url, self._ws, self.hello = url, ws, hello
            self._clock = (_engine_now(hello), time.monotonic(), _speed(hello))
            self.connected.set()
            return
        message = json.loads(await ws.recv())
        if message.get("type") != "snapshot":
            await ws.close()
            raise Unreachable(f"{url} sent no snapshot")
        self.url, self._ws, self.hello = url, ws, hello
        self._take_snapshot(codec.decode(message["snapshot"]))
        self.connected.set()

    async def _open(self, url: str) -> ClientConnection:
        try:
            return await connect(
                url if self._events else f"{url}?{ANSWERS_ONLY}",
                additional_headers={"Authorization": f"Bearer {self._token}"},
                ssl=(self._tls or True) if url.startswith("wss") else None,
                open_timeout=self._connect_timeout,
                max_size=None,
                ping_interval=20,
                # Compression pays across a network; on this machine it only costs time.
                compression=None if _loopback(url) else "deflate",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise Unreachable(
                    f"the engine at {urlsplit(url).netloc} refused the token"
                ) from None
            raise Unreachable(f"the engine at {urlsplit(url).netloc} answered {status}") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise Unreachable(
                f"cannot reach the engine at {urlsplit(url).netloc}: {_why(exc)}"
            ) from None

    def _take_snapshot(self, snap: Snapshot) -> None:
        self._clock = (snap.now, time.monotonic(), _speed(self.hello))
        self._snapshot = replace(snap, mode=self._mode(snap.mode))

    def _mode(self, mode: ModeEvent, *, down: bool = False) -> ModeEvent:
        where = f"reconnecting… {self.host}" if down else f"attached · {self.host}"
        return replace(mode, engine=where)

    async def _read(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                assert self._ws is not None
                async for raw in self._ws:
                    self._dispatch(json.loads(raw))
                    attempt = 0
            except (ConnectionClosed, OSError, ValueError) as exc:
                log.info("attach connection lost: %s", exc)
            if self._closing or not self._reconnect:
                self.connected.clear()
                self._fail_pending("the connection to the engine closed")
                return
            self._went_down()
            while not self._closing:
                await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
                try:
                    await self._connect()
                except (Unreachable, OSError, ValueError) as exc:
                    log.info("reconnect failed: %s", exc)
                    continue
                assert self._snapshot is not None
                self.bus.publish(self._snapshot.mode)  # the desk resyncs from the snapshot
                self.bus.publish(FeedEvent("engine", "ok", self.now()))
                break

    def _went_down(self) -> None:
        self.connected.clear()
        self._fail_pending(f"the connection to the engine at {self.host} dropped")
        if self._snapshot is not None:
            mode = self._mode(self._snapshot.mode, down=True)
            self._snapshot = replace(self._snapshot, mode=mode)
            self.bus.publish(mode)
            now = self.now()
            self.bus.publish(FeedEvent("engine", "down", now, f"reconnecting to {self.host}"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "events":
            events = [codec.decode(e) for e in message.get("events", [])]
            self.bus.publish_many([self._local(e) for e in events if isinstance(e, Event)])
        elif kind in ("result", "error"):
            future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if future is None or future.done():
                return
            if kind == "result":
                future.set_result(codec.decode(message.get("result")))
            else:
                err = message.get("error") or {}
                future.set_exception(
                    remote_error(
                        err.get("kind", "failed"),
                        err.get("message", ""),
                        err.get("rule"),
                        err.get("type"),
                    )
                )
        elif kind == "snapshot":
            self._take_snapshot(codec.decode(message["snapshot"]))
        elif kind == "jobs" and self._snapshot is not None:
            fresh = {s.name: s for s in codec.decode(message.get("jobs", [])) if _is_job(s)}
            jobs = [fresh.pop(j.name, j) for j in self._snapshot.jobs]
            self._snapshot = replace(self._snapshot, jobs=(*jobs, *fresh.values()))

    def _local(self, event: Event) -> Event:
        if isinstance(event, QuoteEvent) and self._snapshot is not None:
            # Between snapshots the watchlist's prices follow the quotes, as the engine's do.
            rows = self._snapshot.watchlist
            if any(r.symbol == event.symbol for r in rows):
                fresh = tuple(
                    replace(r, quote=event, status="ok") if r.symbol == event.symbol else r
                    for r in rows
                )
                self._snapshot = replace(self._snapshot, watchlist=fresh)
        if isinstance(event, ModeEvent):
            event = self._mode(event)
            if self._snapshot is not None:
                self._snapshot = replace(self._snapshot, mode=event)
        elif self._snapshot is not None:
            # The snapshot follows what these events say, as the engine's own does.
            if isinstance(event, FeedEvent):
                feeds = self._snapshot.feeds
                if any(f.feed == event.feed for f in feeds):
                    feeds = tuple(event if f.feed == event.feed else f for f in feeds)
                else:
                    feeds = (*feeds, event)
                self._snapshot = replace(self._snapshot, feeds=feeds)
            elif isinstance(event, QualityEvent):
                self._snapshot = replace(self._snapshot, quality=event)
            elif isinstance(event, BookEvent):  # books are fetched for the selected symbol
                self._snapshot = replace(self._snapshot, book=event, selected=event.symbol)
        return event

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unreachable(why))
        self._pending.clear()

    async def call(self, method: str, **params: Any) -> Any:
        """One command; ``Unreachable`` at once while disconnected, ``RemoteError`` if refused."""
        if self._ws is None and not self._closing:
            # Asked before the first connection is up (a desk selecting its first symbol):
            # that waits for the connection; only a dropped one fails at once.
            try:
                await asyncio.wait_for(self.connected.wait(), self._connect_timeout * 2)
            except TimeoutError:
                raise Unreachable(f"cannot reach the engine at {self.host}") from None
        ws = self._ws
        if ws is None or not self.connected.is_set():
            raise Unreachable(f"the engine at {self.host} is unreachable (reconnecting…)")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = {"id": request_id, "method": method, "params": codec.encode(params)}
        try:
            await ws.send(json.dumps(message))
        except ConnectionClosed:
            self._pending.pop(request_id, None)
            raise Unreachable(f"the engine at {self.host} is unreachable (reconnecting…)") from None
        try:
            return await asyncio.wait_for(future, LONG_CALLS.get(method, CALL_SECONDS))
        except TimeoutError:
            self._pending.pop(request_id, None)
            raise Unreachable(
                f"the engine at {self.host} did not answer {method} in time"
            ) from None

    # -- the EngineAPI ---------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            if not self._events and self.connected.is_set():
                raise Unreachable("attached for answers only: the engine sends no snapshot")
            raise Unreachable("not attached yet")
        return self._snapshot

    def now(self) -> datetime:
        if self._clock is None:
            raise Unreachable("not attached yet")
        then, mono, speed = self._clock
        return then + timedelta(seconds=(time.monotonic() - mono) * speed)

    def events(self) -> AsyncIterator[Event]:
        return self.bus.stream()

    def __getattr__(self, name: str) -> Any:
        """Every command of the EngineAPI (and the command line's) is a call to the engine."""
        from engine.service.protocol import METHODS

        if name not in METHODS:
            raise AttributeError(name)

        async def command(*args: Any, **kwargs: Any) -> Any:
            if args:
                kwargs = {**_positional(name, args), **kwargs}
            return await self.call(name, **kwargs)

        command.__name__ = name
        return command


def _speed(hello: dict[str, Any]) -> float:
    return float(hello.get("speed") or 1.0)


def _engine_now(hello: dict[str, Any]) -> datetime:
    """The engine's clock as its hello gives it (this machine's, from an engine before it
    said so)."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        now = datetime.fromisoformat(hello["now"])
        if now.tzinfo is not None:
            return now
    return datetime.now(UTC)


def _positional(method: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """Name positional arguments by the EngineAPI's signature of ``method``."""
    import inspect

    from engine import api

    fn = getattr(api.EngineAPI, method, None) or getattr(api.CommandAPI, method)
    names = [p for p in inspect.signature(fn).parameters if p != "self"]
    return dict(zip(names, args, strict=False))


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the engine running?)"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__
