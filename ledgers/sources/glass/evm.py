"""Gas price and block height of an EVM chain from public JSON-RPC endpoints, with failover.

One JSON-RPC 2.0 batch per endpoint (https://www.jsonrpc.org/specification#batch) asks for
``eth_gasPrice`` and ``eth_blockNumber`` (Ethereum execution API: both answer a hex quantity).
Some public endpoints do not take batches: they answer one error object (``id`` null) or an
HTTP 4xx. Those get the two calls one at a time, and once that works the collector remembers
the endpoint and sends it single calls from then on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ledgers.intel import Collected, GlassMetric
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy

GWEI = 10**9
MAX_GAS_PRICE_WEI = 100_000 * GWEI  # more than this is a broken node, not a fee market
QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
CALLS = {1: "eth_gasPrice", 2: "eth_blockNumber"}
BATCH = [{"jsonrpc": "2.0", "id": id_, "method": m, "params": []} for id_, m in CALLS.items()]
MAX_REASON = 160


class EvmGasCollector:
    """Gas price (gwei) and block height of ``chain``. Endpoints are tried in order; the last one
    that answered is tried first next time, and the others follow in their configured order."""

    ledger = "glass"

    def __init__(
        self,
        endpoints: Sequence[str] = (
            "https://ethereum-rpc.publicnode.com",
            "https://eth.llamarpc.com",
            "https://cloudflare-eth.com",
        ),
        chain: str = "ethereum",
        interval: float = 60.0,
    ) -> None:
        if not endpoints:
            raise ValueError("EvmGasCollector needs at least one endpoint")
        self.endpoints = tuple(endpoints)
        self.chain = chain
        self.name = f"evm:{chain}"
        self.interval = interval
        self._sticky = 0
        self._unbatched: set[str] = set()  # endpoints that refused a batch but answer singly

    @property
    def preferred(self) -> str:
        """The endpoint the next run tries first."""
        return self.endpoints[self._sticky]

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        """Both readings from the first endpoint that gives sane ones, else ``SourceError``
        listing why each endpoint failed."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware, got {now!r}")
        ts = now.astimezone(UTC)
        order = [self._sticky] + [i for i in range(len(self.endpoints)) if i != self._sticky]
        failures: list[tuple[str, SourceError]] = []
        for index in order:
            url = self.endpoints[index]
            try:
                gas_wei, height = await self._read(http, url)
            except SourceError as exc:
                failures.append((url, exc))
                continue
            self._sticky = index
            return Collected(
                glass=(
                    GlassMetric(self.name, self.chain, "gas_price_gwei", ts, gas_wei / GWEI),
                    GlassMetric(self.name, self.chain, "block_height", ts, float(height)),
                )
            )
        reasons = "; ".join(f"{_host(url)}: {self._reason(url, exc)}" for url, exc in failures)
        raise SourceError(
            f"{self.name}: all {len(failures)} endpoints failed: {reasons}",
            transient=any(exc.transient for _, exc in failures),
        )

    async def _read(self, http: HttpPolicy, url: str) -> tuple[int, int]:
        if url in self._unbatched:
            return await self._singles(http, url)
        try:
            return await self._batch(http, url)
        except _BatchRefused as refusal:
            try:
                readings = await self._singles(http, url)
            except SourceError as exc:
                raise SourceError(
                    f"{exc} (after the batch was refused: {refusal})", transient=exc.transient
                ) from None
        self._unbatched.add(url)
        return readings

    async def _batch(self, http: HttpPolicy, url: str) -> tuple[int, int]:
        try:
            body = await http.post_json(self.name, url, BATCH)
        except SourceError as exc:
            # Of the policy's errors only a 4xx (other than 429) is not transient: the batch or
            # the endpoint refused. Single calls tell which; a 401 or a 404 fails them too.
            if exc.transient:
                raise
            raise _BatchRefused(self._reason(url, exc)) from None
        if isinstance(body, dict) and body.get("error") is not None:
            # A single error object for a valid batch: the endpoint does not take batches.
            raise _BatchRefused(_rpc_error(body["error"]))
        if not isinstance(body, list):
            raise SourceError(f"malformed reply: {_kind(body)}, expected a batch (a list)")
        # A batch reply may come in any order; replies are matched to calls by id (we send ints).
        replies = {
            item["id"]: item
            for item in body
            if isinstance(item, dict) and type(item.get("id")) is int
        }
        return _readings(replies.get(1), replies.get(2))

    async def _singles(self, http: HttpPolicy, url: str) -> tuple[int, int]:
        replies = []
        for call in BATCH:
            reply = await http.post_json(self.name, url, call)
            if not isinstance(reply, dict):
                raise SourceError(f"malformed reply: {_kind(reply)}, expected an object")
            if reply.get("error") is None and reply.get("id") != call["id"]:
                raise SourceError(f"malformed reply: {call['method']} answered another id")
            _quantity(reply, call["method"])  # stop at the first call that fails
            replies.append(reply)
        return _readings(*replies)

    def _reason(self, url: str, exc: SourceError) -> str:
        # Keep messages short and free of the endpoint's path, which may hold an API key.
        text = str(exc).removeprefix(f"{self.name}: ").replace(url.split("?", 1)[0], _host(url))
        return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


class _BatchRefused(SourceError):
    """The endpoint would not take a batch; the calls may still work one at a time."""


def _readings(gas_reply: Any, height_reply: Any) -> tuple[int, int]:
    gas = _quantity(gas_reply, CALLS[1])
    height = _quantity(height_reply, CALLS[2])
    if gas > MAX_GAS_PRICE_WEI:
        raise SourceError(f"malformed reply: eth_gasPrice {gas / GWEI:g} gwei is absurd")
    return gas, height


def _quantity(reply: Any, method: str) -> int:
    if reply is None:
        raise SourceError(f"malformed reply: no answer to {method}")
    if reply.get("error") is not None:
        raise SourceError(f"{method}: {_rpc_error(reply['error'])}")
    if "result" not in reply:
        raise SourceError(f"malformed reply: {method} has no result")
    value = reply["result"]
    if not isinstance(value, str) or not QUANTITY.fullmatch(value):
        raise SourceError(f"malformed reply: {method} result {value!r:.40} is not a hex quantity")
    return int(value, 16)


def _rpc_error(error: Any) -> str:
    if isinstance(error, dict):
        return f"JSON-RPC error {error.get('code')}: {error.get('message')}"
    return f"JSON-RPC error {error!r:.80}"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _kind(value: Any) -> str:
    kinds = {dict: "an object", str: "text", int: "a number", float: "a number", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)
