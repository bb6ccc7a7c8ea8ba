"""From a source's raw post to a HumanItem: a plain-text excerpt, a sentiment score, its coins.

Shared by the four Human-ledger collectors, together with the few rules they all follow on
malformed responses and secrets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from ledgers.human.currencies import CurrencyExtractor
from ledgers.human.sentiment import score
from ledgers.intel import HumanItem
from ledgers.sources.base import SourceError

EXCERPT_CHARS = 500

# What mapping code trips over when a response is not in the documented shape.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)

_SPACE = re.compile(r"\s+")
_BLOCKS = frozenset({"p", "br", "div", "li", "ul", "ol", "tr", "td", "h1", "h2", "h3", "h4"})
_HIDDEN = frozenset({"script", "style", "noscript", "iframe", "template"})


class _Text(HTMLParser):
    """Collects the visible text of an HTML fragment; entities are decoded on the way."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(html: str) -> str:
    """The visible text of an HTML fragment (or of HTML-escaped text) on one line."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return _SPACE.sub(" ", "".join(parser.parts)).strip()


def excerpt(html: str, limit: int = EXCERPT_CHARS) -> str:
    """Plain text of ``html`` cut at a word boundary to at most ``limit`` characters."""
    text = plain_text(html)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"


def human_item(
    *,
    source: str,
    external_id: str,
    title: str,
    url: str,
    published: datetime,
    body: str = "",
    extractor: CurrencyExtractor,
    currencies: Sequence[str] = (),
    votes: dict[str, int] | None = None,
) -> HumanItem:
    """A scored item: title and body are reduced to plain text, the score reads both, and the
    coins are ``currencies`` when the source tagged any, else what ``extractor`` finds."""
    title = plain_text(title)
    body = excerpt(body)
    text = f"{title}. {body}" if body else title
    coins = [code.upper() for code in currencies if code]
    if not coins:
        coins = extractor.extract(text)
    return HumanItem(
        source=source,
        external_id=external_id,
        title=title,
        url=url,
        published=published,
        score=score(text),
        body=body,
        currencies=tuple(dict.fromkeys(coins)),
        votes=votes,
    )


def unique(items: Iterable[HumanItem]) -> tuple[HumanItem, ...]:
    """First of each (source, external_id): one upsert statement must not touch a row twice."""
    seen: dict[tuple[str, str], HumanItem] = {}
    for item in items:
        seen.setdefault((item.source, item.external_id), item)
    return tuple(seen.values())


def required_text(record: Mapping[str, Any], key: str) -> str:
    """``record[key]`` as a non-blank string; anything else is a malformed record."""
    value = record[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} should be a non-empty string, got {type(value).__name__}")
    return value.strip()


def required_id(record: Mapping[str, Any], key: str) -> str:
    """``record[key]`` as an id: an integer or a non-blank string, returned as a string."""
    value = record[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return required_text(record, key)


def from_unix(seconds: Any) -> datetime:
    """Seconds since the Unix epoch (a number or a numeric string) as aware UTC."""
    if isinstance(seconds, bool):
        raise TypeError("a timestamp cannot be a boolean")
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"timestamp {seconds!r} is out of range")
    return datetime.fromtimestamp(value, tz=UTC)


def from_iso(text: Any) -> datetime:
    """An ISO 8601 timestamp with its offset (``…Z`` included) as aware UTC."""
    if not isinstance(text, str):
        raise TypeError(f"a timestamp should be a string, got {type(text).__name__}")
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return when.astimezone(UTC)


@contextmanager
def malformed(source: str, what: str) -> Iterator[None]:
    """Turn a response that is not in the documented shape into a ``SourceError``."""
    try:
        yield
    except MALFORMED as exc:
        raise SourceError(f"{source}: malformed {what} ({type(exc).__name__}: {exc})") from None


def masked(error: SourceError, *secrets: str | None) -> SourceError:
    """``error`` with every one of ``secrets`` in its message replaced by ``***``."""
    message = str(error)
    hidden = [secret for secret in secrets if secret and secret in message]
    if not hidden:
        return error
    for secret in hidden:
        message = message.replace(secret, "***")
    return SourceError(message, transient=error.transient)
