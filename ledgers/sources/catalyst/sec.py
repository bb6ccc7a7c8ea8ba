"""SEC EDGAR filings of crypto-exposed companies, from the submissions API on data.sec.gov.

The SEC asks every automated client to name itself in the User-Agent ("Company admin@company.com")
and to stay under 10 requests a second; both are honoured here.

``acceptanceDateTime`` ends in ``Z`` but holds New York wall-clock time (EDGAR accepts filings
06:00–22:00 Eastern); it is read as America/New_York and stored as the UTC instant it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledgers.intel import CatalystEvent, Collected
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy

# CIK → ticker: an exchange, bitcoin-treasury companies and miners, and a payments firm holding BTC.
DEFAULT_CIKS: Mapping[str, str] = {
    "0001679788": "COIN",
    "0001050446": "MSTR",
    "0001507605": "MARA",
    "0001167419": "RIOT",
    "0001512673": "XYZ",
}
# ticker → the coins its filings move; a ticker not named here moves BTC.
DEFAULT_CURRENCIES: Mapping[str, tuple[str, ...]] = {"COIN": ("BTC", "ETH")}

# 8-K items that matter more than the routine 2.02/7.01/8.01/9.01 (impact raised from 6).
_ITEM_IMPACT = {
    "1.01": 7,  # material agreement (credit lines, convertible notes, acquisitions agreed)
    "1.02": 7,  # material agreement terminated
    "1.03": 8,  # bankruptcy or receivership
    "2.01": 8,  # acquisition or disposition completed
    "2.03": 7,  # direct financial obligation (debt raised to buy coins)
    "2.04": 7,  # obligation accelerated
    "3.01": 8,  # delisting notice
    "3.02": 7,  # unregistered equity sales
    "4.02": 8,  # earlier financial statements no longer reliable
    "5.01": 8,  # change in control
    "5.02": 7,  # directors or officers leave or join
}
_LABELS = {
    "filing_8k": "current report",
    "filing_periodic": "periodic report",
    "insider_trade": "insider transaction",
    "securities_offering": "securities offering",
    "ownership": "beneficial ownership report",
}
_OWNERSHIP_FORMS = frozenset({"SC 13D", "SC 13G", "SCHEDULE 13D", "SCHEDULE 13G"})
_OFFERING_FORMS = frozenset({"S-1", "S-3", "S-3ASR"})
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


class SecEdgarCollector:
    """Recent 8-K, 10-K/Q, Form 4, offering and 13D/G filings of the configured companies."""

    name = "sec"
    ledger = "catalyst"

    def __init__(
        self,
        ciks: Mapping[str, str] = DEFAULT_CIKS,
        *,
        user_agent: str = "OhMyCoins research contact@example.com",
        base_url: str = "https://data.sec.gov",
        interval: float = 900.0,
        since_days: int = 30,
        currencies: Mapping[str, tuple[str, ...]] = DEFAULT_CURRENCIES,
    ) -> None:
        self.ciks = {_cik10(cik): ticker for cik, ticker in ciks.items()}
        self.user_agent = user_agent
        self.base_url = base_url.rstrip("/")
        self.interval = interval
        self.since_days = since_days
        self.currencies = dict(currencies)

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        """Filings of every configured CIK within ``since_days``; one CIK failing fails the run."""
        http.limit(self.name, 10)
        since = now - timedelta(days=self.since_days)
        events: dict[str, CatalystEvent] = {}
        for cik, ticker in self.ciks.items():
            body = await http.get_json(
                self.name,
                f"{self.base_url}/submissions/CIK{cik}.json",
                headers={"User-Agent": self.user_agent},
            )
            coins = self.currencies.get(ticker, ("BTC",))
            for event in parse_submissions(body, cik, ticker, coins, since):
                events.setdefault(event.external_id, event)
        return Collected(catalysts=tuple(events.values()))


def parse_submissions(
    body: Any, cik: str, ticker: str, currencies: tuple[str, ...], since: datetime
) -> list[CatalystEvent]:
    """Catalysts from one submissions document's ``filings.recent`` accepted at or after ``since``."""
    try:
        recent = body["filings"]["recent"]
        accessions = recent["accessionNumber"]
        blank = [""] * len(accessions)  # optional columns absent from older documents
        rows = zip(
            accessions,
            recent["form"],
            recent["filingDate"],
            recent.get("acceptanceDateTime") or blank,
            recent["primaryDocument"],
            recent.get("items") or blank,
            strict=True,
        )
        events = []
        for accession, form, filed, accepted, document, items in rows:
            kind = classify_form(str(form), str(items))
            if kind is None:
                continue
            occurred = _accepted(accepted, filed)
            if occurred < since:
                continue
            type_, impact = kind
            title = f"{ticker} {form}: {_LABELS[type_]}"
            if type_ == "filing_8k" and items:
                title += f" (items {str(items).replace(',', ', ')})"
            events.append(
                CatalystEvent(
                    source="sec",
                    external_id=str(accession),
                    type=type_,
                    title=title,
                    url=filing_url(cik, str(accession), str(document)),
                    occurred=occurred,
                    impact=impact,
                    currencies=currencies,
                )
            )
    except _MALFORMED as exc:
        raise SourceError(f"sec: unexpected submissions shape for CIK{cik}: {exc!r}") from None
    return events


def classify_form(form: str, items: str = "") -> tuple[str, int] | None:
    """(type, impact) of a form, or None for forms the Catalyst ledger skips (S-8, 144, DEF 14A…).

    An amendment (``/A``) keeps its form's type one impact point lower: it corrects, rarely news.
    """
    base = form.removesuffix("/A")
    kind: tuple[str, int] | None
    if base == "8-K":
        codes = (code.strip() for code in items.split(","))
        kind = ("filing_8k", max([6, *(_ITEM_IMPACT.get(code, 6) for code in codes)]))
    elif base in ("10-K", "10-Q"):
        kind = ("filing_periodic", 4)
    elif base == "4":
        kind = ("insider_trade", 3)
    elif base in _OFFERING_FORMS or base.startswith("424B"):
        kind = ("securities_offering", 6)
    elif base in _OWNERSHIP_FORMS:
        kind = ("ownership", 5)
    else:
        return None
    if base != form:
        kind = (kind[0], max(1, kind[1] - 1))
    return kind


def filing_url(cik: str, accession: str, primary_document: str) -> str:
    """The primary document in the EDGAR archive, or the filing's index when it names none."""
    folder = f"https://www.sec.gov/Archives/edgar/data/{int(cik)}/{accession.replace('-', '')}"
    return f"{folder}/{primary_document or f'{accession}-index.htm'}"


def acceptance_time(acceptance: str) -> datetime:
    """The UTC instant of an ``acceptanceDateTime``: its ``Z`` is wrong, its clock New York's."""
    stamp = datetime.fromisoformat(acceptance)
    if stamp.utcoffset() not in (None, timedelta(0)):
        return stamp.astimezone(UTC)  # a real offset, should EDGAR ever write one
    # EDGAR is closed at night and at weekends, so the hours a DST change skips or repeats
    # never occur here.
    return stamp.replace(tzinfo=_eastern()).astimezone(UTC)


def _accepted(acceptance: Any, filing_date: Any) -> datetime:
    # The filing date is the fallback for documents without an acceptance time.
    if acceptance:
        return acceptance_time(str(acceptance))
    return datetime.fromisoformat(str(filing_date)).replace(tzinfo=UTC)


def _eastern() -> ZoneInfo:
    try:
        return ZoneInfo("America/New_York")
    except ZoneInfoNotFoundError:
        raise SourceError(
            "sec: no time zone data for America/New_York; install the tzdata package",
            transient=False,
        ) from None


def _cik10(cik: str) -> str:
    digits = str(cik).strip()
    if not digits.isdigit() or len(digits) > 10:
        raise ValueError(f"a CIK is up to 10 digits, got {cik!r}")
    return digits.zfill(10)
