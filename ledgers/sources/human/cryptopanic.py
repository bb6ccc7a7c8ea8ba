"""News posts from CryptoPanic's aggregator, with the coins it tagged and its readers' votes.

It runs only when an API token is configured; without one a run is a no-op, not a failure.
The token travels in the query string (CryptoPanic's only way), so it is masked in every
error and sent to no host but the configured one, even when ``next`` points elsewhere.

Score: the lexicon score of the headline, averaged with the readers' lean
``(positive − negative) / (positive + negative + 1)`` when anyone voted bullish or bearish;
the ``+ 1`` keeps a single vote from counting as a unanimous verdict.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from ledgers.human.currencies import CurrencyExtractor
from ledgers.intel import Collected, HumanItem
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy
from ledgers.sources.human.items import (
    from_iso,
    human_item,
    malformed,
    masked,
    required_id,
    required_text,
    unique,
)

BASE_URL = "https://cryptopanic.com/api/v1"


class CryptoPanicCollector:
    """The latest public news posts; items are sourced ``cryptopanic``."""

    name = "cryptopanic"
    ledger = "human"

    def __init__(
        self,
        token: str | None,
        base_url: str = BASE_URL,
        *,
        interval: float = 600.0,
        pages: int = 2,
        extractor: CurrencyExtractor | None = None,
    ) -> None:
        self._token = token or ""
        self.base_url = base_url.rstrip("/")
        self.interval = interval
        self.pages = pages
        self.extractor = extractor if extractor is not None else CurrencyExtractor()

    @property
    def enabled(self) -> bool:
        """True when a token is configured; a disabled collector collects nothing."""
        return bool(self._token)

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        if not self.enabled:
            return Collected()
        try:
            return Collected(human=unique(await self._posts(http)))
        except SourceError as exc:
            # Not chained: a chained transport error could quote the URL, token and all.
            raise masked(exc, self._token) from None

    async def _posts(self, http: HttpPolicy) -> list[HumanItem]:
        items: list[HumanItem] = []
        url: httpx.URL | None = httpx.URL(
            f"{self.base_url}/posts/",
            params={"auth_token": self._token, "public": "true", "kind": "news"},
        )
        for _ in range(self.pages):
            if url is None:
                break
            body = await http.get_json(self.name, str(url))
            with malformed(self.name, "posts page"):
                items.extend(self._item(post) for post in body["results"])
                url = self._next(body.get("next"))
        return items

    def _next(self, link: Any) -> httpx.URL | None:
        """The next page, on our host only, and carrying the token if the link dropped it."""
        if not link:
            return None
        if not isinstance(link, str):
            raise TypeError(f"next should be a link, got {type(link).__name__}")
        try:
            url = httpx.URL(link)
        except httpx.InvalidURL as exc:
            raise ValueError(f"next is not a link ({exc})") from None
        base = httpx.URL(self.base_url)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            return None
        if "auth_token" not in url.params:
            url = url.copy_merge_params({"auth_token": self._token})
        return url

    def _item(self, post: dict[str, Any]) -> HumanItem:
        votes = {
            key: value
            for key, value in (post.get("votes") or {}).items()
            if isinstance(value, int) and not isinstance(value, bool)
        }
        item = human_item(
            source="cryptopanic",
            external_id=required_id(post, "id"),
            title=required_text(post, "title"),
            url=required_text(post, "url"),
            published=from_iso(post["published_at"]),
            extractor=self.extractor,
            currencies=[required_text(coin, "code") for coin in post.get("currencies") or ()],
            votes=votes or None,
        )
        up, down = votes.get("positive", 0), votes.get("negative", 0)
        if up + down > 0:
            lean = (up - down) / (up + down + 1)
            item = replace(item, score=(item.score + lean) / 2)
        return item
