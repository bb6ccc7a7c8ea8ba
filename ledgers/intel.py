"""Plain records of the Glass, Human and Catalyst ledgers (no persistence concern here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class GlassMetric:
    """An on-chain or fundamental observation, e.g. (defillama, aave, tvl_usd, ts, 1.2e10)."""

    source: str
    entity: str  # protocol, chain or asset the metric is about
    metric: str  # tvl_usd, fees_24h_usd, revenue_24h_usd, gas_price_gwei, block_height, …
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class HumanItem:
    """A news or social item with its sentiment score and the coins it mentions."""

    source: str  # rss:coindesk, reddit:CryptoCurrency, cryptopanic, …
    external_id: str  # the source's id, or the url when it has none
    title: str
    url: str
    published: datetime
    score: float  # −1..1
    body: str = ""  # an excerpt, never the whole article
    currencies: tuple[str, ...] = field(default_factory=tuple)
    votes: dict[str, int] | None = None  # e.g. CryptoPanic's positive/negative/important


@dataclass(frozen=True, slots=True)
class MoodReading:
    """A market mood index value, e.g. Fear & Greed 0..100 with its label."""

    source: str
    ts: datetime
    value: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class CatalystEvent:
    """A dated event that can move prices."""

    source: str  # sec, coinspot, listings, snapshot
    external_id: str
    type: str  # filing_8k, insider_trade, listing, delisting, maintenance, governance_vote, …
    title: str
    url: str
    occurred: datetime
    impact: int  # 1..10
    currencies: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Collected:
    """Everything one collector run produced; written whole or not at all."""

    glass: tuple[GlassMetric, ...] = ()
    human: tuple[HumanItem, ...] = ()
    mood: tuple[MoodReading, ...] = ()
    catalysts: tuple[CatalystEvent, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.glass) + len(self.human) + len(self.mood) + len(self.catalysts)
