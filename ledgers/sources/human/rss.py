"""News headlines from RSS and Atom feeds, parsed with feedparser.

Run it as one collector per feed (``RssCollector(...).per_feed()``): each is named
``rss:<feed>``, so a broken feed fails its own run, keeps its own health and rate limit, and
never holds back the others. A single ``RssCollector`` over several feeds is all-or-nothing.

Entries without a title, a link or a date are skipped: they cannot be shown, opened or placed
against prices, and inventing a date (the time we saw them) would make old news look fresh.
A feed where *no* entry survives that is treated as malformed, since it means the format
changed under us.

An item's text is the first non-empty of its content (``content:encoded``, Atom ``content``),
description and summary. Links lose their tracking parameters (``utm_*`` and click ids), so
the same article reached from a newsletter and from the feed is one row.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import feedparser

from ledgers.human.currencies import CurrencyExtractor
from ledgers.intel import Collected, HumanItem
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy
from ledgers.sources.human.items import human_item, plain_text, unique

DEFAULT_FEEDS: Mapping[str, str] = MappingProxyType(
    {
        "coindesk": "https://www.coindesk.com/arc/outboundfeeds/rss/",
        "cointelegraph": "https://cointelegraph.com/rss",
        "decrypt": "https://decrypt.co/feed",
        "cryptoslate": "https://cryptoslate.com/feed/",
        "bitcoinmagazine": "https://bitcoinmagazine.com/.rss/full/",
    }
)

_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8"

# An empty <dc:description/>, <content:encoded/> or <summary/> (any prefix, no text or an empty
# CDATA). feedparser files all three under one key, so an empty one can replace the full
# <description> before it, depending on their order; dropping the empty ones first keeps it.
_EMPTY_TEXT = re.compile(
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:description|encoded|summary))(?=[\s/>])[^<>]*?"
    rb"(?:/>|>\s*(?:<!\[CDATA\[\s*\]\]>)?\s*</\1\s*>)"
)
_TRACKERS = frozenset({"fbclid", "gclid", "msclkid", "mc_cid", "mc_eid"})


class RssCollector:
    """Headlines from ``feeds`` (key → url); items are sourced ``rss:<key>``."""

    ledger = "human"

    def __init__(
        self,
        feeds: Mapping[str, str] = DEFAULT_FEEDS,
        *,
        interval: float = 600.0,
        extractor: CurrencyExtractor | None = None,
        name: str = "rss",
    ) -> None:
        if not feeds:
            raise ValueError("at least one feed is needed")
        self.feeds = dict(feeds)
        self.interval = interval
        self.extractor = extractor if extractor is not None else CurrencyExtractor()
        self.name = name

    def per_feed(self) -> list[RssCollector]:
        """One collector per feed, named ``rss:<key>``, so feeds fail and recover alone."""
        return [
            RssCollector(
                {key: url}, interval=self.interval, extractor=self.extractor, name=f"rss:{key}"
            )
            for key, url in self.feeds.items()
        ]

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        items: list[HumanItem] = []
        for key, url in self.feeds.items():
            items.extend(await self._feed(http, key, url))
        return Collected(human=unique(items))

    async def _feed(self, http: HttpPolicy, key: str, url: str) -> list[HumanItem]:
        response = await http.request(self.name, "GET", url, headers={"Accept": _ACCEPT})
        # A file object, never the text: feedparser would fetch a body that looks like a URL
        # and open one that names a local file.
        parsed = feedparser.parse(io.BytesIO(_EMPTY_TEXT.sub(b"", response.content)))
        if not parsed.entries and (parsed.bozo or not parsed.get("version")):
            raise SourceError(f"{self.name}: feed {key!r} did not return a feed")
        items = [item for entry in parsed.entries if (item := self._item(key, entry))]
        if parsed.entries and not items:
            raise SourceError(
                f"{self.name}: malformed feed {key!r} (no entry has a title, link and date)"
            )
        return items

    def _item(self, key: str, entry: Any) -> HumanItem | None:
        title = entry.get("title") or ""
        link = entry.get("link") or ""
        published = _when(entry.get("published_parsed") or entry.get("updated_parsed"))
        if not title.strip() or not link or published is None:
            return None
        return human_item(
            source=f"rss:{key}",
            external_id=untracked(entry.get("id") or link),
            title=title,
            url=untracked(link),
            published=published,
            body=_body(entry),
            extractor=self.extractor,
        )


def untracked(url: str) -> str:
    """``url`` without tracking parameters (``utm_*``, click ids); other parameters stay as sent."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.query:
        return url
    pairs = [pair for pair in parts.query.split("&") if pair]
    kept = [pair for pair in pairs if not _tracker(pair)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query="&".join(kept)))


def _tracker(pair: str) -> bool:
    name = unquote_plus(pair.partition("=")[0]).lower()
    return name.startswith("utm_") or name in _TRACKERS


def _body(entry: Any) -> str:
    # feedparser's ``description`` is an alias of ``summary``; content is a list of parts.
    texts = [part.get("value") for part in entry.get("content") or ()]
    texts.append(entry.get("summary"))
    return next((text for text in texts if isinstance(text, str) and plain_text(text)), "")


def _when(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's dates are struct_time already normalised to UTC."""
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None
