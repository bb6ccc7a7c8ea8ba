"""Collectors of the Human ledger: news feeds, Reddit, CryptoPanic and the Fear & Greed index.

Each follows the ``Collector`` protocol: one run returns everything it found, scored −1..1 with
the coins it mentions, or raises ``SourceError`` so nothing partial is written. Coins are found
by a ``CurrencyExtractor`` passed in (built from the venue's instruments), or by one over the
built-in table of common coins.
"""

from ledgers.sources.human.cryptopanic import CryptoPanicCollector
from ledgers.sources.human.feargreed import FearGreedCollector
from ledgers.sources.human.reddit import RedditCollector
from ledgers.sources.human.rss import DEFAULT_FEEDS, RssCollector

__all__ = [
    "DEFAULT_FEEDS",
    "CryptoPanicCollector",
    "FearGreedCollector",
    "RedditCollector",
    "RssCollector",
]
