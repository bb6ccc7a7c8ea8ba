"""Catalyst collectors: SEC EDGAR, CoinSpot's help centre, listing diffs and Snapshot votes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ledgers.intel import CatalystEvent
from ledgers.market import Instrument
from ledgers.sources.base import SourceError
from ledgers.sources.catalyst import (
    CoinSpotAnnouncementsCollector,
    ListingsCollector,
    SecEdgarCollector,
    SnapshotCollector,
    listing_changes,
)
from ledgers.sources.catalyst.coinspot import classify, plain_text
from ledgers.sources.catalyst.sec import acceptance_time, classify_form, filing_url
from tests.ledgers.collector_faults import (
    FAULTS,
    NOW,
    Handler,
    Sleeps,
    assert_survives,
    policy,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def by_id(events: tuple[CatalystEvent, ...]) -> dict[str, CatalystEvent]:
    assert len({e.external_id for e in events}) == len(events)
    return {e.external_id: e for e in events}


# --- SEC EDGAR -----------------------------------------------------------------------------


def sec_server(seen: list[httpx.Request] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        name = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, content=fixture("sec", name), request=request)

    return handler


SEC = "https://www.sec.gov/Archives/edgar/data"


async def test_sec_turns_recent_filings_into_dated_catalysts() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    http = policy(sec_server(seen), sleeps)
    collected = await SecEdgarCollector().collect(http, NOW)
    await http.aclose()
    # the 10-a-second limit spaces the five requests (the fake sleep does not advance time)
    assert sleeps.waits and all(0 < wait <= 0.4 for wait in sleeps.waits)
    events = by_id(collected.catalysts)
    assert {k: (e.type, e.impact) for k, e in events.items()} == {
        # Coinbase: an officer change (item 5.02), an insider's Form 4, the 10-Q and results.
        "0001679788-26-000142": ("filing_8k", 7),
        "0001209191-26-061234": ("insider_trade", 3),
        "0001679788-26-000131": ("filing_periodic", 4),
        "0001679788-26-000129": ("filing_8k", 6),
        # Strategy: the weekly bitcoin 8-K, an amended 13G, an ATM prospectus; S-8 skipped.
        "0001193125-26-412345": ("filing_8k", 6),
        "0000102909-26-004321": ("ownership", 4),
        "0001193125-26-398765": ("securities_offering", 6),
        # MARA: convertible notes (1.01, 2.03, 3.02) and the 10-Q.
        "0001493152-26-048811": ("filing_8k", 7),
        "0001507605-26-000061": ("filing_periodic", 4),
        # Riot: an amended Form 4 and an acquisition completed (2.01); Form 144 skipped.
        "0001127602-26-030112": ("insider_trade", 2),
        "0001104659-26-118877": ("filing_8k", 8),
        # Block: the 10-Q, and an 8-K accepted at 06:10 New York time (10:10 UTC) on the day
        # the 30-day window opened at 09:30 UTC: inside only when read as New York time.
        "0001628280-26-071234": ("filing_periodic", 4),
        "0001628280-26-069999": ("filing_8k", 6),
    }
    coin = events["0001679788-26-000142"]
    assert coin == CatalystEvent(
        source="sec",
        external_id="0001679788-26-000142",
        type="filing_8k",
        title="COIN 8-K: current report (items 5.02, 9.01)",
        url=f"{SEC}/1679788/000167978826000142/coin-20261113.htm",
        # accepted Friday 17:45:12 EST, filed as of Monday: the acceptance time is the event
        occurred=datetime(2026, 11, 13, 22, 45, 12, tzinfo=UTC),
        impact=7,
        currencies=("BTC", "ETH"),
    )
    form4 = events["0001209191-26-061234"]
    assert form4.url == f"{SEC}/1679788/000120919126061234/xslF345X05/wk-form4_1762986690.xml"
    assert form4.title == "COIN 4: insider transaction"
    mstr = events["0000102909-26-004321"]
    assert (
        mstr.currencies == ("BTC",)
        and mstr.title == "MSTR SCHEDULE 13G/A: beneficial ownership report"
    )
    assert mstr.url == f"{SEC}/1050446/000010290926004321/xslSCHEDULE_13G_X01/primary_doc.xml"
    assert all(e.occurred.tzinfo is UTC and e.source == "sec" for e in events.values())
    # Either side of the end of daylight saving (Sunday 1 November 2026): EDT, then EST.
    assert events["0001679788-26-000129"].occurred == at("2026-10-30T20:05:47")  # 16:05:47 EDT
    assert events["0001193125-26-398765"].occurred == at("2026-11-03T21:16:33")  # 16:16:33 EST
    # A Form 4 accepted at 17:31 is still filed that day (until 22:00 for Section 16 forms).
    assert events["0001209191-26-061234"].occurred == at("2026-11-12T22:31:40")
    # one request per CIK, on the 10-digit path, naming us as the SEC asks
    assert [r.url.path for r in seen] == [
        f"/submissions/CIK{cik}.json"
        for cik in ("0001679788", "0001050446", "0001507605", "0001167419", "0001512673")
    ]
    assert all(r.url.host == "data.sec.gov" for r in seen)
    assert {r.headers["User-Agent"] for r in seen} == {"OhMyCoins research contact@example.com"}


async def test_sec_pads_ciks_and_sends_the_configured_user_agent() -> None:
    seen: list[httpx.Request] = []
    http = policy(sec_server(seen))
    collector = SecEdgarCollector(
        {"1507605": "MARA"},
        user_agent="Acme Research admin@acme.example.com",
        base_url="https://sec.mirror.test/",
        currencies={"MARA": ("BTC", "KAS")},
    )
    collected = await collector.collect(http, NOW)
    await http.aclose()
    assert str(seen[0].url) == "https://sec.mirror.test/submissions/CIK0001507605.json"
    assert seen[0].headers["User-Agent"] == "Acme Research admin@acme.example.com"
    assert {e.currencies for e in collected.catalysts} == {("BTC", "KAS")}
    assert collector.name == "sec" and collector.ledger == "catalyst" and collector.interval == 900


async def test_sec_uses_the_filing_date_when_acceptance_time_is_missing() -> None:
    body = json.loads(fixture("sec", "CIK0001507605.json"))
    del body["filings"]["recent"]["acceptanceDateTime"]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, request=request)

    http = policy(handler)
    collected = await SecEdgarCollector({"0001507605": "MARA"}).collect(http, NOW)
    await http.aclose()
    assert {e.occurred for e in collected.catalysts} == {datetime(2026, 11, 4, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("acceptance", "utc"),
    [
        # Daylight saving starts Sunday 8 March 2026: EST (UTC−5) on Friday, EDT (UTC−4) Monday.
        ("2026-03-06T09:30:00.000Z", "2026-03-06T14:30:00"),
        ("2026-03-06T21:59:59.000Z", "2026-03-07T02:59:59"),  # the last minute EDGAR is open
        ("2026-03-09T06:00:00.000Z", "2026-03-09T10:00:00"),  # the first minute on Monday
        ("2026-03-09T17:45:00.000Z", "2026-03-09T21:45:00"),
        # Daylight saving ends Sunday 1 November 2026: EDT on Friday, EST again on Monday.
        ("2026-10-30T17:45:00.000Z", "2026-10-30T21:45:00"),
        ("2026-11-02T06:00:00.000Z", "2026-11-02T11:00:00"),
        ("2026-11-02T17:45:00.000Z", "2026-11-02T22:45:00"),
        # An explicit offset other than UTC is taken at its word.
        ("2026-11-20T17:45:12-05:00", "2026-11-20T22:45:12"),
    ],
)
def test_sec_acceptance_time_is_new_york_wall_clock(acceptance: str, utc: str) -> None:
    assert acceptance_time(acceptance) == at(utc)


async def test_sec_filing_accepted_after_1730_is_dated_by_its_acceptance() -> None:
    # Accepted at 17:45 New York time on Thursday 19 November, so filed as of the next day.
    body = json.loads(fixture("sec", "CIK0001679788.json"))
    recent = body["filings"]["recent"]
    for column in recent.values():
        del column[1:]
    recent["acceptanceDateTime"][0] = "2026-11-19T17:45:12.000Z"
    recent["filingDate"][0] = "2026-11-20"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, request=request)

    http = policy(handler)
    collected = await SecEdgarCollector({"0001679788": "COIN"}).collect(http, NOW)
    await http.aclose()
    (event,) = collected.catalysts
    assert event.occurred == datetime(2026, 11, 19, 22, 45, 12, tzinfo=UTC)


def test_sec_form_table() -> None:
    assert classify_form("8-K", "2.02,9.01") == ("filing_8k", 6)
    assert classify_form("8-K", "") == ("filing_8k", 6)
    assert classify_form("8-K", "1.03") == ("filing_8k", 8)
    assert classify_form("8-K/A", "5.02") == ("filing_8k", 6)
    assert classify_form("10-K") == ("filing_periodic", 4)
    assert classify_form("10-Q/A") == ("filing_periodic", 3)
    assert classify_form("4") == ("insider_trade", 3)
    assert classify_form("S-1") == classify_form("S-3ASR") == ("securities_offering", 6)
    assert classify_form("424B2") == ("securities_offering", 6)
    assert classify_form("SC 13D") == classify_form("SCHEDULE 13G") == ("ownership", 5)
    for skipped in ("S-8", "144", "DEF 14A", "3", "SD", "11-K"):
        assert classify_form(skipped) is None


def test_sec_filing_url_falls_back_to_the_index() -> None:
    assert filing_url("0001050446", "0001193125-26-412345", "") == (
        f"{SEC}/1050446/000119312526412345/0001193125-26-412345-index.htm"
    )


def drop_accessions(body: bytes) -> bytes:
    data = json.loads(body)
    del data["filings"]["recent"]["accessionNumber"]
    return json.dumps(data).encode()


@pytest.mark.parametrize("fault", FAULTS)
async def test_sec_survives_faults(fault: str) -> None:
    error = await assert_survives(fault, SecEdgarCollector(), sec_server(), drop_accessions)
    assert error.args[0].startswith("sec:")
    if fault == "missing_field":
        assert "unexpected" in error.args[0]


async def test_one_failing_cik_fails_the_run() -> None:
    good = sec_server()

    def handler(request: httpx.Request) -> httpx.Response:
        if "CIK0001167419" in request.url.path:
            return httpx.Response(404, request=request)
        return good(request)

    http = policy(handler)
    with pytest.raises(SourceError, match="HTTP 404"):
        await SecEdgarCollector().collect(http, NOW)
    await http.aclose()


def test_sec_refuses_a_cik_that_is_not_one() -> None:
    with pytest.raises(ValueError, match="CIK"):
        SecEdgarCollector({"COIN": "COIN"})


# --- CoinSpot help centre ------------------------------------------------------------------

HELP = "https://coinspot.zendesk.com/hc/en-us/articles"


def help_server(seen: list[httpx.Request] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        page = request.url.params.get("page", "1")
        if page == "3":
            raise AssertionError("page 3 is older than 30 days and must not be fetched")
        body = fixture("coinspot_help", f"articles_page{page}.json")
        return httpx.Response(200, content=body, request=request)

    return handler


async def test_coinspot_classifies_recent_announcements_and_stops_at_old_ones() -> None:
    seen: list[httpx.Request] = []
    http = policy(help_server(seen))
    collected = await CoinSpotAnnouncementsCollector().collect(http, NOW)
    await http.aclose()
    events = collected.catalysts
    assert [(e.external_id, e.type, e.impact, e.currencies) for e in events] == [
        ("48201938475611", "listing", 7, ("HYPE",)),
        ("48187736251019", "trading", 6, ("ETH",)),
        ("48150022947163", "maintenance", 4, ()),
        ("48120785561235", "delisting", 8, ("LUNC", "USTC")),
        ("48061430912267", "feature", 2, ()),
        ("48011876240395", "trading", 6, ("SOL",)),
        ("47950913374731", "listing", 7, ("BONK",)),
    ]
    assert events[0] == CatalystEvent(
        source="coinspot",
        external_id="48201938475611",
        type="listing",
        title="New Listing: Hyperliquid (HYPE)",
        url=f"{HELP}/48201938475611-New-Listing-Hyperliquid-HYPE",
        occurred=datetime(2026, 11, 19, 23, 2, 11, tzinfo=UTC),
        impact=7,
        currencies=("HYPE",),
    )
    assert all(e.occurred.tzinfo is UTC for e in events)
    first, second = seen  # page 2 ends in an article older than 30 days: no page 3
    assert first.url.path == "/api/v2/help_center/en-us/articles.json"
    assert dict(first.url.params) == {
        "sort_by": "created_at",
        "sort_order": "desc",
        "per_page": "50",
    }
    assert dict(second.url.params) == {
        "page": "2",
        "per_page": "50",
        "sort_by": "created_at",
        "sort_order": "desc",
    }


async def test_coinspot_follows_at_most_the_page_cap() -> None:
    seen: list[httpx.Request] = []

    def endless(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        n = len(seen)
        article = {
            "id": 1000 + n,
            "html_url": f"{HELP}/{1000 + n}",
            "created_at": "2026-11-20T08:00:00Z",
            "title": f"Scheduled Maintenance {n}",
            "body": "<p>Back soon.</p>",
        }
        next_page = (
            f"https://coinspot.zendesk.com/api/v2/help_center/en-us/articles.json?page={n + 1}"
        )
        return httpx.Response(
            200, json={"articles": [article], "next_page": next_page}, request=request
        )

    http = policy(endless)
    collected = await CoinSpotAnnouncementsCollector(max_pages=3).collect(http, NOW)
    await http.aclose()
    assert len(seen) == 3
    assert [e.external_id for e in collected.catalysts] == ["1001", "1002", "1003"]


@pytest.mark.parametrize(
    ("title", "lead", "kind"),
    [
        ("New Listing: Hyperliquid (HYPE)", "", "listing"),
        ("Now Listed: Sui (SUI)", "", "listing"),
        ("Bonk (BONK) is now available on CoinSpot", "", "listing"),
        ("CoinSpot Lists Pepe (PEPE) and Bonk (BONK)", "", "listing"),
        ("Delisting of Terra Classic (LUNC) and TerraClassicUSD (USTC)", "", "delisting"),
        ("Upcoming Removal of Powerledger (POWR)", "", "delisting"),
        ("Scheduled Maintenance - Sunday 16 November", "", "maintenance"),
        ("BNB Smart Chain Hard Fork Support", "", "maintenance"),
        ("MATIC to POL Token Migration", "", "maintenance"),
        ("Website Access Restored", "", "maintenance"),
        (
            "Ethereum (ETH) Network Upgrade \u2013 Deposits and Withdrawals Temporarily Suspended",
            "",
            "trading",
        ),
        ("Trading Halted: Terra (LUNA)", "", "trading"),
        ("Trading Resumed for Solana (SOL)", "", "trading"),
        ("XRP Withdrawals Paused", "", "trading"),
        ("Introducing Recurring Buys on the CoinSpot App", "", "feature"),
        # weak words without a coin describe features, not markets
        ("Removal of SMS Two-Factor Authentication", "", "feature"),
        ("Staking Rewards Now Available in the App", "", "feature"),
        # a vague title is settled by the body, except for listings (features say "now available")
        ("Important Update: Pepe (PEPE)", "PEPE will be delisted on 3 December.", "delisting"),
        ("Introducing Staking", "Staking is now available for SOL.", "feature"),
    ],
)
def test_coinspot_classification(title: str, lead: str, kind: str) -> None:
    extractor = CoinSpotAnnouncementsCollector().extractor
    assert classify(title, lead, coins=bool(extractor.extract(f"{title}. {lead}"))) == kind


def test_plain_text_strips_html() -> None:
    body = "<p>Trading of <strong>SOL</strong> &amp; <em>ETH</em>\n has resumed.</p>"
    assert plain_text(body) == "Trading of SOL & ETH has resumed."


@pytest.mark.parametrize("fault", FAULTS)
async def test_coinspot_survives_faults(fault: str) -> None:
    error = await assert_survives(fault, CoinSpotAnnouncementsCollector(), help_server())
    assert error.args[0].startswith("coinspot:")
    if fault == "missing_field":
        assert "unexpected" in error.args[0]


# --- Snapshot ------------------------------------------------------------------------------


def snapshot_server(
    seen: list[httpx.Request] | None = None, name: str = "proposals.json"
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, content=fixture("snapshot", name), request=request)

    return handler


async def test_snapshot_turns_proposals_into_governance_votes() -> None:
    seen: list[httpx.Request] = []
    http = policy(snapshot_server(seen))
    collected = await SnapshotCollector().collect(http, NOW)
    await http.aclose()
    events = collected.catalysts
    assert [(e.title, e.impact, e.occurred, e.currencies) for e in events] == [
        ("Lido: Lido V3 Upgrade Activation", 4, at("2026-11-21T00:00"), ("LDO",)),
        (
            "Aave DAO: [ARFC] Onboard USDG to Aave V3 Core Instance",
            5,
            at("2026-11-18T00:00"),
            ("AAVE",),
        ),
        (
            "Arbitrum DAO: [Constitutional] Extend Delay on L2 Timelock",
            5,
            at("2026-11-13T00:00"),
            ("ARB",),
        ),
        # closed votes are dated by their end
        (
            "Uniswap: Temp Check: Activate Protocol Fee on v3 Mainnet Pools",
            3,
            at("2026-11-15T16:00"),
            ("UNI",),
        ),
        (
            "ENS: [EP 6.30] [Social] Ratify ENS Endowment Investment Policy",
            3,
            at("2026-11-12T16:00"),
            ("ENS",),
        ),
    ]
    first = events[0]
    assert first.source == "snapshot" and first.type == "governance_vote"
    assert first.external_id.startswith("0x") and len(first.external_id) == 66
    assert first.url == f"https://snapshot.box/#/s:lido-snapshot.eth/proposal/{first.external_id}"
    assert all(e.occurred.tzinfo is UTC for e in events)
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "https://hub.snapshot.org/graphql"
    payload = json.loads(request.content)
    assert "proposals(" in payload["query"] and "space_in: $spaces" in payload["query"]
    assert payload["variables"] == {
        "spaces": [
            "aavedao.eth",
            "uniswapgovernance.eth",
            "arbitrumfoundation.eth",
            "lido-snapshot.eth",
            "ens.eth",
        ]
    }


async def test_snapshot_builds_a_link_when_the_hub_gives_none_and_skips_unknown_states() -> None:
    body = json.loads(fixture("snapshot", "proposals.json"))
    proposals = body["data"]["proposals"]
    proposals[0]["link"] = None
    proposals[1]["state"] = "cancelled"
    proposals[2]["space"] = {"id": "somedao.eth", "name": None}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, request=request)

    http = policy(handler)
    events = (await SnapshotCollector().collect(http, NOW)).catalysts
    await http.aclose()
    assert len(events) == 4
    assert (
        events[0].url == f"https://snapshot.org/#/lido-snapshot.eth/proposal/{proposals[0]['id']}"
    )
    assert events[1].title.startswith("somedao.eth: ") and events[1].currencies == ()


async def test_snapshot_graphql_errors_are_a_source_error() -> None:
    http = policy(snapshot_server(name="errors.json"))
    with pytest.raises(SourceError, match="snapshot: GraphQL errors: Cannot query field"):
        await SnapshotCollector().collect(http, NOW)
    await http.aclose()


@pytest.mark.parametrize("fault", FAULTS)
async def test_snapshot_survives_faults(fault: str) -> None:
    error = await assert_survives(fault, SnapshotCollector(), snapshot_server())
    assert error.args[0].startswith("snapshot:")
    if fault == "missing_field":
        assert "unexpected" in error.args[0]


# --- listings ------------------------------------------------------------------------------


def test_listing_changes_adds_and_removes() -> None:
    assert listing_changes({"BTC/AUD"}, {"BTC/AUD"}, NOW) == []
    events = listing_changes({"BTC/AUD", "LUNA/AUD"}, {"BTC/AUD", "SOL/AUD", "HYPE/AUD"}, NOW)
    assert events == [
        CatalystEvent(
            source="listings",
            external_id="coinspot:HYPE/AUD:listed:2026-11-20",
            type="listing",
            title="CoinSpot lists HYPE/AUD",
            url="https://www.coinspot.com.au/buy/hype",
            occurred=NOW,
            impact=7,
            currencies=("HYPE",),
        ),
        CatalystEvent(
            source="listings",
            external_id="coinspot:SOL/AUD:listed:2026-11-20",
            type="listing",
            title="CoinSpot lists SOL/AUD",
            url="https://www.coinspot.com.au/buy/sol",
            occurred=NOW,
            impact=7,
            currencies=("SOL",),
        ),
        CatalystEvent(
            source="listings",
            external_id="coinspot:LUNA/AUD:delisted:2026-11-20",
            type="delisting",
            title="CoinSpot delists LUNA/AUD",
            url="https://www.coinspot.com.au/buy/luna",
            occurred=NOW,
            impact=8,
            currencies=("LUNA",),
        ),
    ]


def test_listing_changes_on_another_venue() -> None:
    (event,) = listing_changes(set(), {"ETH/USDT"}, NOW, venue="kraken")
    assert event.external_id == "kraken:ETH/USDT:listed:2026-11-20"
    assert event.title == "kraken lists ETH/USDT" and event.url == ""


def instruments(*symbols: str) -> list[Instrument]:
    return [Instrument("coinspot", s, *s.split("/")) for s in symbols]


async def test_listings_collector_is_silent_first_then_reports_changes() -> None:
    markets = [
        instruments("BTC/AUD", "ETH/AUD"),
        instruments("BTC/AUD", "ETH/AUD", "SOL/AUD"),  # add
        instruments("BTC/AUD", "SOL/AUD"),  # remove
        instruments("SOL/AUD", "HYPE/AUD", "XRP/AUD"),  # both
        instruments("XRP/AUD", "HYPE/AUD", "SOL/AUD"),  # nothing
    ]

    async def load() -> list[Instrument]:
        return markets.pop(0)

    collector = ListingsCollector(load)
    assert collector.name == "listings" and collector.ledger == "catalyst"
    http = policy(lambda request: httpx.Response(500))  # never used: no request is made
    runs = [await collector.collect(http, NOW) for _ in range(5)]
    await http.aclose()
    assert [[(e.type, e.currencies) for e in run.catalysts] for run in runs] == [
        [],
        [("listing", ("SOL",))],
        [("delisting", ("ETH",))],
        [("listing", ("HYPE",)), ("listing", ("XRP",)), ("delisting", ("BTC",))],
        [],
    ]


async def test_an_empty_market_list_is_an_outage_not_a_mass_delisting() -> None:
    markets = [instruments("BTC/AUD"), [], instruments("BTC/AUD", "SOL/AUD")]

    async def load() -> list[Instrument]:
        return markets.pop(0)

    collector = ListingsCollector(load)
    http = policy(lambda request: httpx.Response(500))
    assert (await collector.collect(http, NOW)).catalysts == ()
    with pytest.raises(SourceError, match="no markets"):
        await collector.collect(http, NOW)
    (event,) = (await collector.collect(http, NOW)).catalysts
    await http.aclose()
    assert event.title == "CoinSpot lists SOL/AUD"
