"""The Crypto Fear & Greed Index (alternative.me): market mood 0 (fear) … 100 (greed), daily."""

from __future__ import annotations

from datetime import datetime

from ledgers.intel import Collected, MoodReading
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy
from ledgers.sources.human.items import from_unix, malformed

URL = "https://api.alternative.me/fng/?limit=2"  # today and yesterday: a missed day backfills


class FearGreedCollector:
    """Daily index values as ``MoodReading``s sourced ``feargreed``."""

    name = "feargreed"
    ledger = "human"

    def __init__(self, url: str = URL, *, interval: float = 3600.0) -> None:
        self.url = url
        self.interval = interval

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        body = await http.get_json(self.name, self.url)
        readings: dict[datetime, MoodReading] = {}
        with malformed(self.name, "index response"):
            error = (body.get("metadata") or {}).get("error")
            if error:
                raise SourceError(f"{self.name}: the index reports an error: {error}")
            for row in body["data"]:
                value = float(row["value"])
                if not 0.0 <= value <= 100.0:
                    raise ValueError(f"value {value:g} is outside 0..100")
                ts = from_unix(row["timestamp"])
                label = row.get("value_classification") or ""
                readings.setdefault(ts, MoodReading(self.name, ts, value, str(label)))
        return Collected(mood=tuple(readings.values()))
