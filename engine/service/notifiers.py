"""Where alerts go: a Slack-compatible webhook and email over SMTP with STARTTLS.

No secret (the webhook URL, the SMTP password) reaches a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal, Protocol
from urllib.parse import urlsplit

import httpx

from engine.config import AlertSettings
from ledgers.sources.http import retry_after

Severity = Literal["info", "warning", "critical"]


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


class Notifier(Protocol):
    name: str

    async def send(self, alert: Alert) -> None:
        """Send one alert or raise NotifierError."""
        ...


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
