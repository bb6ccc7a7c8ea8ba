"""Hot posts of crypto subreddits, anonymously or through Reddit's OAuth (client credentials).

Without credentials it reads ``www.reddit.com/r/<sub>/hot.json``; with a client id and secret it
asks ``/api/v1/access_token`` for an application-only token, keeps it until shortly before it
expires, and reads ``oauth.reddit.com``. Reddit's own budget headers are obeyed: once
``x-ratelimit-remaining`` runs out, runs fail fast (transient) until ``x-ratelimit-reset``
has passed instead of hammering the API. Secrets and tokens never reach a message.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from ledgers.human.currencies import CurrencyExtractor
from ledgers.intel import Collected, HumanItem
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy
from ledgers.sources.human.items import (
    from_unix,
    human_item,
    malformed,
    masked,
    required_text,
    unique,
)

DEFAULT_SUBREDDITS = ("CryptoCurrency", "Bitcoin", "ethereum", "CryptoMarkets")
USER_AGENT = "python:oh-my-coins:0.1 (by /u/omc)"
PUBLIC_URL = "https://www.reddit.com"
OAUTH_URL = "https://oauth.reddit.com"
TOKEN_URL = "https://www.reddit.com/api/v1/access_token"

_EARLY = timedelta(seconds=60)  # renew a token this long before Reddit says it expires


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires: datetime


class RedditCollector:
    """Hot posts of ``subreddits``, stickied ones left out; items are sourced ``reddit:<sub>``."""

    name = "reddit"
    ledger = "human"

    def __init__(
        self,
        subreddits: Iterable[str] = DEFAULT_SUBREDDITS,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        user_agent: str = USER_AGENT,
        limit: int = 25,
        interval: float = 600.0,
        extractor: CurrencyExtractor | None = None,
    ) -> None:
        self.subreddits = tuple(subreddits)
        if not self.subreddits:
            raise ValueError("at least one subreddit is needed")
        if bool(client_id) != bool(client_secret):
            raise ValueError("Reddit OAuth needs both a client id and a client secret")
        self._client_id = client_id or ""
        self._client_secret = client_secret or ""
        self.user_agent = user_agent  # Reddit throttles generic agents; it asks for this form
        self.limit = limit
        self.interval = interval
        self.extractor = extractor if extractor is not None else CurrencyExtractor()
        self._token: _Token | None = None
        self._resume_at: datetime | None = None

    @property
    def oauth(self) -> bool:
        """True when the collector reads through OAuth."""
        return bool(self._client_id)

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        items: list[HumanItem] = []
        try:
            for sub in self.subreddits:
                listing = await self._listing(http, sub, now)
                items.extend(self._items(sub, listing))
        except SourceError as exc:
            # Whoever composed the message, the secret and the token stay out of it (and out of
            # any chained exception a traceback would print).
            raise masked(exc, self._client_secret, self._token_value()) from None
        return Collected(human=unique(items))

    async def _listing(self, http: HttpPolicy, sub: str, now: datetime) -> Any:
        params = {"limit": self.limit}
        if not self.oauth:
            response = await self._get(http, f"{PUBLIC_URL}/r/{sub}/hot.json", params, now)
        else:
            response = await self._get_authorised(http, f"{OAUTH_URL}/r/{sub}/hot", params, now)
        with malformed(self.name, f"listing of r/{sub} (not JSON)"):
            return response.json()

    async def _get(
        self,
        http: HttpPolicy,
        url: str,
        params: dict[str, Any],
        now: datetime,
        token: str | None = None,
    ) -> httpx.Response:
        if self._resume_at is not None and now < self._resume_at:
            wait = (self._resume_at - now).total_seconds()
            raise SourceError(
                f"{self.name}: rate limit spent; retry after "
                f"{self._resume_at:%Y-%m-%d %H:%M:%S} UTC (in {wait:.0f}s)"
            )
        headers = {"User-Agent": self.user_agent}
        if token is not None:
            headers["Authorization"] = f"bearer {token}"
        response = await http.request(self.name, "GET", url, params=params, headers=headers)
        self._note_budget(response, now)
        return response

    async def _get_authorised(
        self, http: HttpPolicy, url: str, params: dict[str, Any], now: datetime
    ) -> httpx.Response:
        """GET with the bearer token; a 401 (revoked or expired early) renews it once."""
        token = await self._access_token(http, now)
        try:
            return await self._get(http, url, params, now, token)
        except SourceError as exc:
            if not _unauthorised(exc):
                raise
        self._token = None
        return await self._get(http, url, params, now, await self._access_token(http, now))

    async def _access_token(self, http: HttpPolicy, now: datetime) -> str:
        if self._token is not None and now < self._token.expires:
            return self._token.value
        pair = f"{self._client_id}:{self._client_secret}".encode()
        response = await http.request(
            self.name,
            "POST",
            TOKEN_URL,
            data={"grant_type": "client_credentials"},
            headers={
                "Authorization": f"Basic {base64.b64encode(pair).decode()}",
                "User-Agent": self.user_agent,
            },
        )
        with malformed(self.name, "token response"):
            body = response.json()
            if not isinstance(body, dict):
                raise TypeError(f"expected an object, got {type(body).__name__}")
            if "access_token" not in body and isinstance(body.get("error"), str):
                # Reddit answers a refused grant with 200 and {"error": "..."}.
                raise SourceError(f"{self.name}: token refused ({body['error']})", transient=False)
            value = required_text(body, "access_token")
            lifetime = timedelta(seconds=float(body["expires_in"]))
            if lifetime <= timedelta(0):
                raise ValueError(f"expires_in is {body['expires_in']!r}")
        self._token = _Token(value, now + lifetime - min(_EARLY, lifetime / 2))
        return value

    def _token_value(self) -> str | None:
        return self._token.value if self._token is not None else None

    def _note_budget(self, response: httpx.Response, now: datetime) -> None:
        """Remember when to resume once Reddit says the budget of this window is spent."""
        try:
            remaining = float(response.headers["x-ratelimit-remaining"])
            reset = float(response.headers["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return  # cached responses carry no budget headers
        if remaining < 1:
            self._resume_at = now + timedelta(seconds=max(reset, 1.0))

    def _items(self, sub: str, listing: Any) -> list[HumanItem]:
        items: list[HumanItem] = []
        with malformed(self.name, f"listing of r/{sub}"):
            if listing["kind"] != "Listing":
                raise ValueError(f"kind is {listing['kind']!r}, not 'Listing'")
            for child in listing["data"]["children"]:
                if child["kind"] != "t3":  # only links (posts); "more" stubs and the like
                    continue
                post = child["data"]
                if post.get("stickied"):
                    continue
                items.append(
                    human_item(
                        source=f"reddit:{sub}",
                        external_id=required_text(post, "name"),
                        title=required_text(post, "title"),
                        url=PUBLIC_URL + required_text(post, "permalink"),
                        published=from_unix(post["created_utc"]),
                        body=post.get("selftext") or "",
                        extractor=self.extractor,
                        votes={"score": int(post["score"]), "comments": int(post["num_comments"])},
                    )
                )
        return items


def _unauthorised(error: SourceError) -> bool:
    # The shared policy reports a refused request only as text ("<source>: HTTP 401 from …").
    return not error.transient and "HTTP 401 " in str(error)
