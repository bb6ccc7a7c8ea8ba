"""Plain JSON for everything that crosses the attach websocket: events, views and arguments.

A dataclass travels as ``{"$": "ClassName", field: value, …}``; a ``Decimal`` as
``{"$d": "0.1"}`` so it stays exact; a ``datetime`` as ``{"$t": ISO}`` (aware, UTC); a tuple as
``{"$u": [...]}`` so views decode to the same frozen shapes. Only the engine's own types decode:
a message naming any other class is refused, never instantiated.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine import api, events


class CodecError(ValueError):
    """A message that is not a well-formed value of the engine's types."""


def _registry() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in (api, events):
        for name, value in vars(module).items():
            if dataclasses.is_dataclass(value) and isinstance(value, type):
                found[name] = value
    return found


_TYPES: dict[str, type] = {}


def _types() -> dict[str, type]:
    if not _TYPES:
        _TYPES.update(_registry())
    return _TYPES


def _type(name: str) -> type | None:
    """The engine's type of that name. A job's status is the scheduler's own type: its module
    (the scheduler's, the market's records) is loaded when a message first holds one, not by
    every command that attaches."""
    found = _types().get(name)
    if found is None and name == "JobStatus":
        from engine.jobs import JobStatus

        found = _TYPES[name] = JobStatus
    return found


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return found


def encode(value: Any) -> Any:
    """The engine's value as JSON-ready data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return {"$d": str(value)}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if _type(name) is not type(value):
            raise CodecError(f"{name} does not travel over attach")
        out: dict[str, Any] = {"$": name}
        for field in _fields(type(value)):
            out[field] = encode(getattr(value, field))
        return out
    if isinstance(value, tuple):
        return {"$u": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise CodecError("only text keys travel over attach")
        if any(k.startswith("$") for k in value):
            raise CodecError("keys starting with $ are reserved")
        return {k: encode(v) for k, v in value.items()}
    raise CodecError(f"a {type(value).__name__} does not travel over attach")


def decode(data: Any, *, depth: int = 0) -> Any:
    """The engine's value from JSON data; ``CodecError`` for anything else."""
    if depth > 32:
        raise CodecError("value nested too deeply")
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list):
        return [decode(v, depth=depth + 1) for v in data]
    if not isinstance(data, dict):
        raise CodecError(f"unexpected {type(data).__name__}")
    if "$d" in data:
        return _decimal(data["$d"])
    if "$t" in data:
        return _time(data["$t"])
    if "$u" in data:
        items = data["$u"]
        if not isinstance(items, list):
            raise CodecError("a tuple must hold a list")
        return tuple(decode(v, depth=depth + 1) for v in items)
    if "$" in data:
        return _dataclass(data, depth)
    return {str(k): decode(v, depth=depth + 1) for k, v in data.items()}


def _decimal(text: Any) -> Decimal:
    if not isinstance(text, str):
        raise CodecError("a decimal travels as text")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CodecError(f"not a decimal: {text[:40]!r}") from None


def _time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise CodecError("a time travels as ISO text")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CodecError(f"not an ISO time: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise CodecError(f"a time without a zone: {text[:40]!r}")
    return value


def _dataclass(data: dict[str, Any], depth: int) -> Any:
    name = data["$"]
    cls = _type(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown type {str(name)[:40]!r}")
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    extra = set(data) - names - {"$"}
    if extra:
        raise CodecError(f"{name} has no field {sorted(extra)[0]!r}")
    kwargs = {k: decode(v, depth=depth + 1) for k, v in data.items() if k != "$"}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise CodecError(f"{name}: {exc}") from None
