"""Alerts for an engine nobody watches: engine events become short messages sent to a
Slack-compatible webhook and by email.

``Alerts.observe`` runs for every bus event, so it only decides and queues; the network work
happens in ``Alerts.deliver``, the ``alerts.deliver`` job, where a failure is recorded like any
job's. No secret (the webhook URL, the SMTP password) reaches a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal, Protocol
from urllib.parse import urlsplit

import httpx

from engine.bus import EventBus
from engine.config import AlertSettings
from engine.events import (
    Event,
    FeedEvent,
    FillEvent,
    LeaderEvent,
    OrderEvent,
    QualityEvent,
    RiskEvent,
    TradingEvent,
)
from ledgers.clock import Clock
from ledgers.sources.http import retry_after

log = logging.getLogger("omc.alerts")

Severity = Literal["info", "warning", "critical"]
Sleep = Callable[[float], Awaitable[None]]
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # alerts with one key are one alert for dedupe
    severity: Severity
    title: str
    text: str
    at: datetime


class NotifierError(Exception):
    """One send failed; ``transient`` failures are worth retrying, after ``retry_after`` if set."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class AlertDeliveryError(Exception):
    """Some alerts could not be sent after every retry; they stay queued for the next try."""


class Notifier(Protocol):
    name: str

    async def send(self, alert: Alert) -> None:
        """Send one alert or raise NotifierError."""
        ...


@dataclass(eq=False)
class _Queued:
    alert: Alert
    waiting: set[str] = field(default_factory=set)  # notifiers that have not taken it yet


class Alerts:
    """Turns engine events into alerts (deduped, rate limited) and delivers them."""

    def __init__(
        self,
        settings: AlertSettings,
        clock: Clock | Callable[[], datetime],
        *,
        notifiers: Sequence[Notifier] | None = None,
        sleep: Sleep = asyncio.sleep,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        queue_size: int = 500,
    ) -> None:
        self.settings = settings
        self._now: Callable[[], datetime] = clock if callable(clock) else clock.now
        self._notifiers = list(notifiers) if notifiers is not None else _from_settings(settings)
        self._sleep = sleep
        self._backoff = backoff
        self._max_wait = max_wait  # a longer Retry-After keeps the alert for a later run
        self._queue: deque[_Queued] = deque()
        self._queue_size = queue_size
        self._last_sent: dict[str, datetime] = {}
        self._window: deque[datetime] = deque()  # admissions in the last hour
        self._held: set[str] = set()  # keys over the hourly limit since the last alert
        self._kill: bool | None = None
        self._quality_alert = False
        self._down_since: dict[str, tuple[datetime, str | None]] = {}
        self._down_alerted: set[str] = set()
        self._refusals: dict[str, RiskEvent] = {}  # by client id, until its order arrives
        self._not_before: dict[str, datetime] = {}  # notifier -> when its Retry-After ends

    @property
    def configured(self) -> bool:
        """Whether any notifier is set up; without one the delivery job need not run."""
        return bool(self._notifiers)

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- deciding -------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Queue the alert ``event`` calls for, if any; cheap, never touches the network."""
        if not self._notifiers:  # nowhere to send: the queue would only fill and spill
            return
        if isinstance(event, TradingEvent):
            self._trading(event)
        elif isinstance(event, RiskEvent) and not event.allowed and event.origin == "strategy":
            # The rejected order, published right after the refusal, names the deployment.
            self._refusals[event.client_id or ""] = event
        elif isinstance(event, OrderEvent) and event.client_id in self._refusals:
            self._refused(self._refusals.pop(event.client_id), event.strategy or event.symbol)
        elif isinstance(event, FeedEvent):
            self._feed(event)
        elif isinstance(event, QualityEvent):
            if event.alert and not self._quality_alert:  # a new problem, not its every check
                failing = ", ".join(event.failing) or "none named"
                text = f"Overall score {event.overall:.2f}; failing: {failing}."
                self._alert("quality", "warning", "Data quality below threshold", text)
            self._quality_alert = event.alert
        elif isinstance(event, LeaderEvent):
            owner = f"Owner now: {event.owner or 'nobody known'}."
            text = f"{owner} {event.reason}" if event.reason else owner
            took = "took" if event.leader else "lost"
            title = f"This engine {took} ownership of the database"
            self._alert(f"leader:{event.owner}", "info" if event.leader else "warning", title, text)
        elif isinstance(event, FillEvent) and self.settings.fills:
            title = f"Fill: {event.side} {event.quantity} {event.symbol} at {event.price}"
            text = f"Book {event.book}, fee {event.fee}, order {event.client_id}."
            self._alert(f"fill:{event.fill_id}", "info", title, text)
        if self._down_since:
            self._check_feeds()

    def _trading(self, event: TradingEvent) -> None:
        # One kill switch covers every book, each of which announces it: alert on a change
        # only, and on the first state seen only when it is on (an engine restarting halted).
        on = event.kill_switch
        previous, self._kill = self._kill, on
        if previous == on or (previous is None and not on):
            return
        state, other = ("on", "off") if on else ("off", "on")
        # Flipping back makes the opposite state news again, even within the repeat window.
        self._last_sent.pop(f"kill_switch:{other}", None)
        what = "No new orders are taken" if on else "Orders are taken again"
        text = f"{what} ({event.book})." + (f" Reason: {event.reason}." if event.reason else "")
        title = "Kill switch ON" if on else "Kill switch off"
        self._alert(f"kill_switch:{state}", "critical" if on else "info", title, text)

    def _refused(self, event: RiskEvent, deployment: str) -> None:
        title = f"Strategy {deployment}: order refused ({event.rule})"
        text = f"{event.side} {event.symbol}: {event.message}"
        self._alert(f"strategy_refused:{deployment}:{event.rule}", "warning", title, text)

    def _feed(self, event: FeedEvent) -> None:
        if event.status == "down":
            since = self._down_since.get(event.feed, (event.at, None))[0]
            self._down_since[event.feed] = (since, event.error)
        elif event.status == "ok" and event.feed in self._down_since:
            since, _ = self._down_since.pop(event.feed)
            if event.feed in self._down_alerted:
                self._down_alerted.discard(event.feed)
                self._last_sent.pop(f"feed_down:{event.feed}", None)  # a new outage is news
                text = f"It was down for {_minutes(event.at - since)}."
                self._alert(f"feed_up:{event.feed}", "info", f"Feed {event.feed} is back", text)

    def _check_feeds(self) -> None:
        now = self._now()
        limit = timedelta(minutes=self.settings.feed_down_minutes)
        for feed, (since, error) in self._down_since.items():
            if feed not in self._down_alerted and now - since >= limit:
                detail = f" Last error: {error}" if error else ""
                text = f"Down since {since:%Y-%m-%d %H:%M} UTC ({_minutes(now - since)}).{detail}"
                if self._alert(f"feed_down:{feed}", "warning", f"Feed {feed} is down", text):
                    self._down_alerted.add(feed)

    def _alert(self, key: str, severity: Severity, title: str, text: str) -> bool:
        """Queue an alert unless it repeats one sent lately or the hour's budget is spent."""
        now = self._now()
        repeat = timedelta(minutes=self.settings.repeat_minutes)
        self._last_sent = {k: t for k, t in self._last_sent.items() if now - t < repeat}
        if key in self._last_sent:
            return False
        while self._window and now - self._window[0] >= HOUR:
            self._window.popleft()
        if len(self._window) >= self.settings.max_per_hour:
            if not self._held:
                log.warning("alert limit of %d an hour reached", self.settings.max_per_hour)
            self._held.add(key)  # a key: a feed down is tried again on every event
            return False
        self._held.discard(key)
        if held := len(self._held):
            log.warning("%d alerts were held back by the hourly limit", held)
            text += f"\n({held} more alert{'s' if held > 1 else ''} held back.)"
            self._held.clear()
        self._window.append(now)
        self._last_sent[key] = now
        if len(self._queue) >= self._queue_size:
            dropped = self._queue.popleft()
            log.warning("alert queue full: dropped the oldest alert, %r", dropped.alert.title)
        self._queue.append(
            _Queued(Alert(key, severity, title, text, now), {n.name for n in self._notifiers})
        )
        return True

    # -- delivering -----------------------------------------------------------------------

    async def deliver(self) -> int:
        """Send every queued alert to every notifier; returns how many went out to all of them.

        Raises AlertDeliveryError once everything was tried if a notifier still failed; what it
        did not take stays queued.
        """
        self._flush_refusals()
        self._check_feeds()
        sent, now = 0, self._now()
        failed: dict[str, str] = {}
        for queued in list(self._queue):
            for notifier in self._notifiers:
                name = notifier.name
                # A notifier that failed this run is not retried per alert: that would hold
                # the job for retries x timeout for every queued alert.
                if name not in queued.waiting or name in failed:
                    continue
                if (until := self._not_before.get(name, now)) > now:
                    failed[name] = f"{name} asked to wait until {until:%H:%M:%S} UTC"
                    continue
                try:
                    await self._send(notifier, queued.alert)
                except NotifierError as exc:
                    failed[name] = str(exc)
                    if exc.retry_after is not None:
                        self._not_before[name] = now + timedelta(seconds=exc.retry_after)
                    log.warning("alert not sent: %s", exc)
                else:
                    queued.waiting.discard(name)
            if not queued.waiting and queued in self._queue:
                self._queue.remove(queued)
                sent += 1
        if failed:
            kept = len(self._queue)
            raise AlertDeliveryError(
                "; ".join(failed.values()) + f"; {kept} alert{'s' if kept != 1 else ''} kept"
            )
        return sent

    async def _send(self, notifier: Notifier, alert: Alert) -> None:
        retries = self.settings.retries
        for attempt in range(retries + 1):
            try:
                await notifier.send(alert)
                return
            except NotifierError as exc:
                if not exc.transient or attempt == retries:
                    suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise NotifierError(f"{exc}{suffix}", transient=exc.transient) from None
                wait = self._backoff * 2**attempt if exc.retry_after is None else exc.retry_after
                if wait > self._max_wait:
                    message = f"{exc}; asked to wait {wait:.0f}s"
                    raise NotifierError(message, transient=True, retry_after=wait) from None
                await self._sleep(wait)

    def _flush_refusals(self) -> None:
        # A refusal whose order event never came is still worth an alert, by symbol.
        for refusal in self._refusals.values():
            self._refused(refusal, refusal.symbol)
        self._refusals.clear()

    async def follow(self, bus: EventBus) -> None:
        """Observe every event published on ``bus`` until cancelled."""
        subscription = bus.subscribe()
        try:
            async for event in subscription:
                try:
                    self.observe(event)
                except Exception:  # one bad event must not end alerting for good
                    log.exception("alerts could not judge a %s event", event.kind)
        finally:
            subscription.close()

    async def aclose(self) -> None:
        for notifier in self._notifiers:
            if isinstance(notifier, Webhook):
                await notifier.aclose()


def _from_settings(settings: AlertSettings) -> list[Notifier]:
    notifiers: list[Notifier] = []
    if settings.webhook_url is not None:
        notifiers.append(Webhook(settings))
    if settings.smtp_host and settings.email_to:
        notifiers.append(Email(settings))
    return notifiers


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


# -- notifiers -------------------------------------------------------------------------------


def mask_webhook(url: str) -> str:
    """scheme://host/… : where alerts go, without the path that is the webhook's secret."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


_MASKED: dict[str, str] = {}  # webhook URL -> its masked form


def _redact(record: logging.LogRecord) -> bool:
    """httpx logs every request's full URL at INFO; for a webhook that URL is the secret."""
    for secret, masked in _MASKED.items():
        if secret in (message := record.getMessage()):
            record.msg, record.args = message.replace(secret, masked), None
    return True


class Webhook:
    """POST to a Slack-compatible incoming webhook: 2xx sent, 429 and 5xx retried."""

    name = "webhook"

    def __init__(
        self, settings: AlertSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        assert settings.webhook_url is not None
        self._url = settings.webhook_url.get_secret_value()
        self.where = mask_webhook(self._url)
        _MASKED[self._url] = self.where
        httpx_log = logging.getLogger("httpx")
        if _redact not in httpx_log.filters:
            httpx_log.addFilter(_redact)
        self._client = httpx.AsyncClient(transport=transport, timeout=settings.timeout_seconds)

    async def send(self, alert: Alert) -> None:
        label = {"critical": "[CRITICAL] ", "warning": "[warning] "}.get(alert.severity, "")
        text = f"*{_slack(label + alert.title)}*\n{_slack(alert.text)}"
        payload = {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }
        try:
            response = await self._client.post(self._url, json=payload)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # named, not quoted: it may hold the URL
            problem = "timed out" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
            transient = isinstance(exc, httpx.TransportError)
            raise NotifierError(f"webhook {self.where}: {problem}", transient=transient) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        body = response.text[:120].replace(self._url, self.where).strip()
        message = f"webhook {self.where}: HTTP {status}" + (f" {body!r}" if body else "")
        wait = retry_after(response, datetime.now(UTC)) if status == 429 else None
        raise NotifierError(message, transient=status == 429 or status >= 500, retry_after=wait)

    async def aclose(self) -> None:
        await self._client.aclose()


def _slack(text: str) -> str:
    # Slack's mrkdwn reads these three as markup; everything else passes as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Email:
    """Plain-text mail over SMTP: STARTTLS, then login when a user is set."""

    name = "email"

    def __init__(
        self, settings: AlertSettings, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._s = settings
        self._password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        self._ssl = ssl_context  # tests pass one that trusts their own certificate
        self.where = f"{settings.smtp_host}:{settings.smtp_port}"

    async def send(self, alert: Alert) -> None:
        # smtplib blocks; the engine's loop must not, so it runs in a worker thread.
        await asyncio.to_thread(self._send, self._message(alert))

    def _message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._s.email_from
        message["To"] = ", ".join(self._s.email_to)
        message["Subject"] = f"[OMC {alert.severity}] {alert.title}"
        message["Date"] = format_datetime(alert.at)
        # make_msgid would look this host's name up in DNS; the sender's domain will do.
        message["Message-ID"] = make_msgid("omc", self._s.email_from.rpartition("@")[2] or "omc")
        message.set_content(f"{alert.text}\n\n{alert.at.isoformat()} ({alert.key})\n")
        return message

    def _send(self, message: EmailMessage) -> None:
        s = self._s
        try:
            with smtplib.SMTP(
                s.smtp_host or "",
                s.smtp_port,
                timeout=s.timeout_seconds,
                local_hostname=socket.gethostname(),
            ) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=self._ssl or ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, self._password)
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error(f"login as {s.smtp_user} refused ({exc.smtp_code})", False) from None
        except smtplib.SMTPResponseException as exc:  # a 4xx reply means try again later
            reply = exc.smtp_error
            text = reply if isinstance(reply, str) else reply.decode(errors="replace")
            raise self._error(f"{exc.smtp_code} {text}", 400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as exc:
            raise self._error(f"{type(exc).__name__}: {exc}", True) from None
        except (smtplib.SMTPException, OSError) as exc:  # TLS, no STARTTLS, recipients refused
            raise self._error(f"{type(exc).__name__}: {exc}", False) from None

    def _error(self, text: str, transient: bool) -> NotifierError:
        if self._password:
            text = text.replace(self._password, "***")
        return NotifierError(f"email {self.where}: {text}", transient=transient)
