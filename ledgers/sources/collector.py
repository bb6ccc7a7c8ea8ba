"""The interface of the Glass, Human and Catalyst collectors."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ledgers.intel import Collected
from ledgers.sources.http import HttpPolicy


class Collector(Protocol):
    """One source. ``collect`` returns everything of one run, or raises ``SourceError``:
    a run that fails part-way returns nothing, so nothing partial is ever written."""

    name: str  # source id for rate limits and health, e.g. "defillama"
    ledger: str  # glass | human | catalyst
    interval: float  # seconds between scheduled runs
    # The rows' source is ``name`` (or ``name:<feed>``) unless a collector says otherwise with
    # a ``source`` attribute; the quality monitor matches on it.

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected: ...
