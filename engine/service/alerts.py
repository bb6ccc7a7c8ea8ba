"""Alerts for an engine nobody watches: engine events become short messages sent to a
Slack-compatible webhook and by email.

``Alerts.observe`` runs for every bus event, so it only decides and queues; the network work
happens in ``Alerts.deliver``, the ``alerts.deliver`` job, where a failure is recorded like any
job's. No secret (the webhook URL, the SMTP password) reaches a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from engine.service.notifiers import (  # noqa: F401 - the alert types live with their senders
    Alert,
    Email,
    Notifier,
    NotifierError,
    Severity,
    Webhook,
    mask_webhook,
)
from ledgers.clock import Clock

log = logging.getLogger("omc.alerts")


class AlertDeliveryError(Exception):
    """Some alerts could not be sent after every retry; they stay queued for the next try."""


Sleep = Callable[[float], Awaitable[None]]
HOUR = timedelta(hours=1)


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
