"""CoinSpot's announcements (listings, delistings, maintenance, halts) from its help centre,
a Zendesk Guide site read through the public Help Center API."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ledgers.human.currencies import CurrencyExtractor
from ledgers.intel import CatalystEvent, Collected
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy

# A few of CoinSpot's AUD markets, with the names its announcements use; the engine can pass
# an extractor built from the venue's full instrument list instead.
COINSPOT_COINS: tuple[tuple[str, str], ...] = (
    ("BTC", "Bitcoin"),
    ("ETH", "Ethereum"),
    ("USDT", "Tether"),
    ("USDC", "USD Coin"),
    ("XRP", "XRP"),
    ("SOL", "Solana"),
    ("ADA", "Cardano"),
    ("DOGE", "Dogecoin"),
    ("LTC", "Litecoin"),
    ("DOT", "Polkadot"),
    ("LINK", "Chainlink"),
    ("AVAX", "Avalanche"),
    ("XLM", "Stellar"),
    ("TRX", "TRON"),
    ("SHIB", "Shiba Inu"),
    ("SUI", "Sui"),
    ("PEPE", "Pepe"),
    ("BONK", "Bonk"),
    ("HYPE", "Hyperliquid"),
    ("LUNC", "Terra Classic"),
    ("USTC", "TerraClassicUSD"),
    ("LUNA", "Terra"),
    ("POWR", "Powerledger"),
    ("ENS", "Ethereum Name Service"),
    ("AAVE", "Aave"),
    ("UNI", "Uniswap"),
)

IMPACT = {"listing": 7, "delisting": 8, "maintenance": 4, "trading": 6, "feature": 2}

# First match wins: "delisting" contains "listing", and a listing or delisting notice often
# mentions suspended deposits, so those kinds are tested before trading and maintenance.
# Each kind has strong words, and weak ones ("removal", "now available") that also describe
# features ("Removal of SMS codes") and so count only when the text names a coin.
_RULES: tuple[tuple[str, re.Pattern[str], re.Pattern[str] | None], ...] = (
    (
        "delisting",
        re.compile(r"\bde-?list"),
        re.compile(
            r"\bremov(al|e|ed|ing)\b|\bdiscontinu|\bno longer (be )?(supported|available)"
            r"|\bend of support\b|\bsunset"
        ),
    ),
    (
        "listing",
        re.compile(r"\bnew listings?\b|\blist(s|ed|ing)\b"),
        re.compile(r"\bnow (available|live)\b|\bwelcome\b"),
    ),
    (
        "trading",
        re.compile(r"\bhalt|\bsuspen[ds]|\bpaus(e|ed|es|ing)\b|\bresum|\bre-?enabled\b"),
        None,
    ),
    (
        "maintenance",
        re.compile(
            r"\bmaintenance\b|\bupgrade\b|\bhard ?fork|\bfork\b|\bdowntime\b|\boutage\b"
            r"|\brestored\b|\bmigration\b|\bswap to\b|\brebrand|\bredenomination\b"
        ),
        None,
    ),
)
# Announcements of features say "now available" too, so a body is trusted only for these.
_BODY_KINDS = frozenset({"delisting", "trading", "maintenance"})
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_LEAD = 400  # characters of the body read for coins and, failing the title, for the kind
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError)


class CoinSpotAnnouncementsCollector:
    """Help-centre articles of the last ``since_days``, newest first, at most ``max_pages`` pages."""

    name = "coinspot"
    ledger = "catalyst"

    def __init__(
        self,
        base_url: str = "https://coinspot.zendesk.com",
        locale: str = "en-us",
        interval: float = 1800.0,
        extractor: CurrencyExtractor | None = None,
        *,
        max_pages: int = 3,
        since_days: int = 30,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.locale = locale
        self.interval = interval
        self.extractor = extractor or CurrencyExtractor(COINSPOT_COINS)
        self.max_pages = max_pages
        self.since_days = since_days

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        """Announcements since ``since_days`` ago, following ``next_page`` up to the page cap."""
        since = now - timedelta(days=self.since_days)
        url: str | None = f"{self.base_url}/api/v2/help_center/{self.locale}/articles.json"
        params: dict[str, Any] | None = {
            "sort_by": "created_at",
            "sort_order": "desc",
            "per_page": 50,
        }
        events: dict[str, CatalystEvent] = {}
        for _ in range(self.max_pages):
            if url is None:
                break
            body = await http.get_json(self.name, url, params=params)
            try:
                page, older = self._page(body["articles"], since)
                url, params = body["next_page"], None  # next_page carries the whole query
            except _MALFORMED as exc:
                raise SourceError(f"coinspot: unexpected articles shape: {exc!r}") from None
            for event in page:
                events.setdefault(event.external_id, event)
            if older:
                break  # newest first: everything after is older still
        return Collected(catalysts=tuple(events.values()))

    def _page(
        self, articles: list[Mapping[str, Any]], since: datetime
    ) -> tuple[list[CatalystEvent], bool]:
        events = []
        for article in articles:
            created = _utc(article["created_at"])
            if created < since:
                return events, True
            events.append(self._event(article, created))
        return events, False

    def _event(self, article: Mapping[str, Any], created: datetime) -> CatalystEvent:
        title = str(article["title"]).strip()
        lead = plain_text(str(article.get("body") or ""))[:_LEAD]
        coins = tuple(self.extractor.extract(f"{title}. {lead}"))
        kind = classify(title, lead, coins=bool(coins))
        return CatalystEvent(
            source="coinspot",
            external_id=str(int(article["id"])),
            type=kind,
            title=title,
            url=str(article["html_url"]),
            occurred=created,
            impact=IMPACT[kind],
            currencies=coins,
        )


def classify(title: str, lead: str = "", *, coins: bool = False) -> str:
    """listing, delisting, maintenance, trading or feature: by the title, else the body's lead.

    ``coins`` says whether the article names a coin, which the weak words need.
    """
    found = _kind(title.lower(), coins)
    if found is None and lead:
        found = _kind(lead.lower(), coins)
        if found not in _BODY_KINDS:
            found = None
    return found or "feature"


def plain_text(body: str) -> str:
    """An article's HTML body as one line of text."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", body))).strip()


def _kind(text: str, coins: bool) -> str | None:
    for kind, strong, weak in _RULES:
        if strong.search(text) or (coins and weak is not None and weak.search(text)):
            return kind
    return None


def _utc(text: Any) -> datetime:
    when = datetime.fromisoformat(str(text))
    if when.tzinfo is None:
        raise ValueError(f"created_at {text!r} has no zone")
    return when.astimezone(UTC)
