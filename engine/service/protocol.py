"""The attach protocol: what travels between an engine and a desk or command, and its checks.

After the websocket opens (``Authorization: Bearer TOKEN``) the engine sends
``{"type": "hello", "protocol": 1, "role": …, "leader": …, "engine": …}``; a leader then sends
``{"type": "snapshot", "snapshot": …}`` and its events as ``{"type": "events", "events": […]}``.
A request is ``{"id": 7, "method": "place_order", "params": {…}}``; its answer is
``{"type": "result", "id": 7, "result": …}`` or ``{"type": "error", "id": 7, "error":
{"kind": "usage" | "failed" | "unavailable" | "protocol" | "internal", "rule": …,
"message": …}}``. Values use ``engine.service.codec``.

A client that only sends commands (the command line) attaches at ``/attach?events=0``: it
gets the hello, with the engine's clock (``now``), and its answers; no snapshot, no events.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any

from engine import api, events

PROTOCOL = 1
ATTACH_PATH = "/attach"
ANSWERS_ONLY = "events=0"  # the attach URL's query of a client that wants only its answers

# Every command a client may send: the EngineAPI's, and what the command line asks besides.
METHODS: tuple[str, ...] = (
    "candles",
    "select",
    "run_job",
    "pause_job",
    "resume_job",
    "set_watchlist",
    "use_simulated_market",
    "ledger_stats",
    "browse",
    "export",
    "catalysts",
    "human_items",
    "mood",
    "glass",
    "trading",
    "preview_order",
    "place_order",
    "cancel_order",
    "cancel_all_orders",
    "set_kill_switch",
    "lots",
    "equity_curve",
    "tax_report",
    "strategies",
    "backtest",
    "backtests",
    "promote",
    "deploy",
    "undeploy",
    "deployments",
    "arm_live",
    "disarm_live",
    "orders",
    "fills",
    "instrument_steps",
    "service_status",
    "lab_start",
    "lab_answer",
    "lab_decide",
    "lab_resume",
    "lab_cancel",
    "lab_sessions",
    "lab_detail",
    "lab_defaults",
    "settings_view",
    "keys",
    "key_add",
    "key_remove",
    "key_rotate",
)


class ProtocolError(ValueError):
    """A request that is not one: unknown method, wrong arguments, a malformed message."""


class Unreachable(api.EngineUnavailable, ConnectionError):
    """The engine cannot be reached (or the connection dropped): nothing was done."""


class RemoteError(Exception):
    """The engine refused or failed a command; ``kind`` says which (usage, failed, …)."""

    def __init__(self, kind: str, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.rule = rule


# The engine's own exceptions a client re-raises as themselves, so a desk catches the same
# types attached as in-process (``except TradingUnavailable``).
ERROR_TYPES: dict[str, tuple[str, str]] = {
    "TradingUnavailable": ("engine.trading.commands", "TradingUnavailable"),
    "OrderInputError": ("engine.trading.model", "OrderInputError"),
    "StrategyError": ("engine.trading.strategies", "StrategyError"),
    "BacktestError": ("engine.trading.backtest", "BacktestError"),
    "LiveBrokerError": ("engine.trading.live", "LiveBrokerError"),
    "TradingError": ("engine.trading.trader", "TradingError"),
    "LabError": ("engine.lab", "LabError"),
    "VaultError": ("engine.vault", "VaultError"),
}
_COMBINED: dict[str, type[RemoteError]] = {}


def error_type(exc: BaseException) -> str | None:
    """The name of the engine's own exception type ``exc`` is (or derives from), if any."""
    for cls in type(exc).__mro__:
        if cls.__name__ in ERROR_TYPES and cls.__module__ == ERROR_TYPES[cls.__name__][0]:
            return cls.__name__
    return None


def remote_error(kind: str, message: str, rule: str | None, type_name: Any) -> RemoteError:
    """The error a client raises: a ``RemoteError`` that is also the engine's own type."""
    import importlib

    found = ERROR_TYPES.get(type_name) if isinstance(type_name, str) else None
    if found is None:
        return RemoteError(kind, message, rule)
    if type_name not in _COMBINED:
        base = getattr(importlib.import_module(found[0]), found[1])
        _COMBINED[type_name] = type(type_name, (base, RemoteError), {})
    cls = _COMBINED[type_name]
    exc = cls.__new__(cls)
    RemoteError.__init__(exc, kind, message, rule)
    return exc


def signatures() -> dict[str, tuple[inspect.Signature, dict[str, Any]]]:
    """Each method's signature and parameter hints, from the EngineAPI and its extensions."""
    from engine.jobs import JobStatus

    found = {}
    for name in METHODS:
        fn = getattr(api.EngineAPI, name, None) or getattr(api.CommandAPI, name)
        hints = typing.get_type_hints(fn, {**vars(events), **vars(api)}, {"JobStatus": JobStatus})
        found[name] = (inspect.signature(fn), hints)
    return found


def bind(
    method: str, params: Any, table: dict[str, tuple[inspect.Signature, dict[str, Any]]]
) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for ``method``; ``ProtocolError`` when they don't fit."""
    if method not in table:
        raise ProtocolError(f"unknown method {method[:60]!r}")
    if not isinstance(params, dict):
        raise ProtocolError(f"{method}: params must be an object")
    sig, hints = table[method]
    try:
        bound = sig.bind(None, **params)
    except TypeError as exc:
        raise ProtocolError(f"{method}: {exc}") from None
    for name, value in bound.arguments.items():
        if name == "self":
            continue
        if not _fits(value, hints.get(name, Any)):
            raise ProtocolError(f"{method}: {name} cannot be a {type(value).__name__}")
    bound.arguments.pop("self")
    return list(bound.args[1:]), dict(bound.kwargs)


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return isinstance(value, str | int | float | Decimal | NoneType) and not isinstance(
            value, bool
        )
    if origin in (UnionType, typing.Union):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is NoneType:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint in (str, Decimal, datetime):
        return isinstance(value, hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint) or (Any, Any)
        return isinstance(value, dict) and all(
            _fits(k, key) and _fits(v, item) for k, v in value.items()
        )
    return False


def failure(exc: BaseException) -> tuple[str, str, str | None]:
    """The kind, sentence and rule of an engine's exception, as a client is told it."""
    from engine.cli.common import explain

    if isinstance(exc, ProtocolError):
        return "usage", str(exc), None
    code, message = explain(exc) if isinstance(exc, Exception) else (None, str(exc))
    if _named(exc, "TradingUnavailable") or _named(exc, "LeaseLost"):
        return "unavailable", message, None
    if code == 2:
        return "usage", message, getattr(exc, "rule", None)
    if code == 1:
        return "failed", message, getattr(exc, "rule", None)
    if isinstance(exc, ValueError | KeyError):
        return "usage", str(exc).strip("'\""), None
    return "internal", message or type(exc).__name__, None


def _named(exc: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


Call = Callable[..., Any]
