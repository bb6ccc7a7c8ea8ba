"""JSON log lines for the headless engine: one object per line on stdout."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.events import Event


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        extra = getattr(record, "event", None)
        if extra is not None:
            data["event"] = extra
        return json.dumps(data, default=str)


def configure(level: str = "INFO", file: Path | None = None) -> None:
    """JSON lines to stdout (headless), or to ``file`` (the desk, whose screen is the terminal)."""
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries' chatter stays out of the log unless something is wrong.
    # The model libraries mask keys only in handlers of their own: theirs stay out too.
    for noisy in (
        "apscheduler",
        "sqlalchemy",
        "alembic",
        "asyncio",
        "httpx",
        "httpcore",
        "LiteLLM",
        "LiteLLM Router",
        "LiteLLM Proxy",
        "openai",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_event(logger: logging.Logger, event: Event) -> None:
    """Log an engine event as structured data (quotes stay out: they would flood the log)."""
    from engine.events import JobEvent, to_json

    level = (
        logging.WARNING if isinstance(event, JobEvent) and event.status == "error" else logging.INFO
    )
    logger.log(level, event.kind, extra={"event": json.loads(to_json(event))})
