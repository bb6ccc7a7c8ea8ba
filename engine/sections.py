"""Typed, checked sections of settings: what ``engine.config`` is made of.

A section is a class of annotated keys, each with a default and what it is for::

    class SimSettings(Section):
        speed: float = Setting(1.0, gt=0, le=100_000, description="simulated seconds a second")

Making one checks every key (its type, its bounds, the section's own ``@checks``) and names
each problem by where it is (``sim.speed``), what was given and what is expected; a key the
section does not have is a problem too. Setting a key later is checked the same way. Values
are converted as a config file and the environment give them: ``"10"`` is a number for a
number's key, ``"true"`` a yes for a switch's, text a ``Secret`` for a secret's.

Why not pydantic: it did this job, and loading it (its core, its types, its plugin loader)
with the schemas it builds for a dozen sections was a third of every command's start, and
most of a command's that only asks the engine that owns the database. The settings need
eight kinds of value; this is them.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

_NO_DEFAULT = object()
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


class Secret:
    """Text never shown: its repr, and the settings' data for display, give ``**********``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))


class Invalid(ValueError):
    """Values a section cannot take: ``problems`` says each one (``loc``, ``type``, ``msg``,
    ``input``), as a config error names them."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems))
        self.problems = problems

    def errors(self) -> list[dict[str, Any]]:
        return self.problems


class Setting:
    """One key: its default (or ``factory``), bounds and description. Its type is the
    annotation of the key it is assigned to."""

    __slots__ = ("default", "factory", "description", "gt", "ge", "lt", "le", "name", "kind")

    def __init__(
        self,
        default: Any = _NO_DEFAULT,
        *,
        factory: Callable[[], Any] | None = None,
        description: str = "",
        gt: Any = None,
        ge: Any = None,
        lt: Any = None,
        le: Any = None,
    ) -> None:
        self.default, self.factory, self.description = default, factory, description
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.name = ""
        self.kind: Any = None

    @property
    def annotation(self) -> Any:
        """The key's type, without ``| None``."""
        return _inner(self.kind)

    def initial(self) -> Any:
        if self.factory is not None:
            return self.factory()
        if self.default is _NO_DEFAULT:
            section = _inner(self.kind)
            if isinstance(section, type) and issubclass(section, Section):
                return section()
            raise TypeError(f"{self.name} has no default")
        return self.default


def checks(*names: str) -> Callable[[Any], Any]:
    """Mark a classmethod as the check of the named keys: it gets the converted value and
    returns the value kept, or raises ``ValueError`` saying what is expected."""

    def mark(method: Any) -> Any:
        getattr(method, "__func__", method).__checks__ = names
        return method

    return mark


class Section:
    """Keys checked as they are made and set (see the module's doc)."""

    _fields: ClassVar[dict[str, Setting]] = {}
    _checks: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = typing.get_type_hints(cls)
        fields: dict[str, Setting] = {}
        for name in cls.__dict__.get("__annotations__", {}):
            if name.startswith("_"):
                continue
            given = cls.__dict__.get(name, _NO_DEFAULT)
            setting = given if isinstance(given, Setting) else Setting(given)
            setting.name = name
            setting.kind = hints[name]
            fields[name] = setting
            if name in cls.__dict__:
                delattr(cls, name)
        cls._fields = fields
        cls._checks = {
            key: attr
            for attr, value in cls.__dict__.items()
            for key in getattr(getattr(value, "__func__", value), "__checks__", ())
        }

    def __init__(self, **values: Any) -> None:
        problems: list[dict[str, Any]] = []
        checked = self._checked(values, (), problems)
        if problems:
            raise Invalid(problems)
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def fields(cls) -> dict[str, Setting]:
        """The section's keys, in their order."""
        return cls._fields

    @classmethod
    def _checked(
        cls, values: Any, loc: tuple[str, ...], problems: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Every key's value: given (converted and checked) or its default."""
        if isinstance(values, Section):
            values = values.to_data(secrets=True, plain=False)
        if not isinstance(values, dict):
            problems.append(_problem(loc, "dict_type", "expected a table of keys", values))
            return {}
        for name in values:
            if name not in cls._fields:
                problems.append(
                    _problem((*loc, str(name)), "extra_forbidden", "unknown key", values[name])
                )
        out: dict[str, Any] = {}
        for name, setting in cls._fields.items():
            if name in values:
                out[name] = cls._one(setting, values[name], (*loc, name), problems)
            else:
                out[name] = setting.initial()
        return out

    @classmethod
    def _one(
        cls, setting: Setting, value: Any, loc: tuple[str, ...], problems: list[dict[str, Any]]
    ) -> Any:
        before = len(problems)
        converted = _convert(setting.kind, value, loc, problems)
        if len(problems) > before:
            return None
        if converted is not None:
            problem = _bounds(setting, converted)
            if problem is not None:
                problems.append(_problem(loc, problem[0], problem[1], value))
                return None
        check = cls._checks.get(setting.name)
        if check is not None:
            try:
                converted = getattr(cls, check)(converted)
            except ValueError as exc:
                problems.append(_problem(loc, "value_error", str(exc), value))
                return None
        return converted

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        setting = self._fields.get(name)
        if setting is None:
            raise Invalid([_problem((name,), "extra_forbidden", "unknown key", value)])
        problems: list[dict[str, Any]] = []
        converted = self._one(setting, value, (name,), problems)
        if problems:
            raise Invalid(problems)
        object.__setattr__(self, name, converted)

    def to_data(self, *, secrets: bool = False, plain: bool = True) -> dict[str, Any]:
        """The keys as data: sections as dicts; ``plain`` also gives decimals as exact text;
        a secret is ``**********`` unless ``secrets``."""
        return {name: _data(getattr(self, name), secrets, plain) for name in self._fields}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in self._fields
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        keys = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({keys})"


def _data(value: Any, secrets: bool, plain: bool) -> Any:
    if isinstance(value, Section):
        return value.to_data(secrets=secrets, plain=plain)
    if isinstance(value, Secret):
        return value.get_secret_value() if secrets else str(value)
    if isinstance(value, Decimal) and plain:
        return str(value)
    if isinstance(value, list):
        return [_data(v, secrets, plain) for v in value]
    if isinstance(value, dict):
        return {k: _data(v, secrets, plain) for k, v in value.items()}
    return value


def _problem(loc: tuple[str, ...], kind: str, msg: str, value: Any) -> dict[str, Any]:
    return {"loc": loc, "type": kind, "msg": msg, "input": value}


def _inner(kind: Any) -> Any:
    """``X`` of ``X | None``."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        rest = [a for a in typing.get_args(kind) if a is not type(None)]
        return rest[0] if len(rest) == 1 else kind
    return kind


def _convert(kind: Any, value: Any, loc: tuple[str, ...], problems: list[dict[str, Any]]) -> Any:
    """``value`` as a ``kind``, or None with the problem said."""
    if value is None:
        if _inner(kind) is not kind:
            return None
        problems.append(_problem(loc, "missing", "a value is needed here", value))
        return None
    kind = _inner(kind)
    origin = typing.get_origin(kind)
    if isinstance(kind, type) and issubclass(kind, Section):
        checked = kind._checked(value, loc, problems)
        if isinstance(value, dict | Section) and len(checked) == len(kind._fields):
            section = object.__new__(kind)
            for name, one in checked.items():
                object.__setattr__(section, name, one)
            return section
        return None
    if origin is Literal:
        choices = typing.get_args(kind)
        if value in choices:
            return value
        said = " or ".join(repr(c) for c in choices)
        problems.append(_problem(loc, "literal_error", f"Input should be {said}", value))
        return None
    if origin is list:
        if not isinstance(value, list | tuple):
            problems.append(_problem(loc, "list_type", "Input should be a valid list", value))
            return None
        (item,) = typing.get_args(kind)
        return [_convert(item, v, (*loc, str(i)), problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(_problem(loc, "dict_type", "Input should be a valid dictionary", value))
            return None
        _, item = typing.get_args(kind)
        return {str(k): _convert(item, v, (*loc, str(k)), problems) for k, v in value.items()}
    convert = _SCALARS.get(kind)
    if convert is None:
        raise TypeError(f"settings cannot hold a {kind!r}")
    try:
        return convert(value)
    except (TypeError, ValueError, InvalidOperation) as exc:
        name, what = _EXPECTED[kind]
        said = str(exc) if isinstance(exc, _Said) else what
        problems.append(_problem(loc, name, said, value))
        return None


class _Said(ValueError):
    """A conversion's own words for what it expected."""


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TypeError


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeError


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip().replace("_", ""))
    raise TypeError


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip().replace("_", ""))
    raise TypeError


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, Decimal):
        found = value
    elif isinstance(value, int | float):
        found = Decimal(str(value))
    elif isinstance(value, str):
        found = Decimal(value.strip().replace("_", ""))
    else:
        raise TypeError
    if not found.is_finite():
        raise _Said("Input should be a finite number")
    return found


def _secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    reveal = getattr(value, "get_secret_value", None)  # another library's secret text
    if callable(reveal) and isinstance(reveal(), str):
        return Secret(reveal())
    raise TypeError


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    str: _str,
    bool: _bool,
    int: _int,
    float: _float,
    Decimal: _decimal,
    Secret: _secret,
}
_EXPECTED: dict[Any, tuple[str, str]] = {
    str: ("string_type", "Input should be a valid string"),
    bool: ("bool_parsing", "Input should be a valid boolean"),
    int: ("int_parsing", "Input should be a valid integer"),
    float: ("float_parsing", "Input should be a valid number"),
    Decimal: ("decimal_parsing", "Input should be a valid decimal"),
    Secret: ("string_type", "Input should be a valid string"),
}


def _bounds(setting: Setting, value: Any) -> tuple[str, str] | None:
    for bound, name, words, holds in (
        (setting.gt, "greater_than", "greater than", lambda v, b: v > b),
        (setting.ge, "greater_than_equal", "greater than or equal to", lambda v, b: v >= b),
        (setting.lt, "less_than", "less than", lambda v, b: v < b),
        (setting.le, "less_than_equal", "less than or equal to", lambda v, b: v <= b),
    ):
        if bound is not None and not holds(value, bound):
            return name, f"Input should be {words} {bound}"
    return None
