"""DeFiLlama: protocol TVL, fees and revenue, chain TVL and stablecoin supply for the Glass ledger.

Endpoints (https://api-docs.defillama.com): ``GET /protocols``, ``GET /overview/fees`` (fees,
and revenue with ``dataType=dailyRevenue``), ``GET /v2/chains`` and, on the stablecoins host,
``GET /stablecoins``. None of them stamps its figures with a time, so every row of a run carries
``now`` floored to the hour: re-running within the hour rewrites the same rows.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ledgers.intel import Collected, GlassMetric
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy

log = logging.getLogger("omc.glass")

SOURCE = "defillama"
REQUESTS_PER_SECOND = 2.0
LITE = {"excludeTotalDataChart": "true", "excludeTotalDataChartBreakdown": "true"}
# DeFiLlama lists versions ("aave-v3", "uniswap-v2") as children of a parent ("parent#aave").
PARENT_PREFIX = "parent#"
# Bridged copies can share a symbol; the issuer's own token is by far the largest.
SINGLE_STABLECOINS = ("usdt", "usdc")


class DefiLlamaCollector:
    """Protocol TVL (and its 1-day change), 24 h fees and revenue, chain TVL and USD stablecoin
    supply. A configured protocol that is a parent (``aave``, ``uniswap``) sums its versions."""

    name = SOURCE
    ledger = "glass"

    def __init__(
        self,
        protocols: Sequence[str] = ("aave", "lido", "uniswap", "makerdao", "eigenlayer"),
        chains: Sequence[str] = ("Ethereum", "Solana", "Tron", "BSC", "Arbitrum"),
        base_url: str = "https://api.llama.fi",
        stablecoins_url: str = "https://stablecoins.llama.fi",
        interval: float = 3600.0,
    ) -> None:
        self.protocols = tuple(slug.lower() for slug in protocols)
        self.chains = tuple(chains)
        self.base_url = base_url.rstrip("/")
        self.stablecoins_url = stablecoins_url.rstrip("/")
        self.interval = interval
        self._paced: weakref.WeakSet[HttpPolicy] = weakref.WeakSet()

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        """Every metric of one run, or ``SourceError`` if any endpoint fails or surprises."""
        ts = _hour(now)
        self._pace(http)
        rows = self._protocol_tvl(await self._get(http, "/protocols"), ts)
        rows += self._dimension(await self._get(http, "/overview/fees", LITE), "fees_24h_usd", ts)
        rows += self._dimension(
            await self._get(http, "/overview/fees", {**LITE, "dataType": "dailyRevenue"}),
            "revenue_24h_usd",
            ts,
        )
        rows += self._chain_tvl(await self._get(http, "/v2/chains"), ts)
        rows += self._stablecoins(
            await self._get(http, "/stablecoins", {"includePrices": "false"}, stablecoins=True),
            ts,
        )
        return Collected(glass=tuple(rows))

    def _pace(self, http: HttpPolicy) -> None:
        # Once per shared policy: setting the limit again would reset its spacing (a burst).
        if http not in self._paced:
            http.limit(SOURCE, REQUESTS_PER_SECOND)
            self._paced.add(http)

    async def _get(
        self,
        http: HttpPolicy,
        path: str,
        params: dict[str, str] | None = None,
        *,
        stablecoins: bool = False,
    ) -> _Body:
        base = self.stablecoins_url if stablecoins else self.base_url
        data = await http.get_json(SOURCE, f"{base}{path}", params=params)
        label = f"GET {path}"
        if params and "dataType" in params:
            label += f"?dataType={params['dataType']}"
        return _Body(label, data)

    def _protocol_tvl(self, body: _Body, ts: datetime) -> list[GlassMetric]:
        entries = body.entries(None)
        slugs = [{body.text(e, "slug", f"entry {i}")} for i, e in enumerate(entries)]
        groups = _groups(entries, slugs)
        rows = []
        for slug in self.protocols:
            group = groups.get(slug)
            if group is None:
                log.warning("defillama: /protocols lists no protocol %r; check the slug", slug)
                continue
            parts = [
                (
                    body.amount(e, "tvl", _where(e)),
                    body.maybe_amount(e, "change_1d", _where(e), signed=True),
                )
                for e in group
            ]
            rows.append(GlassMetric(SOURCE, slug, "tvl_usd", ts, sum(v for v, _ in parts)))
            change = _change_of_sum(parts)
            if change is not None:
                rows.append(GlassMetric(SOURCE, slug, "tvl_change_1d_pct", ts, change))
        return rows

    def _dimension(self, body: _Body, metric: str, ts: datetime) -> list[GlassMetric]:
        entries = body.entries("protocols")
        keys = []
        for i, entry in enumerate(entries):
            slug = entry.get("slug")
            name = body.text(entry, "name", f"protocols item {i}")
            keys.append({name, slug} if isinstance(slug, str) and slug else {name})
        groups = _groups(entries, keys)
        rows = []
        for slug in self.protocols:
            # DeFiLlama omits total24h (or sends null) when it has no figure for the last day;
            # that protocol then gets no row this run rather than failing the others.
            values = [
                value
                for e in groups.get(slug, [])
                if (value := body.maybe_amount(e, "total24h", _where(e))) is not None
            ]
            if values:
                rows.append(GlassMetric(SOURCE, slug, metric, ts, sum(values)))
        return rows

    def _chain_tvl(self, body: _Body, ts: datetime) -> list[GlassMetric]:
        by_name: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(body.entries(None)):
            by_name.setdefault(body.text(entry, "name", f"entry {i}").lower(), entry)
        rows = []
        for chain in self.chains:
            entry = by_name.get(chain.lower())
            if entry is None:
                log.warning("defillama: /v2/chains lists no chain %r", chain)
                continue
            tvl = body.amount(entry, "tvl", repr(chain))
            rows.append(GlassMetric(SOURCE, chain.lower(), "chain_tvl_usd", ts, tvl))
        return rows

    def _stablecoins(self, body: _Body, ts: datetime) -> list[GlassMetric]:
        total = 0.0
        single: dict[str, float] = {}
        for i, asset in enumerate(body.entries("peggedAssets")):
            where = f"peggedAssets item {i}"
            # Other pegs (EUR, gold…) cannot be added in USD without prices, which we do not ask for.
            if body.text(asset, "pegType", where) != "peggedUSD":
                continue
            symbol = body.text(asset, "symbol", where).lower()
            where = f"{where} ({symbol.upper()})"
            amount = body.amount(body.mapping(asset, "circulating", where), "peggedUSD", where)
            total += amount
            if symbol in SINGLE_STABLECOINS:
                single[symbol] = max(single.get(symbol, 0.0), amount)
        rows = [GlassMetric(SOURCE, "all", "stablecoin_supply_usd", ts, total)]
        for symbol in SINGLE_STABLECOINS:
            if symbol not in single:
                raise body.error("field 'peggedAssets'", f"lists no {symbol.upper()}")
            rows.append(GlassMetric(SOURCE, symbol, "stablecoin_supply_usd", ts, single[symbol]))
        return rows


class _Body:
    """One endpoint's decoded JSON. Every read is checked; a surprise becomes a ``SourceError``
    naming the endpoint and the field, so no KeyError or TypeError escapes a run."""

    def __init__(self, endpoint: str, data: Any) -> None:
        self.endpoint = endpoint
        self.data = data

    def error(self, what: str, problem: str) -> SourceError:
        return SourceError(f"{SOURCE}: {self.endpoint}: {what} {problem}")

    def entries(self, key: str | None) -> list[dict[str, Any]]:
        """The list of objects that is the body (``key`` None) or sits under ``key``."""
        value, what = self.data, "the body"
        if key is not None:
            if not isinstance(self.data, dict):
                raise self.error("the body", f"is {_kind(self.data)}, expected an object")
            value, what = self._field(self.data, key, "the body"), f"field {key!r}"
        if not isinstance(value, list):
            raise self.error(what, f"is {_kind(value)}, expected a list")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"item {i} of {what}", f"is {_kind(item)}, expected an object")
        return value

    def mapping(self, item: dict[str, Any], key: str, where: str) -> dict[str, Any]:
        value = self._field(item, key, where)
        if not isinstance(value, dict):
            raise self._wrong(key, where, value, "an object")
        return value

    def text(self, item: dict[str, Any], key: str, where: str) -> str:
        value = self._field(item, key, where)
        if not isinstance(value, str) or not value:
            raise self._wrong(key, where, value, "text")
        return value

    def amount(self, item: dict[str, Any], key: str, where: str, *, signed: bool = False) -> float:
        """A finite number, not negative unless ``signed``."""
        value = self.maybe_amount(item, key, where, signed=signed)
        if value is None:
            raise self.error(
                f"field {key!r} of {where}", "is missing" if key not in item else "is null"
            )
        return value

    def maybe_amount(
        self, item: dict[str, Any], key: str, where: str, *, signed: bool = False
    ) -> float | None:
        """Like ``amount``, but a missing or null field is None (the source has no figure)."""
        value = item.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, where, value, "a number")
        if not math.isfinite(value):
            raise self.error(f"field {key!r} of {where}", f"is {value}, expected a finite number")
        if value < 0 and not signed:
            raise self.error(f"field {key!r} of {where}", f"is negative ({value})")
        return float(value)

    def _field(self, item: dict[str, Any], key: str, where: str) -> Any:
        if key not in item:
            raise self.error(f"field {key!r} of {where}", "is missing")
        return item[key]

    def _wrong(self, key: str, where: str, value: Any, expected: str) -> SourceError:
        return self.error(f"field {key!r} of {where}", f"is {_kind(value)}, expected {expected}")


def _groups(entries: list[dict[str, Any]], keys: list[set[str]]) -> dict[str, list[dict[str, Any]]]:
    """Entries by their lowercased keys (slug, name); where no entry has a key, the entries
    whose ``parentProtocol`` it is (a parent's versions)."""
    direct: dict[str, list[dict[str, Any]]] = {}
    children: dict[str, list[dict[str, Any]]] = {}
    for entry, names in zip(entries, keys, strict=True):
        for name in names:
            direct.setdefault(name.lower(), [entry])
        parent = entry.get("parentProtocol")
        if isinstance(parent, str) and parent.startswith(PARENT_PREFIX):
            children.setdefault(parent.removeprefix(PARENT_PREFIX).lower(), []).append(entry)
    return {**children, **direct}


def _where(entry: dict[str, Any]) -> str:
    label = entry.get("slug") or entry.get("name")
    return repr(label) if isinstance(label, str) else "an entry"


def _change_of_sum(parts: list[tuple[float, float | None]]) -> float | None:
    """The 1-day % change of a sum, from each part's value and 1-day % change; None when any
    part's change is unknown."""
    if len(parts) == 1:
        return parts[0][1]
    before = 0.0
    for value, change in parts:
        if change is None or change <= -100:
            return None
        before += value / (1 + change / 100)
    if before <= 0:
        return None
    return (sum(value for value, _ in parts) / before - 1) * 100


def _hour(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "empty text" if not value else "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
