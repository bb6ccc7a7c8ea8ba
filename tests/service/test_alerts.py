"""Alerts: which events become alerts, dedupe and the hourly limit, and delivery to a webhook
and over SMTP with STARTTLS, against servers on 127.0.0.1 that the tests start."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import logging
import re
import socket
import ssl
import traceback
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine.bus import EventBus
from engine.config import AlertSettings
from engine.events import (
    Event,
    FeedEvent,
    FillEvent,
    LeaderEvent,
    OrderEvent,
    QualityEvent,
    QuoteEvent,
    RiskEvent,
    TradingEvent,
)
from engine.service.alerts import (
    Alert,
    AlertDeliveryError,
    Alerts,
    Email,
    Notifier,
    NotifierError,
    Webhook,
    mask_webhook,
)
from ledgers.clock import ManualClock
from tests.conftest import FROZEN
from tests.service.conftest import self_signed

HOOK_SECRET = "T0001/B0002/hunter2SECRETpath"
SMTP_USER = "alerts"
SMTP_PASSWORD = "pw-Sup3r-s3cret"


# -- helpers -------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A notifier that keeps what it is sent, failing first ``fail`` times."""

    name: str = "recorder"
    fail: int = 0
    transient: bool = True
    sent: list[Alert] = field(default_factory=list)

    async def send(self, alert: Alert) -> None:
        if self.fail:
            self.fail -= 1
            raise NotifierError(f"{self.name} unavailable", transient=self.transient)
        self.sent.append(alert)


class Sleeps(list[float]):
    """An injected sleep: records the backoff instead of waiting it out."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(FROZEN)


def recorded(clock: ManualClock, **settings: Any) -> tuple[Alerts, Recorder]:
    notifier = Recorder()
    alerts = Alerts(AlertSettings(**settings), clock, notifiers=[notifier], sleep=Sleeps())
    return alerts, notifier


def kill(on: bool, book: str = "paper:sim", reason: str | None = None) -> TradingEvent:
    return TradingEvent(FROZEN, "paper", book, on, False, reason)


def feed(status: str, at: dt.datetime, error: str | None = None) -> FeedEvent:
    return FeedEvent("market:coinspot", status, at, error)


def quote() -> QuoteEvent:
    return QuoteEvent("coinspot", "BTC/AUD", FROZEN, 100_000.0)


def refusal(origin: str, client_id: str | None = "strat-1", allowed: bool = False) -> RiskEvent:
    message = "order notional 6000 AUD exceeds 5000 AUD"
    return RiskEvent(
        FROZEN, allowed, "max_order_notional", message, "BTC/AUD", "buy", origin, client_id
    )


def rejected(client_id: str, strategy: str | None) -> OrderEvent:
    q, zero = Decimal("0.06"), Decimal(0)
    return OrderEvent(
        client_id, "paper", "paper:sim", "BTC/AUD", "buy", "market", q, None, "rejected",
        zero, None, zero, "strategy", FROZEN, FROZEN, "too big", strategy,
    )  # fmt: skip


def fill(n: int) -> FillEvent:
    return FillEvent(
        f"f{n}", f"c{n}", "paper", "paper:sim", "ETH/AUD", "buy", Decimal("0.5"),
        Decimal("4000"), Decimal("2"), "taker", FROZEN,
    )  # fmt: skip


def observe_all(alerts: Alerts, *events: Event) -> None:
    for event in events:
        alerts.observe(event)


# -- a webhook receiver on 127.0.0.1 -------------------------------------------------------


@dataclass
class HookServer:
    """A minimal HTTP/1.1 server: records each POST and answers from a script (then 200)."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    replies: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
        body = await reader.readexactly(int(length.group(1)) if length else 0)
        self.paths.append(head.split(b" ", 2)[1].decode())
        self.posts.append(json.loads(body))
        status, headers = self.replies.popleft() if self.replies else (200, {})
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n{extra}\r\nok".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def hook() -> AsyncIterator[HookServer]:
    receiver = HookServer()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/services/{HOOK_SECRET}"
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()


async def webhook_alerts(
    clock: ManualClock, url: str, transport: httpx.AsyncBaseTransport | None = None, **kw: Any
) -> tuple[Alerts, Sleeps]:
    settings = AlertSettings(webhook_url=url, timeout_seconds=2, **kw)
    sleeps = Sleeps()
    notifier = Webhook(settings, transport=transport)
    return Alerts(settings, clock, notifiers=[notifier], sleep=sleeps, backoff=0.01), sleeps


# -- webhook delivery ----------------------------------------------------------------------


async def test_kill_switch_posts_once_and_a_repeat_is_not_sent(
    hook: HookServer, clock: ManualClock
) -> None:
    alerts, _ = await webhook_alerts(clock, hook.url)
    try:
        alerts.observe(kill(False))  # the state at start: nothing to say
        alerts.observe(kill(True, reason="manual halt"))
        assert await alerts.deliver() == 1
        assert hook.paths == [f"/services/{HOOK_SECRET}"]
        text = hook.posts[0]["text"]
        assert text.startswith("*[CRITICAL] Kill switch ON*\n")
        assert "No new orders are taken (paper:sim). Reason: manual halt." in text
        assert hook.posts[0]["blocks"] == [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}
        ]

        # The same state again, and the other book announcing the one switch: no new post.
        observe_all(alerts, kill(True), kill(True, book="paper:coinspot"))
        assert await alerts.deliver() == 0
        assert len(hook.posts) == 1

        # Off, and on again within the repeat window: each flip is news.
        alerts.observe(kill(False))
        clock.advance(60)
        alerts.observe(kill(True))
        assert await alerts.deliver() == 2
        assert ["Kill switch off" in p["text"] for p in hook.posts[1:]] == [True, False]
    finally:
        await alerts.aclose()


async def test_429_waits_for_retry_after_then_delivers_once(
    hook: HookServer, clock: ManualClock
) -> None:
    hook.replies.append((429, {"Retry-After": "2"}))
    alerts, sleeps = await webhook_alerts(clock, hook.url)
    try:
        alerts.observe(kill(True))
        assert await alerts.deliver() == 1
        assert sleeps == [2.0]
        assert len(hook.posts) == 2 and hook.posts[0] == hook.posts[1]
        assert alerts.pending == 0
    finally:
        await alerts.aclose()


async def test_5xx_until_retries_run_out_keeps_the_alert_for_the_next_run(
    hook: HookServer, clock: ManualClock
) -> None:
    hook.replies.extend([(500, {})] * 3)
    alerts, sleeps = await webhook_alerts(clock, hook.url, retries=2)
    try:
        alerts.observe(kill(True))
        with pytest.raises(AlertDeliveryError) as raised:
            await alerts.deliver()
        message = str(raised.value)
        assert "HTTP 500" in message and "after 3 attempts" in message and "1 alert kept" in message
        assert HOOK_SECRET not in message and "http://127.0.0.1:" in message
        assert sleeps == [0.01, 0.02]  # exponential backoff from the injected base
        assert alerts.pending == 1

        assert await alerts.deliver() == 1  # the server is back
        assert len(hook.posts) == 4 and alerts.pending == 0
    finally:
        await alerts.aclose()


async def test_a_long_retry_after_is_not_waited_out_but_respected(clock: ManualClock) -> None:
    replies = deque([httpx.Response(429, headers={"Retry-After": "600"})])
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return replies.popleft() if replies else httpx.Response(200)

    transport = httpx.MockTransport(answer)
    alerts, sleeps = await webhook_alerts(clock, "https://hooks.example/x/y", transport)
    alerts.observe(kill(True))
    with pytest.raises(AlertDeliveryError, match="asked to wait 600s"):
        await alerts.deliver()
    assert sleeps == [] and alerts.pending == 1

    clock.advance(599)  # the next runs leave the webhook alone until then
    with pytest.raises(AlertDeliveryError, match="webhook asked to wait until 09:40:00 UTC"):
        await alerts.deliver()
    assert len(calls) == 1

    clock.advance(1)
    assert await alerts.deliver() == 1 and len(calls) == 2
    await alerts.aclose()


@pytest.mark.parametrize(
    ("reply", "attempts", "expected"),
    [
        (httpx.Response(404, text="no_service"), 1, "HTTP 404 'no_service'"),
        (httpx.Response(403, text="invalid_token"), 1, "HTTP 403"),
        (httpx.Response(503), 4, "HTTP 503 (after 4 attempts)"),
        (httpx.ConnectError("cannot reach {url}"), 4, "ConnectError (after 4 attempts)"),
        (httpx.ReadTimeout("slow {url}"), 4, "timed out (after 4 attempts)"),
    ],
)
async def test_webhook_failure_matrix(
    clock: ManualClock, reply: httpx.Response | httpx.TransportError, attempts: int, expected: str
) -> None:
    url = f"https://hooks.slack.example/services/{HOOK_SECRET}"
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if isinstance(reply, httpx.TransportError):
            raise type(reply)(str(reply).format(url=url), request=request)
        return reply

    alerts, _ = await webhook_alerts(clock, url, httpx.MockTransport(answer))
    alerts.observe(kill(True))
    with pytest.raises(AlertDeliveryError) as raised:
        await alerts.deliver()
    assert expected in str(raised.value)
    assert "https://hooks.slack.example/…" in str(raised.value)
    assert HOOK_SECRET not in "".join(traceback.format_exception(raised.value))
    assert len(calls) == attempts
    await alerts.aclose()


def test_mask_webhook_keeps_only_scheme_and_host() -> None:
    assert mask_webhook(f"https://hooks.slack.com/services/{HOOK_SECRET}") == (
        "https://hooks.slack.com/…"
    )
    assert mask_webhook("http://127.0.0.1:8080/a/b?c=d") == "http://127.0.0.1:8080/…"


# -- email over SMTP with STARTTLS -----------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context and one that trusts it."""
    cert, key, pem = self_signed(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cadata=pem)


@dataclass
class Mailbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)  # one per connection
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.tls_seen.append(session.ssl is not None)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append(data.login)
        self.sessions.add(id(session))
        ok = data.login == SMTP_USER.encode() and data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # False: the server answers 535


def _free_port() -> int:
    # aiosmtpd's controller checks its server by connecting to the port it was given, so it
    # needs a real one rather than 0.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        tls_context=tls[0],
        require_starttls=True,
        authenticator=box.authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def email_settings(box: Mailbox, password: str = SMTP_PASSWORD) -> AlertSettings:
    return AlertSettings(
        email_to=["desk@example.com", "ops@example.com"],
        email_from="omc@alerts.example.com",
        smtp_host="127.0.0.1",
        smtp_port=box.port,
        smtp_user=SMTP_USER,
        smtp_password=password,
        timeout_seconds=3,
        retries=1,
    )


async def test_email_over_starttls_with_login(
    mailbox: Mailbox, tls: tuple[ssl.SSLContext, ssl.SSLContext], clock: ManualClock
) -> None:
    settings = email_settings(mailbox)
    alerts = Alerts(settings, clock, notifiers=[Email(settings, ssl_context=tls[1])])
    alerts.observe(kill(True, reason="drawdown"))
    assert await alerts.deliver() == 1

    [message] = mailbox.messages
    assert mailbox.tls_seen == [True] and mailbox.logins == [SMTP_USER.encode()]
    assert message["From"] == "omc@alerts.example.com"
    assert message["To"] == "desk@example.com, ops@example.com"
    assert message["Subject"] == "[OMC critical] Kill switch ON"
    assert parsedate_to_datetime(message["Date"]) == FROZEN
    assert re.fullmatch(r"<[\d.]+\.omc@alerts\.example\.com>", message["Message-ID"])
    body = message.get_content()
    assert "No new orders are taken (paper:sim). Reason: drawdown." in body
    assert "kill_switch:on" in body and message.get_content_type() == "text/plain"


async def test_email_refused_login_fails_once_without_the_password(
    mailbox: Mailbox, tls: tuple[ssl.SSLContext, ssl.SSLContext], clock: ManualClock
) -> None:
    settings = email_settings(mailbox, password="wrong-" + SMTP_PASSWORD)
    alerts = Alerts(settings, clock, notifiers=[Email(settings, ssl_context=tls[1])])
    alerts.observe(kill(True))
    with pytest.raises(AlertDeliveryError) as raised:
        await alerts.deliver()
    text = "".join(traceback.format_exception(raised.value))
    assert f"email 127.0.0.1:{mailbox.port}: login as alerts refused (535)" in str(raised.value)
    assert SMTP_PASSWORD not in text
    # smtplib tries each mechanism the server offers; a refused login is not tried again.
    assert len(mailbox.sessions) == 1 and "attempts" not in str(raised.value)
    assert alerts.pending == 1 and mailbox.messages == []


async def test_email_does_not_trust_an_unknown_certificate(
    mailbox: Mailbox, clock: ManualClock
) -> None:
    settings = email_settings(mailbox)
    alerts = Alerts(settings, clock, notifiers=[Email(settings)])  # the system's trust store
    alerts.observe(kill(True))
    with pytest.raises(AlertDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        await alerts.deliver()
    assert mailbox.logins == [] and mailbox.messages == []


async def test_no_secret_reaches_a_log_line(
    hook: HookServer,
    mailbox: Mailbox,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs each request's URL at INFO
    caplog.set_level(logging.DEBUG, logger="httpx")  # (litellm, once imported, quiets it)
    hook.replies.extend([(500, {})] * 2)
    hook_settings = AlertSettings(webhook_url=hook.url, retries=1)
    mail_settings = email_settings(mailbox, password="bad-" + SMTP_PASSWORD)
    notifiers: list[Notifier] = [Webhook(hook_settings), Email(mail_settings, ssl_context=tls[1])]
    alerts = Alerts(hook_settings, clock, notifiers=notifiers, sleep=Sleeps())
    try:
        alerts.observe(kill(True))
        with pytest.raises(AlertDeliveryError) as raised:
            await alerts.deliver()
    finally:
        await alerts.aclose()
    # How the job runner reports a failed run: the message and its traceback, logged.
    logging.getLogger("omc.jobs").error("job alerts.deliver failed", exc_info=raised.value)
    assert "HTTP Request: POST http://127.0.0.1:" in caplog.text  # httpx did log the request
    assert "login as alerts refused" in caplog.text
    for secret in (HOOK_SECRET, SMTP_PASSWORD):
        assert secret not in caplog.text
        assert all(secret not in r.getMessage() for r in caplog.records)


# -- what becomes an alert -------------------------------------------------------------------


async def test_feed_down_longer_than_the_limit_alerts_once_then_recovers(
    clock: ManualClock,
) -> None:
    alerts, notifier = recorded(clock, feed_down_minutes=10, repeat_minutes=5)
    alerts.observe(feed("down", clock.now(), "HTTP 503 from https://www.coinspot.com.au/pubapi"))
    clock.advance(9 * 60 + 59)
    alerts.observe(quote())
    assert await alerts.deliver() == 0

    clock.advance(1)
    alerts.observe(quote())  # any later event notices the time
    assert await alerts.deliver() == 1
    [down] = notifier.sent
    assert (down.key, down.severity, down.title) == (
        "feed_down:market:coinspot",
        "warning",
        "Feed market:coinspot is down",
    )
    assert "(10 min)" in down.text and "HTTP 503" in down.text

    # Still down an hour later, well past the repeat window: still one alert.
    clock.advance(3600)
    alerts.observe(feed("down", clock.now(), "HTTP 503"))
    assert await alerts.deliver() == 0

    alerts.observe(feed("ok", clock.now()))
    assert await alerts.deliver() == 1
    back = notifier.sent[-1]
    assert (back.key, back.severity) == ("feed_up:market:coinspot", "info")
    assert back.text == "It was down for 70 min."

    # A new outage is news again, found by the delivery run alone.
    alerts.observe(feed("down", clock.now()))
    clock.advance(600)
    assert await alerts.deliver() == 1
    assert notifier.sent[-1].key == "feed_down:market:coinspot"


async def test_a_short_outage_is_not_an_alert(clock: ManualClock) -> None:
    alerts, notifier = recorded(clock, feed_down_minutes=10)
    alerts.observe(feed("down", clock.now()))
    clock.advance(300)
    alerts.observe(feed("degraded", clock.now()))
    alerts.observe(feed("ok", clock.now()))
    clock.advance(3600)
    assert await alerts.deliver() == 0 and notifier.sent == []


async def test_hourly_limit_holds_back_and_reports_the_count(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    alerts, notifier = recorded(clock, fills=True, max_per_hour=3)
    observe_all(alerts, *(fill(n) for n in range(5)))
    assert await alerts.deliver() == 3
    assert [a.key for a in notifier.sent] == ["fill:f0", "fill:f1", "fill:f2"]
    assert caplog.text.count("alert limit of 3 an hour reached") == 1

    clock.advance(3600)
    alerts.observe(fill(5))
    assert await alerts.deliver() == 1
    assert notifier.sent[-1].text.endswith("(2 more alerts held back.)")
    assert "2 alerts were held back by the hourly limit" in caplog.text


async def test_the_limit_is_a_rolling_hour(clock: ManualClock) -> None:
    alerts, notifier = recorded(clock, fills=True, max_per_hour=2)
    alerts.observe(fill(0))
    clock.advance(1800)
    observe_all(alerts, fill(1), fill(2))  # the second of this half hour is over the limit
    clock.advance(1800)  # fill 0 leaves the window; fill 1 is still in it
    observe_all(alerts, fill(3), fill(4))
    assert await alerts.deliver() == 3
    assert [a.key for a in notifier.sent] == ["fill:f0", "fill:f1", "fill:f3"]


async def test_a_feed_down_over_the_limit_goes_out_when_the_hour_allows(
    clock: ManualClock,
) -> None:
    alerts, notifier = recorded(clock, feed_down_minutes=10, max_per_hour=1)
    alerts.observe(kill(True))
    alerts.observe(feed("down", clock.now()))
    clock.advance(600)
    observe_all(alerts, quote(), quote(), quote())  # each later event tries it again
    clock.advance(2900)
    alerts.observe(fill(1))  # fills are off: not an alert, just time passing
    assert await alerts.deliver() == 1
    clock.advance(600)  # the kill switch alert leaves the hour
    alerts.observe(quote())
    assert await alerts.deliver() == 1
    down = notifier.sent[-1]
    assert down.key == "feed_down:market:coinspot" and "held back" not in down.text


async def test_strategy_refusals_alert_with_the_deployment(clock: ManualClock) -> None:
    alerts, notifier = recorded(clock)
    observe_all(
        alerts,
        refusal("manual", "m-1"),
        rejected("m-1", None),
        refusal("strategy", allowed=True),
        refusal("strategy", "strat-1"),
        rejected("strat-1", "ma-btc"),
        refusal("strategy", "strat-2"),  # the same deployment and rule again: deduped
        rejected("strat-2", "ma-btc"),
    )
    assert await alerts.deliver() == 1
    [alert] = notifier.sent
    assert alert.key == "strategy_refused:ma-btc:max_order_notional"
    assert alert.severity == "warning" and "ma-btc" in alert.title
    assert alert.text == "buy BTC/AUD: order notional 6000 AUD exceeds 5000 AUD"


async def test_a_refusal_without_its_order_still_alerts_by_symbol(clock: ManualClock) -> None:
    alerts, notifier = recorded(clock)
    alerts.observe(refusal("strategy", None))
    assert await alerts.deliver() == 1
    assert notifier.sent[0].key == "strategy_refused:BTC/AUD:max_order_notional"


@pytest.mark.parametrize("enabled", [False, True])
async def test_fills_alert_only_when_enabled(clock: ManualClock, enabled: bool) -> None:
    alerts, notifier = recorded(clock, fills=enabled)
    alerts.observe(fill(1))
    assert await alerts.deliver() == int(enabled)
    if enabled:
        assert notifier.sent[0].title == "Fill: buy 0.5 ETH/AUD at 4000"


async def test_leadership_changes(clock: ManualClock) -> None:
    alerts, notifier = recorded(clock)
    alerts.observe(LeaderEvent(FROZEN, True, "41@engine-a 10.0.0.5:8765"))
    alerts.observe(LeaderEvent(FROZEN, False, "77@engine-b 10.0.0.6:8765", "lease lost"))
    assert await alerts.deliver() == 2
    took, lost = notifier.sent
    assert (took.key, took.severity) == ("leader:41@engine-a 10.0.0.5:8765", "info")
    assert took.title == "This engine took ownership of the database"
    assert (lost.severity, lost.text) == (
        "warning",
        "Owner now: 77@engine-b 10.0.0.6:8765. lease lost",
    )


async def test_quality_alerts_on_the_transition_only(clock: ManualClock) -> None:
    alerts, notifier = recorded(clock, repeat_minutes=30)
    low = QualityEvent(FROZEN, 0.42, {"glass": 0.1}, alert=True, failing=("glass",))
    fine = QualityEvent(FROZEN, 0.9, {"glass": 0.9})
    observe_all(alerts, low, low, fine, low)  # back under within the repeat window: deduped
    clock.advance(31 * 60)
    observe_all(alerts, fine, low)
    assert await alerts.deliver() == 2
    assert [a.key for a in notifier.sent] == ["quality", "quality"]
    assert notifier.sent[0].text == "Overall score 0.42; failing: glass."


async def test_a_kill_switch_already_on_at_start_is_an_alert(clock: ManualClock) -> None:
    alerts, notifier = recorded(clock)
    alerts.observe(kill(True))
    assert await alerts.deliver() == 1 and notifier.sent[0].key == "kill_switch:on"


# -- delivery bookkeeping --------------------------------------------------------------------


async def test_a_failing_notifier_does_not_resend_through_the_others(clock: ManualClock) -> None:
    good, bad = Recorder("webhook"), Recorder("email", fail=2)
    alerts = Alerts(
        AlertSettings(retries=1), clock, notifiers=[good, bad], sleep=Sleeps(), backoff=0
    )
    observe_all(alerts, kill(True), QualityEvent(FROZEN, 0.1, {}, alert=True))
    with pytest.raises(AlertDeliveryError, match="email unavailable"):
        await alerts.deliver()
    # The failing notifier is given up on for this run rather than retried per alert.
    assert len(good.sent) == 2 and bad.fail == 0 and alerts.pending == 2
    assert await alerts.deliver() == 2
    assert len(good.sent) == 2 and len(bad.sent) == 2


async def test_the_queue_is_bounded(clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Recorder()
    alerts = Alerts(AlertSettings(fills=True), clock, notifiers=[notifier], queue_size=2)
    observe_all(alerts, fill(1), fill(2), fill(3))
    assert alerts.pending == 2
    assert "alert queue full: dropped the oldest alert, 'Fill: buy 0.5 ETH/AUD" in caplog.text
    assert await alerts.deliver() == 2
    assert [a.key for a in notifier.sent] == ["fill:f2", "fill:f3"]


async def test_configured_and_follow(clock: ManualClock) -> None:
    nowhere = Alerts(AlertSettings(), clock)
    nowhere.observe(kill(True))
    assert not nowhere.configured and nowhere.pending == 0  # nothing piles up unsent
    assert not Alerts(AlertSettings(smtp_host="127.0.0.1"), clock).configured  # no recipient
    with_hook = Alerts(AlertSettings(webhook_url="https://hooks.example/a"), clock.now)
    assert with_hook.configured
    await with_hook.aclose()

    alerts, notifier = recorded(clock)
    bus = EventBus()
    task = asyncio.create_task(alerts.follow(bus))
    await asyncio.sleep(0)
    bus.publish(kill(True))
    for _ in range(10):
        if alerts.pending:
            break
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert alerts.pending == 1 and not bus._subscribers
