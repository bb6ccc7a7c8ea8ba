"""New listings and delistings, found by diffing a venue's market list between runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from ledgers.intel import CatalystEvent, Collected
from ledgers.market import Instrument
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy

_VENUE_NAMES = {"coinspot": "CoinSpot"}
_VENUE_PAGES = {"coinspot": "https://www.coinspot.com.au/buy/{base}"}


def listing_changes(
    previous: set[str], current: set[str], now: datetime, venue: str = "coinspot"
) -> list[CatalystEvent]:
    """A ``listing`` (impact 7) per symbol added and a ``delisting`` (impact 8) per symbol gone."""
    day = now.date().isoformat()
    shown = _VENUE_NAMES.get(venue, venue)
    events = []
    for symbol in sorted(current - previous):
        events.append(_event(venue, symbol, "listing", f"{shown} lists {symbol}", 7, now, day))
    for symbol in sorted(previous - current):
        events.append(_event(venue, symbol, "delisting", f"{shown} delists {symbol}", 8, now, day))
    return events


class ListingsCollector:
    """Diffs the venue's instruments against the previous run's; the first run only remembers.

    The previous set lives in memory, so a restart starts silent again rather than announcing
    every market as new. ``instruments`` must read the venue's live list: ccxt's coinspot
    serves a fixed, built-in market table that never changes.
    """

    name = "listings"
    ledger = "catalyst"

    def __init__(
        self,
        instruments: Callable[[], Awaitable[Iterable[Instrument]]],
        *,
        venue: str = "coinspot",
        interval: float = 3600.0,
    ) -> None:
        self._instruments = instruments
        self.venue = venue
        self.interval = interval
        self._previous: set[str] | None = None

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        """Listings and delistings since the last run (none on the first)."""
        current = {instrument.symbol for instrument in await self._instruments()}
        if not current and self._previous:
            # An empty list is an outage, not every market delisted at once.
            raise SourceError(f"listings: {self.venue} returned no markets")
        previous, self._previous = self._previous, current
        if previous is None:
            return Collected()
        return Collected(catalysts=tuple(listing_changes(previous, current, now, self.venue)))


def _event(
    venue: str, symbol: str, kind: str, title: str, impact: int, now: datetime, day: str
) -> CatalystEvent:
    base = symbol.split("/", 1)[0]
    page = _VENUE_PAGES.get(venue)
    return CatalystEvent(
        source="listings",
        external_id=f"{venue}:{symbol}:{'listed' if kind == 'listing' else 'delisted'}:{day}",
        type=kind,
        title=title,
        url=page.format(base=base.lower()) if page else "",
        occurred=now,
        impact=impact,
        currencies=(base,),
    )
