"""DAO governance votes from Snapshot's hub (GraphQL), for the protocols whose tokens we watch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ledgers.intel import CatalystEvent, Collected
from ledgers.sources.base import SourceError
from ledgers.sources.http import HttpPolicy

# Aave's DAO votes in aavedao.eth; aave.eth is its retired space and stays mapped for old rows.
DEFAULT_SPACES = (
    "aavedao.eth",
    "uniswapgovernance.eth",
    "arbitrumfoundation.eth",
    "lido-snapshot.eth",
    "ens.eth",
)
DEFAULT_TICKERS: Mapping[str, str] = {
    "aavedao.eth": "AAVE",
    "aave.eth": "AAVE",
    "uniswapgovernance.eth": "UNI",
    "arbitrumfoundation.eth": "ARB",
    "lido-snapshot.eth": "LDO",
    "ens.eth": "ENS",
}
QUERY = """
query Proposals($spaces: [String]) {
  proposals(
    first: 50
    where: {space_in: $spaces}
    orderBy: "created"
    orderDirection: desc
  ) {
    id title state start end created
    space { id name }
    scores_total votes link
  }
}
"""
_IMPACT = {"active": 5, "pending": 4, "closed": 3}
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, OverflowError)


class SnapshotCollector:
    """The 50 newest proposals across ``spaces``, one ``governance_vote`` event each."""

    name = "snapshot"
    ledger = "catalyst"

    def __init__(
        self,
        spaces: Sequence[str] = DEFAULT_SPACES,
        *,
        url: str = "https://hub.snapshot.org/graphql",
        interval: float = 1800.0,
        tickers: Mapping[str, str] = DEFAULT_TICKERS,
    ) -> None:
        self.spaces = tuple(spaces)
        self.url = url
        self.interval = interval
        self.tickers = dict(tickers)

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        """Proposals of the configured spaces; GraphQL errors fail the run."""
        payload = {"query": QUERY, "variables": {"spaces": list(self.spaces)}}
        body = await http.post_json(self.name, self.url, payload)
        return Collected(catalysts=tuple(parse_proposals(body, self.tickers)))


def parse_proposals(body: Any, tickers: Mapping[str, str]) -> list[CatalystEvent]:
    """Events from a ``proposals`` GraphQL response; ``errors`` in it is a SourceError."""
    if isinstance(body, dict) and body.get("errors"):
        errors = body["errors"] if isinstance(body["errors"], list) else [body["errors"]]
        messages = "; ".join(
            str(error.get("message", error)) if isinstance(error, dict) else str(error)
            for error in errors
        )
        raise SourceError(f"snapshot: GraphQL errors: {messages}")
    try:
        proposals = body["data"]["proposals"]
        return [event for event in (_event(proposal, tickers) for proposal in proposals) if event]
    except _MALFORMED as exc:
        raise SourceError(f"snapshot: unexpected proposals shape: {exc!r}") from None


def _event(proposal: Mapping[str, Any], tickers: Mapping[str, str]) -> CatalystEvent | None:
    state = proposal["state"]
    if state not in _IMPACT:
        return None  # a state Snapshot may add later; not a vote we can date
    space = proposal["space"]["id"]
    space_name = proposal["space"].get("name") or space
    pid = str(proposal["id"])
    when = proposal["end"] if state == "closed" else proposal["start"]
    ticker = tickers.get(space)
    return CatalystEvent(
        source="snapshot",
        external_id=pid,
        type="governance_vote",
        title=f"{space_name}: {proposal['title']}",
        url=proposal.get("link") or f"https://snapshot.org/#/{space}/proposal/{pid}",
        occurred=datetime.fromtimestamp(int(when), tz=UTC),
        impact=_IMPACT[state],
        currencies=(ticker,) if ticker else (),
    )
