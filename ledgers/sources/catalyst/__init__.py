"""Catalyst-ledger collectors: dated events that can move prices, each with a type, an impact
from 1 to 10 and the coins it concerns.

- ``SecEdgarCollector``: filings of crypto-exposed companies (SEC EDGAR submissions API).
- ``CoinSpotAnnouncementsCollector``: CoinSpot's help-centre announcements (Zendesk Guide).
- ``ListingsCollector`` / ``listing_changes``: listings and delistings from market-list diffs.
- ``SnapshotCollector``: DAO governance votes (Snapshot hub GraphQL).
"""

from ledgers.sources.catalyst.coinspot import CoinSpotAnnouncementsCollector
from ledgers.sources.catalyst.listings import ListingsCollector, listing_changes
from ledgers.sources.catalyst.sec import SecEdgarCollector
from ledgers.sources.catalyst.snapshot import SnapshotCollector

__all__ = [
    "CoinSpotAnnouncementsCollector",
    "ListingsCollector",
    "SecEdgarCollector",
    "SnapshotCollector",
    "listing_changes",
]
