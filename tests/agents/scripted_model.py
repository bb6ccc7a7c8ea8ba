"""A scripted OpenAI-compatible model on loopback: it answers chat completions from a script.

Each request takes the next reply: a text, tool calls, an HTTP error, or a delay before another
reply. The server keeps every request it received (path, headers, JSON body) and every body it
sent, so a test can check what reached the wire and what came back. A test module's fixture
runs it with ``serve()``.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass(frozen=True, slots=True)
class Text:
    """A plain assistant answer; token counts default to a rough four characters a token."""

    content: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """An assistant turn that calls tools: (name, arguments as the raw JSON string) pairs."""

    calls: tuple[tuple[str, str], ...]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """An HTTP error in OpenAI's error shape, with a Retry-After header when given."""

    status: int
    message: str = "scripted failure"
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait ``seconds`` before answering with ``then`` (a caller with a short timeout leaves)."""

    seconds: float
    then: Text | ToolCalls | Failure


Reply = Text | ToolCalls | Failure | Delay


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it reached the server."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]


@dataclass
class ScriptedModel:
    """The server's script and its records; ``base_url`` is what a client points at."""

    base_url: str = ""
    replies: list[Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order, one per request."""
        with self.lock:
            self.replies.extend(replies)

    def take(self, received: Received) -> Reply:
        with self.lock:
            self.received.append(received)
            if not self.replies:
                return Failure(500, f"no reply scripted for request {len(self.received)}")
            return self.replies.pop(0)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _prompt_tokens(body: dict[str, Any]) -> int:
    # OpenAI's chat format costs about three tokens per message plus three to prime the reply.
    messages = body.get("messages", [])
    return 3 + sum(3 + _tokens(json.dumps(message.get("content") or "")) for message in messages)


def completion(reply: Text | ToolCalls, body: dict[str, Any]) -> dict[str, Any]:
    """The body OpenAI sends for a non-streamed chat completion."""
    if isinstance(reply, Text):
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        finish_reason = "stop"
        produced = reply.content
    else:
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for name, arguments in reply.calls
            ],
        }
        finish_reason = "tool_calls"
        produced = json.dumps(reply.calls)
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _prompt_tokens(body)
    answer = reply.completion_tokens if reply.completion_tokens is not None else _tokens(produced)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:29]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": answer,
            "total_tokens": prompt + answer,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_scripted",
    }


def _error(failure: Failure) -> dict[str, Any]:
    kind = "rate_limit_exceeded" if failure.status == 429 else "scripted_error"
    return {"error": {"message": failure.message, "type": kind, "param": None, "code": kind}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path not in PATHS:
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.model.take(Received(self.path, headers, body))
        if isinstance(reply, Delay):
            if self.server.model.stopping.wait(reply.seconds):
                return
            reply = reply.then
        if isinstance(reply, Failure):
            extra = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            self._send(reply.status, _error(reply), extra)
            return
        sent = completion(reply, body)
        self.server.model.sent.append(sent)
        self._send(200, sent)

    def _send(self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None):
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller timed out and left; that is what a delay is for

    def log_message(self, format: str, *args: object) -> None:
        pass  # ``received`` is the record; stderr lines would only clutter test output


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: ScriptedModel) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model = model


@contextmanager
def serve() -> Iterator[ScriptedModel]:
    """Run a scripted model on a free loopback port until the block ends."""
    model = ScriptedModel()
    server = _Server(model)
    model.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.01,), name="scripted-model", daemon=True
    )
    thread.start()
    try:
        yield model
    finally:
        model.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
