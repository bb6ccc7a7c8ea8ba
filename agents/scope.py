"""A research goal's scope: which market, bar size and period, and which ledgers to use.

``read_scope`` is the rule-based reading used with no model (and to check a model's reading):
it takes what the goal names and fills the rest with defaults it says it chose. The user
confirms or changes the scope before anything runs; ``amend`` applies a change typed in words
("4h, last 30 days, no sentiment") or given as fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ledgers.timeframes import TIMEFRAMES, bucket

DEFAULT_TIMEFRAME = "1h"
DEFAULT_DAYS = 90
MAX_DAYS = 3650

_NAMES = {
    "bitcoin": "BTC",
    "ether": "ETH",
    "ethereum": "ETH",
    "solana": "SOL",
    "ripple": "XRP",
    "cardano": "ADA",
    "dogecoin": "DOGE",
}
_WORD_TIMEFRAMES = {"hourly": "1h", "daily": "1d", "minute": "1m"}
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30}
_YEAR = re.compile(r"\b(?:a|one|1|last|past)\s+year\b|\b12\s+months\b|\b365\s+days\b", re.I)
_PERIOD = re.compile(r"\b(\d{1,4})\s*(days?|weeks?|months?)\b|\b(\d{1,4})d\b", re.I)
_TIMEFRAME = re.compile(r"\b(\d{1,2}[mhd])\b", re.I)
_PAIR = re.compile(r"\b([A-Za-z0-9]{2,10})/([A-Za-z]{2,6})\b")
_NO = r"\b(?:no|without|skip|ignore|exclude)\s+(?:the\s+)?"
_SENTIMENT = re.compile(r"\b(?:sentiment|news|social|mood|human)\b", re.I)
_CATALYSTS = re.compile(r"\b(?:catalysts?|events?|listings?|filings?)\b", re.I)


class ScopeError(ValueError):
    """A scope that cannot be researched; the message says what would do."""


@dataclass(frozen=True, slots=True)
class Scope:
    symbol: str
    timeframe: str = DEFAULT_TIMEFRAME
    days: int = DEFAULT_DAYS
    sentiment: bool = True
    catalysts: bool = True
    until: str = ""  # ISO, the open of the bar still forming when the scope was set
    defaults: tuple[str, ...] = ()  # what the goal did not say and was chosen here

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    def window(self) -> tuple[datetime, datetime]:
        until = datetime.fromisoformat(self.until)
        return until - timedelta(days=self.days), until

    def describe(self) -> str:
        ledgers = ["exchange"]
        ledgers += ["human (sentiment)"] if self.sentiment else []
        ledgers += ["catalyst"] if self.catalysts else []
        text = (
            f"{self.symbol} on {self.timeframe} bars over the last {self.days} days, "
            f"using the {', '.join(ledgers)} ledgers"
        )
        if self.defaults:
            text += f" (not in the goal, chosen by default: {', '.join(self.defaults)})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "defaults": list(self.defaults)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        return cls(**{**data, "defaults": tuple(data.get("defaults", ()))})


def read_scope(goal: str, symbols: Sequence[str], now: datetime, *, quote: str = "AUD") -> Scope:
    """The scope a goal names, with defaults for what it does not; the bar grid ends at the
    bar forming ``now`` (so the period is fixed once confirmed, and a resumed run reads the
    same data)."""
    defaults: list[str] = []
    symbol = _symbol(goal, symbols, quote)
    if symbol is None:
        if not symbols:
            raise ScopeError("the market lists no symbols")
        symbol = symbols[0]
        defaults.append(f"symbol {symbol}")
    timeframe = _timeframe(goal)
    if timeframe is None:
        timeframe = DEFAULT_TIMEFRAME
        defaults.append(f"{timeframe} bars")
    days = _days(goal)
    if days is None:
        days = DEFAULT_DAYS
        defaults.append(f"{days} days")
    scope = Scope(
        symbol=symbol,
        timeframe=timeframe,
        days=days,
        sentiment=not re.search(_NO + _SENTIMENT.pattern, goal, re.I),
        catalysts=not re.search(_NO + _CATALYSTS.pattern, goal, re.I),
        until=bucket(now, timeframe).isoformat(),
        defaults=tuple(defaults),
    )
    return check(scope, symbols)


def amend(scope: Scope, change: str | Mapping[str, Any], symbols: Sequence[str]) -> Scope:
    """The scope with the user's change: words ("4h, 30 days, no catalysts") or fields."""
    if isinstance(change, Mapping):
        known = {k: v for k, v in change.items() if k in Scope.__dataclass_fields__}
        unknown = sorted(set(change) - set(known))
        if unknown:
            raise ScopeError(f"unknown scope field {unknown[0]!r}")
        if "days" in known:
            known["days"] = _int(known["days"])
        return check(replace(scope, **known, defaults=()), symbols)
    fields: dict[str, Any] = {}
    quote = scope.symbol.split("/")[1]
    if (symbol := _symbol(change, symbols, quote)) is not None:
        fields["symbol"] = symbol
    if (timeframe := _timeframe(change)) is not None:
        fields["timeframe"] = timeframe
    if (days := _days(change)) is not None:
        fields["days"] = days
    if re.search(_NO + _SENTIMENT.pattern, change, re.I):
        fields["sentiment"] = False
    elif _SENTIMENT.search(change):
        fields["sentiment"] = True
    if re.search(_NO + _CATALYSTS.pattern, change, re.I):
        fields["catalysts"] = False
    elif _CATALYSTS.search(change):
        fields["catalysts"] = True
    if not fields:
        raise ScopeError(
            f"nothing to change in {change!r}: name a symbol, a bar size (1h, 4h, 1d), "
            "a period (30 days, 6 months) or say no sentiment / no catalysts"
        )
    return check(replace(scope, **fields, defaults=()), symbols)


def check(scope: Scope, symbols: Sequence[str]) -> Scope:
    if scope.symbol not in symbols:
        raise ScopeError(f"{scope.symbol} is not listed; listed: {', '.join(symbols[:12])}")
    if scope.timeframe not in TIMEFRAMES:
        raise ScopeError(
            f"unknown bar size {scope.timeframe!r}; use one of {', '.join(TIMEFRAMES)}"
        )
    if not 1 <= scope.days <= MAX_DAYS:
        raise ScopeError(f"a period of {scope.days} days; use 1 to {MAX_DAYS}")
    if scope.until:
        aligned = bucket(datetime.fromisoformat(scope.until), scope.timeframe).isoformat()
        scope = replace(scope, until=aligned)
    return scope


def _symbol(text: str, symbols: Sequence[str], quote: str) -> str | None:
    listed = {s.upper(): s for s in symbols}
    for base, q in _PAIR.findall(text):
        if f"{base}/{q}".upper() in listed:
            return listed[f"{base}/{q}".upper()]
    words = re.findall(r"[A-Za-z]{2,10}", text)
    for word in words:
        base = _NAMES.get(word.lower(), word if word.isupper() else "")
        if base and f"{base}/{quote}".upper() in listed:
            return listed[f"{base}/{quote}".upper()]
    return None


def _timeframe(text: str) -> str | None:
    for found in _TIMEFRAME.findall(text):
        if found.lower() in TIMEFRAMES:
            return found.lower()
    for word, timeframe in _WORD_TIMEFRAMES.items():
        if re.search(rf"\b{word}\b", text, re.I):
            return timeframe
    return None


def _days(text: str) -> int | None:
    if _YEAR.search(text):
        return 365
    match = _PERIOD.search(text)
    if match is None:
        return None
    if match.group(3):
        return int(match.group(3))
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ScopeError(f"days must be a whole number, got {value!r}") from None
