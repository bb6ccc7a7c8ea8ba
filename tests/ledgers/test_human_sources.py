"""Human-ledger collectors — news feeds, Reddit, CryptoPanic, Fear & Greed — served from fixtures
in the documented shapes (see tests/fixtures/*/SOURCE.md)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgers.human.sentiment import score
from ledgers.intel import Collected, HumanItem, MoodReading
from ledgers.sources.base import SourceError
from ledgers.sources.human import (
    CryptoPanicCollector,
    FearGreedCollector,
    RedditCollector,
    RssCollector,
)
from ledgers.sources.human.items import excerpt, masked, plain_text
from ledgers.sources.human.rss import untracked
from tests.ledgers.collector_faults import FAULTS, NOW, assert_survives, policy

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def reply(request: httpx.Request, body: bytes | Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    kind = "application/rss+xml" if content.lstrip().startswith(b"<") else "application/json"
    return httpx.Response(
        200, content=content, headers={"Content-Type": kind, **headers}, request=request
    )


async def run(collector: Any, handler: Handler, now: datetime = NOW) -> Collected:
    http = policy(handler)
    try:
        return await collector.collect(http, now)
    finally:
        await http.aclose()


def dropping(*keys: str) -> Callable[[bytes], bytes]:
    """A mangle that removes ``keys`` from every object of a JSON body (all required)."""

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            for key in keys:
                node.pop(key, None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    def mangle(body: bytes) -> bytes:
        data = json.loads(body)
        strip(data)
        return json.dumps(data).encode()

    return mangle


def is_utc(when: datetime) -> bool:
    offset = when.utcoffset()
    return offset is not None and offset == timedelta(0)


# --- shared item rules -----------------------------------------------------------------------


def test_plain_text_drops_markup_scripts_and_entities() -> None:
    html = '<p>BTC <b>up</b> &amp; away</p><script>alert("x")</script><br/>next&nbsp;line'
    assert plain_text(html) == "BTC up & away next line"  # &nbsp; is a space too
    assert plain_text("Tom &amp; Jerry &lt;3") == "Tom & Jerry <3"  # Reddit-style escaping


def test_excerpt_is_bounded_at_a_word() -> None:
    text = "<p>" + "word " * 300 + "</p>"
    cut = excerpt(text)
    assert len(cut) <= 500 and cut.endswith("word…")
    assert excerpt("<i>short</i>") == "short"


def test_masked_hides_secrets_and_keeps_transience() -> None:
    error = masked(SourceError("x: failed with s3cret in it", transient=False), "s3cret", None)
    assert str(error) == "x: failed with *** in it" and not error.transient
    untouched = SourceError("nothing to hide")
    assert masked(untouched, "s3cret") is untouched


# --- RSS -------------------------------------------------------------------------------------

FEEDS = {
    "coindesk": "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "cointelegraph": "https://cointelegraph.com/rss",
    "decrypt": "https://decrypt.co/feed",
}
FEED_FILES = {
    FEEDS["coindesk"]: "rss/coindesk.xml",
    FEEDS["cointelegraph"]: "rss/cointelegraph.xml",
    FEEDS["decrypt"]: "rss/decrypt_atom.xml",
}


def feeds(broken: str | None = None) -> Handler:
    """Serve the feed fixtures; the ``broken`` feed answers with an HTML page."""

    def handler(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if broken is not None and url == FEEDS[broken]:
            return httpx.Response(200, text="<!doctype html><title>Just a moment…</title>")
        return reply(request, fixture(FEED_FILES[url]))

    return handler


def undated(body: bytes) -> bytes:
    """Every entry loses its date, which the collector needs to place it against prices."""
    return re.sub(rb"<(pubDate|updated)>.*?</\1>", b"", body)


async def test_rss_items_from_the_fixtures() -> None:
    items = {item.external_id: item for item in (await run(RssCollector(FEEDS), feeds())).human}

    # The newsletter promo has no pubDate: skipped rather than dated "now".
    assert set(items) == {
        "J3KQ5Z7XCNH2VMPL4RTA6YWBSE",
        "Q8WN2E4RT6YU1IOP3ASD5FGH7J",
        "https://cointelegraph.com/news/chainlink-aave-partner-onchain-data-defi-lenders",
        "https://decrypt.co/?p=312345",
    }
    surge = items["J3KQ5Z7XCNH2VMPL4RTA6YWBSE"]
    assert surge.source == "rss:coindesk"
    assert surge.title == "Bitcoin Surges to Record High as Spot ETF Inflows Soar"
    assert surge.url == (
        "https://www.coindesk.com/markets/2026/11/20/"
        "bitcoin-surges-to-record-high-as-spot-etf-inflows-soar"
    )
    assert surge.published == datetime(2026, 11, 20, 8, 12, tzinfo=UTC)
    assert surge.body == (
        "The largest cryptocurrency rallied past its previous peak & options traders added "
        "bets on further gains."
    )
    assert surge.currencies == ("BTC",) and surge.score > 0.5 and surge.votes is None

    hack = items["Q8WN2E4RT6YU1IOP3ASD5FGH7J"]
    assert hack.published == datetime(2026, 11, 20, 3, 15, tzinfo=UTC)  # 22:15 −05:00
    assert hack.body.startswith("Withdrawals were frozen on Thursday after attackers drained")
    assert len(hack.body) <= 500 and hack.body.endswith("…") and "<" not in hack.body
    assert hack.currencies == ("ETH",) and hack.score < -0.5

    link = items["https://cointelegraph.com/news/chainlink-aave-partner-onchain-data-defi-lenders"]
    assert link.source == "rss:cointelegraph" and link.url == link.external_id
    assert link.body == "The integration lets lending markets price collateral with fresher feeds."
    assert link.currencies == ("LINK", "AAVE") and link.score > 0

    sued = items["https://decrypt.co/?p=312345"]
    assert sued.source == "rss:decrypt"
    assert sued.url == "https://decrypt.co/312345/sec-sues-exchange-xrp-listings"
    assert sued.published == datetime(2026, 11, 20, 0, 5, tzinfo=UTC)  # Atom <updated>, +10:00
    assert sued.body == "The complaint names the exchange’s XRP market."
    assert sued.currencies == ("XRP",) and sued.score < 0

    assert all(is_utc(item.published) and -1 <= item.score <= 1 for item in items.values())


async def test_rss_per_feed_collectors_fail_alone() -> None:
    collectors = RssCollector(FEEDS, interval=300.0).per_feed()
    assert [c.name for c in collectors] == ["rss:coindesk", "rss:cointelegraph", "rss:decrypt"]
    assert all(c.ledger == "human" and c.interval == 300.0 for c in collectors)

    handler = feeds(broken="cointelegraph")
    coindesk, cointelegraph, decrypt = collectors
    assert {i.source for i in (await run(coindesk, handler)).human} == {"rss:coindesk"}
    assert {i.source for i in (await run(decrypt, handler)).human} == {"rss:decrypt"}
    with pytest.raises(SourceError, match="rss:cointelegraph: feed 'cointelegraph' did not"):
        await run(cointelegraph, handler)
    # One collector over every feed is all or nothing.
    with pytest.raises(SourceError, match="cointelegraph"):
        await run(RssCollector(FEEDS), handler)


async def test_rss_feed_whose_entries_all_lack_dates_is_malformed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply(request, undated(fixture("rss/coindesk.xml")))

    with pytest.raises(SourceError, match="no entry has a title, link and date"):
        await run(RssCollector({"coindesk": FEEDS["coindesk"]}), handler)


async def test_rss_empty_feed_is_no_items() -> None:
    empty = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    collected = await run(
        RssCollector({"quiet": "https://quiet.example/rss"}), lambda r: reply(r, empty)
    )
    assert collected == Collected()


@pytest.mark.parametrize("fault", FAULTS)
async def test_rss_fault_matrix(fault: str) -> None:
    for collector in RssCollector(FEEDS).per_feed():
        await assert_survives(fault, collector, feeds(), mangle=undated)


# CoinDesk's items as served today: the full <description>, then an empty <dc:description/> and
# an empty <content:encoded/> (in either order), and links with utm parameters.
EMPTY_DC = "rss/coindesk_empty_dc.xml"
STAKING_ETF = (
    "https://www.coindesk.com/markets/2026/11/20/asset-manager-files-for-first-us-staking-etf"
)


def serving(name: str, edit: Callable[[bytes], bytes] = lambda body: body) -> Handler:
    return lambda request: reply(request, edit(fixture(name)))


async def test_rss_text_survives_empty_dc_description_and_content_encoded() -> None:
    collector = RssCollector({"coindesk": FEEDS["coindesk"]})
    items = {item.external_id: item for item in (await run(collector, serving(EMPTY_DC))).human}

    # The same article with and without utm parameters has no guid: one item, keyed by its link.
    assert set(items) == {
        "V7HD3K9QW2LM5NXC8BRT4YPAZE",
        STAKING_ETF,
        "R5TY8U2IO4PL6KJH9GFD3SAQ1W",
        "M2NB4VC6XZ8LK1JH3GF5DS7AQP",
    }
    stall = items["V7HD3K9QW2LM5NXC8BRT4YPAZE"]  # description, empty dc:description, empty content
    assert stall.body.startswith("Block production on the network halted after a bug")
    assert (
        stall.url == "https://www.coindesk.com/tech/2026/11/20/solana-network-stalls-for-five-hours"
    )
    assert stall.currencies == ("SOL",) and stall.score < 0

    # Empty content:encoded, then empty dc:description: feedparser alone reports no text at all,
    # and the title names no coin.
    etf = items[STAKING_ETF]
    assert (
        etf.url == STAKING_ETF and etf.title == "Asset Manager Files for the First U.S. Staking ETF"
    )
    assert etf.body == (
        "The filing would let the fund stake part of its ETH holdings, a first for a U.S. "
        "product, and analysts called approval likely."
    )
    assert etf.currencies == ("ETH",) and etf.score > 0

    futures = items["R5TY8U2IO4PL6KJH9GFD3SAQ1W"]  # content:encoded has the full text: it wins
    assert futures.body.startswith("The exchange's derivatives arm will offer monthly DOGE")
    assert futures.currencies == ("DOGE", "BTC", "ETH")
    # Only the trackers go: the page parameter stays.
    assert futures.url == (
        "https://www.coindesk.com/markets/2026/11/20/coinbase-lists-dogecoin-futures?page=2"
    )

    hearing = items["M2NB4VC6XZ8LK1JH3GF5DS7AQP"]  # empty dc:description before the description
    assert hearing.body.startswith("The token fell 6% after the judge asked both sides")
    assert hearing.currencies == ("XRP",) and hearing.score < 0
    assert all("utm_" not in item.url and item.body for item in items.values())


async def test_rss_links_with_and_without_utm_are_one_row_across_runs() -> None:
    def only(link_has_utm: bool) -> Callable[[bytes], bytes]:
        """The feed with just one of the two copies of the staking ETF story."""

        def edit(body: bytes) -> bytes:
            items = re.findall(rb"<item>.*?</item>", body, flags=re.S)
            etf = [item for item in items if b"staking-etf" in item]
            drop = [item for item in etf if (b"utm_" in item) != link_has_utm]
            for item in drop:
                body = body.replace(item, b"")
            return body

        return edit

    def etf_keys(human: tuple[HumanItem, ...]) -> set[tuple[str, str, str]]:
        return {(i.source, i.external_id, i.url) for i in human if "staking" in i.url}

    collector = RssCollector({"coindesk": FEEDS["coindesk"]})
    tracked = (await run(collector, serving(EMPTY_DC, only(link_has_utm=True)))).human
    clean = (await run(collector, serving(EMPTY_DC, only(link_has_utm=False)))).human
    assert etf_keys(tracked) == etf_keys(clean) == {("rss:coindesk", STAKING_ETF, STAKING_ETF)}


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://x.example/a?utm_source=rss", "https://x.example/a"),
        ("https://x.example/a?id=7&UTM_Medium=x&fbclid=IwAR0#top", "https://x.example/a?id=7#top"),
        ("https://x.example/a?q=a%20b&utm_source=rss&p=", "https://x.example/a?q=a%20b&p="),
        ("https://x.example/a?utm=1&gclid=Cj0&mc_cid=9&mc_eid=8", "https://x.example/a?utm=1"),
        ("https://x.example/a?q=a+b", "https://x.example/a?q=a+b"),
        ("https://decrypt.co/?p=312345", "https://decrypt.co/?p=312345"),
        ("J3KQ5Z7XCNH2VMPL4RTA6YWBSE", "J3KQ5Z7XCNH2VMPL4RTA6YWBSE"),
        ("tag:x.example,2026:a?utm_source=rss", "tag:x.example,2026:a?utm_source=rss"),
    ],
)
def test_untracked_drops_only_tracking_parameters(link: str, expected: str) -> None:
    assert untracked(link) == expected


@pytest.mark.parametrize("fault", FAULTS)
async def test_rss_fault_matrix_on_the_empty_dc_feed(fault: str) -> None:
    collector = RssCollector({"coindesk": FEEDS["coindesk"]})
    await assert_survives(fault, collector, serving(EMPTY_DC), mangle=undated)


# --- Reddit ----------------------------------------------------------------------------------

SUBS = ("CryptoCurrency", "Bitcoin")
CLIENT_ID, SECRET = "pK3xQ9vZ1a2B3c", "kT7-sEcReT-zz9YyXx8WwVv7Uu"
TOKEN = json.loads(fixture("reddit/access_token.json"))["access_token"]


class FakeReddit:
    """Reddit's public and OAuth hosts, recording what was asked of them."""

    def __init__(self, budget: tuple[str, str] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens = [TOKEN]  # handed out in turn by the token endpoint
        self.revoked: set[str] = set()
        self.budget = budget  # (x-ratelimit-remaining, x-ratelimit-reset) on listings

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = request.url
        if url.path == "/api/v1/access_token":
            token = self.tokens[min(self.token_requests, len(self.tokens)) - 1]
            return reply(
                request, {**json.loads(fixture("reddit/access_token.json")), "access_token": token}
            )
        match = re.fullmatch(r"/r/(\w+)/hot(\.json)?", url.path)
        assert match is not None, url
        if url.host == "oauth.reddit.com":
            bearer = request.headers.get("Authorization", "").removeprefix("bearer ")
            if bearer in self.revoked or bearer not in self.tokens:
                return httpx.Response(401, json={"message": "Unauthorized", "error": 401})
        headers = {}
        if self.budget is not None:
            headers = {
                "x-ratelimit-used": "100",
                "x-ratelimit-remaining": self.budget[0],
                "x-ratelimit-reset": self.budget[1],
            }
        return reply(request, fixture(f"reddit/hot_{match[1]}.json"), **headers)

    @property
    def token_requests(self) -> int:
        return sum(r.url.path == "/api/v1/access_token" for r in self.requests)

    def listings(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/hot" in r.url.path]


def oauth_reddit(**kwargs: Any) -> RedditCollector:
    return RedditCollector(SUBS, client_id=CLIENT_ID, client_secret=SECRET, **kwargs)


async def test_reddit_items_without_credentials() -> None:
    reddit = FakeReddit()
    items = {i.external_id: i for i in (await run(RedditCollector(SUBS, limit=10), reddit)).human}

    assert [str(r.url) for r in reddit.requests] == [
        "https://www.reddit.com/r/CryptoCurrency/hot.json?limit=10",
        "https://www.reddit.com/r/Bitcoin/hot.json?limit=10",
    ]
    assert {r.headers["User-Agent"] for r in reddit.requests} == {
        "python:oh-my-coins:0.1 (by /u/omc)"
    }
    assert not any("Authorization" in r.headers for r in reddit.requests)
    # The stickied daily thread (t3_1gzx001) is left out.
    assert set(items) == {"t3_1h0a4kq", "t3_1h0b7rt", "t3_1h09zzq"}

    bought = items["t3_1h0a4kq"]
    assert bought.source == "reddit:CryptoCurrency"
    assert bought.title == "Just bought my first 0.1 BTC. Feeling great about it! HODL"
    assert bought.url == (
        "https://www.reddit.com/r/CryptoCurrency/comments/1h0a4kq/"
        "just_bought_my_first_01_btc_feeling_great_about/"
    )
    assert bought.published == datetime(2026, 11, 20, 6, 50, tzinfo=UTC)
    assert bought.body.startswith("Took me a year of saving & DCA.")
    assert bought.votes == {"score": 1834, "comments": 402}
    assert bought.currencies == ("BTC",) and bought.score > 0

    rugged = items["t3_1h0b7rt"]
    assert rugged.title == "Lost everything in a rug pull. Be careful out there & check contracts"
    assert rugged.body == (
        "This scam drained my wallet in one block. The devs deleted the Telegram <again>."
    )
    assert rugged.score < -0.5 and rugged.votes == {"score": 977, "comments": 311}

    link = items["t3_1h09zzq"]
    assert link.source == "reddit:Bitcoin" and link.body == ""
    assert link.url.startswith("https://www.reddit.com/r/Bitcoin/comments/1h09zzq/")
    assert link.published == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert link.currencies == ("BTC",) and link.score > 0.5
    assert all(is_utc(i.published) and -1 <= i.score <= 1 for i in items.values())


async def test_reddit_oauth_token_is_requested_once_and_reused() -> None:
    reddit = FakeReddit()
    collector = oauth_reddit()
    http = policy(reddit)
    try:
        first = await collector.collect(http, NOW)
        second = await collector.collect(http, NOW + timedelta(hours=1))
        assert reddit.token_requests == 1
        await collector.collect(http, NOW + timedelta(days=1))  # past expires_in: a new token
        assert reddit.token_requests == 2
    finally:
        await http.aclose()

    token_request = reddit.requests[0]
    assert token_request.method == "POST"
    assert str(token_request.url) == "https://www.reddit.com/api/v1/access_token"
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {basic}"
    assert token_request.content == b"grant_type=client_credentials"
    assert token_request.headers["User-Agent"] == "python:oh-my-coins:0.1 (by /u/omc)"
    assert [str(r.url) for r in reddit.listings()[:2]] == [
        "https://oauth.reddit.com/r/CryptoCurrency/hot?limit=25",
        "https://oauth.reddit.com/r/Bitcoin/hot?limit=25",
    ]
    assert {r.headers["Authorization"] for r in reddit.listings()} == {f"bearer {TOKEN}"}
    assert first == second and len(first.human) == 3


async def test_reddit_oauth_refreshes_a_rejected_token_once() -> None:
    reddit = FakeReddit()
    reddit.tokens = [TOKEN, "second-token"]
    collector = oauth_reddit()
    http = policy(reddit)
    try:
        await collector.collect(http, NOW)
        reddit.revoked.add(TOKEN)
        collected = await collector.collect(http, NOW + timedelta(minutes=10))
    finally:
        await http.aclose()
    assert len(collected.human) == 3 and reddit.token_requests == 2
    bearers = [r.headers["Authorization"] for r in reddit.listings()]
    assert bearers == [f"bearer {TOKEN}"] * 3 + ["bearer second-token"] * 2


async def test_reddit_oauth_gives_up_after_one_refresh_without_leaking() -> None:
    reddit = FakeReddit()
    reddit.revoked.add(TOKEN)  # every token it hands out is refused
    with pytest.raises(SourceError, match="HTTP 401") as caught:
        await run(oauth_reddit(), reddit)
    assert reddit.token_requests == 2 and len(reddit.listings()) == 2
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)
    assert not caught.value.transient


async def test_reddit_bad_credentials_or_refused_grant_never_show_the_secret() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Unauthorized", "error": 401})

    with pytest.raises(SourceError, match="HTTP 401 from https://www.reddit.com/api/v1/") as err:
        await run(oauth_reddit(), refused)
    assert SECRET not in str(err.value) and CLIENT_ID not in str(err.value)

    def unsupported(request: httpx.Request) -> httpx.Response:
        return reply(request, {"error": "unsupported_grant_type"})

    with pytest.raises(SourceError, match=r"token refused \(unsupported_grant_type\)") as err:
        await run(oauth_reddit(), unsupported)
    assert SECRET not in str(err.value)


def test_reddit_oauth_needs_both_halves_of_the_credentials() -> None:
    with pytest.raises(ValueError, match="both"):
        RedditCollector(client_id=CLIENT_ID)
    assert oauth_reddit().oauth and not RedditCollector().oauth


async def test_reddit_stops_when_its_rate_limit_budget_is_spent() -> None:
    reddit = FakeReddit(budget=("0.0", "120"))
    collector = RedditCollector(SUBS)
    http = policy(reddit)
    try:
        with pytest.raises(
            SourceError, match=r"rate limit spent; retry after .*09:32:00 UTC \(in 120s\)"
        ) as caught:
            await collector.collect(http, NOW)
        assert caught.value.transient and len(reddit.requests) == 1  # r/Bitcoin not asked
        with pytest.raises(SourceError, match=r"in 60s"):
            await collector.collect(http, NOW + timedelta(seconds=60))
        assert len(reddit.requests) == 1  # nothing sent while the window lasts
        reddit.budget = ("57.0", "300")
        later = await collector.collect(http, NOW + timedelta(seconds=121))
    finally:
        await http.aclose()
    assert len(later.human) == 3 and len(reddit.requests) == 3


async def test_reddit_spent_budget_on_the_last_listing_keeps_the_run() -> None:
    reddit = FakeReddit(budget=("0", "30"))
    collected = await run(RedditCollector(("Bitcoin",)), reddit)
    assert [i.external_id for i in collected.human] == ["t3_1h09zzq"]


async def test_reddit_rejects_something_that_is_not_a_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply(request, {"kind": "t5", "data": {"display_name": "Bitcoin"}})

    with pytest.raises(SourceError, match="malformed listing of r/Bitcoin"):
        await run(RedditCollector(("Bitcoin",)), handler)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("mode", ["anonymous", "oauth"])
async def test_reddit_fault_matrix(fault: str, mode: str) -> None:
    collector = oauth_reddit() if mode == "oauth" else RedditCollector(SUBS)
    error = await assert_survives(fault, collector, FakeReddit(), mangle=dropping("created_utc"))
    assert SECRET not in str(error) and TOKEN not in str(error)


# --- CryptoPanic -----------------------------------------------------------------------------

PANIC_TOKEN = "0123456789abcdef0123456789abcdef01234567"  # as in the fixtures' next links


class FakePanic:
    def __init__(self, next_link: str | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.next_link = next_link  # replaces page 1's "next" when set

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.url.params["auth_token"] == PANIC_TOKEN
        page = request.url.params.get("page", "1")
        assert page in ("1", "2"), "only two pages are followed"
        body = json.loads(fixture(f"cryptopanic/posts_page{page}.json"))
        if page == "1" and self.next_link is not None:
            body["next"] = self.next_link
        return reply(request, body)


async def test_cryptopanic_items_from_two_pages() -> None:
    panic = FakePanic()
    items = {i.external_id: i for i in (await run(CryptoPanicCollector(PANIC_TOKEN), panic)).human}

    first = panic.requests[0].url
    assert (first.host, first.path) == ("cryptopanic.com", "/api/v1/posts/")
    assert dict(first.params) == {"auth_token": PANIC_TOKEN, "public": "true", "kind": "news"}
    assert panic.requests[1].url.params["page"] == "2" and len(panic.requests) == 2
    assert list(items) == ["21345678", "21345601", "21345555"]  # the repeat counted once

    surge = items["21345678"]
    assert surge.source == "cryptopanic"
    assert surge.url == (
        "https://cryptopanic.com/news/21345678/"
        "Bitcoin-Surges-to-Record-High-as-Spot-ETF-Inflows-Soar"
    )
    assert surge.published == datetime(2026, 11, 20, 8, 12, tzinfo=UTC)
    assert surge.currencies == ("BTC",)
    assert surge.votes == {
        "negative": 1, "positive": 14, "important": 6, "liked": 9, "disliked": 0,
        "lol": 0, "toxic": 0, "saved": 2, "comments": 3,
    }  # fmt: skip
    # Text and readers averaged; the readers lean (14 − 1) / (14 + 1 + 1).
    assert surge.score == pytest.approx((score(surge.title) + 13 / 16) / 2)
    assert surge.score > 0.5

    hack = items["21345601"]
    assert hack.currencies == ("ETH",)
    assert hack.score == pytest.approx((score(hack.title) - 11 / 12) / 2) and hack.score < -0.5

    # No currencies tagged: the extractor reads the headline. No bullish/bearish votes: text only.
    sol = items["21345555"]
    assert sol.currencies == ("SOL",) and sol.score == pytest.approx(score(sol.title))
    assert sol.score > 0
    assert sol.published == datetime(2026, 11, 19, 23, 40, 5, 123456, tzinfo=UTC)
    assert sol.votes is not None and set(sol.votes.values()) == {0}
    assert all(is_utc(i.published) and -1 <= i.score <= 1 for i in items.values())


async def test_cryptopanic_without_a_token_is_disabled() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a disabled collector sent a request")

    for token in (None, ""):
        collector = CryptoPanicCollector(token)
        assert not collector.enabled
        assert await run(collector, refuse) == Collected()
    assert CryptoPanicCollector(PANIC_TOKEN).enabled


@pytest.mark.parametrize(
    "link",
    [
        f"https://elsewhere.example/posts/?auth_token={PANIC_TOKEN}&page=2",
        f"http://cryptopanic.com/api/v1/posts/?auth_token={PANIC_TOKEN}&page=2",
    ],
)
async def test_cryptopanic_follows_next_only_to_its_own_origin(link: str) -> None:
    panic = FakePanic(next_link=link)
    collected = await run(CryptoPanicCollector(PANIC_TOKEN), panic)
    assert len(panic.requests) == 1 and len(collected.human) == 2


async def test_cryptopanic_next_without_the_token_gets_it_back() -> None:
    panic = FakePanic(
        next_link="https://cryptopanic.com/api/v1/posts/?kind=news&page=2&public=true"
    )
    await run(CryptoPanicCollector(PANIC_TOKEN), panic)
    assert panic.requests[1].url.params["auth_token"] == PANIC_TOKEN


@pytest.mark.parametrize("fault", FAULTS)
async def test_cryptopanic_fault_matrix(fault: str) -> None:
    collector = CryptoPanicCollector(PANIC_TOKEN)
    error = await assert_survives(fault, collector, FakePanic(), mangle=dropping("published_at"))
    assert PANIC_TOKEN not in str(error)


async def test_cryptopanic_token_is_masked_whoever_writes_the_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")  # a message quoting the URL

    with pytest.raises(SourceError, match=r"auth_token=\*\*\*") as err:
        await run(CryptoPanicCollector(PANIC_TOKEN), handler)
    assert PANIC_TOKEN not in str(err.value)


# --- Fear & Greed ----------------------------------------------------------------------------


def fng(edit: Callable[[Any], None] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == "https://api.alternative.me/fng/?limit=2"
        body = json.loads(fixture("feargreed/fng.json"))
        if edit is not None:
            edit(body)
        return reply(request, body)

    return handler


async def test_feargreed_readings() -> None:
    collector = FearGreedCollector()
    assert (collector.name, collector.ledger, collector.interval) == ("feargreed", "human", 3600.0)
    collected = await run(collector, fng())
    assert collected.mood == (
        MoodReading("feargreed", datetime(2026, 11, 20, tzinfo=UTC), 26.0, "Fear"),
        MoodReading("feargreed", datetime(2026, 11, 19, tzinfo=UTC), 14.0, "Extreme Fear"),
    )
    assert collected.rows == 2 and all(is_utc(m.ts) for m in collected.mood)


async def test_feargreed_reported_error_is_a_source_error() -> None:
    def failing(body: Any) -> None:
        body["data"], body["metadata"]["error"] = [], "Invalid limit parameter"

    with pytest.raises(SourceError, match="feargreed: the index reports an error: Invalid limit"):
        await run(FearGreedCollector(), fng(failing))


async def test_feargreed_value_out_of_range_is_malformed() -> None:
    def wild(body: Any) -> None:
        body["data"][0]["value"] = "400"

    with pytest.raises(SourceError, match="malformed index response"):
        await run(FearGreedCollector(), fng(wild))


@pytest.mark.parametrize("fault", FAULTS)
async def test_feargreed_fault_matrix(fault: str) -> None:
    # The default mangle drops the first key of the first row: its required "value".
    await assert_survives(fault, FearGreedCollector(), fng())


# --- every collector -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "collector",
    [RssCollector(), RedditCollector(), CryptoPanicCollector("t"), FearGreedCollector()],
    ids=lambda c: c.name,
)
def test_collectors_declare_name_ledger_and_interval(collector: Any) -> None:
    assert collector.ledger == "human" and collector.interval > 0
    assert collector.name in ("rss", "reddit", "cryptopanic", "feargreed")


def test_default_feeds() -> None:
    assert [c.name for c in RssCollector().per_feed()] == [
        "rss:coindesk",
        "rss:cointelegraph",
        "rss:decrypt",
        "rss:cryptoslate",
        "rss:bitcoinmagazine",
    ]
