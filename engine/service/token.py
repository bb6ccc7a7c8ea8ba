"""The attach token: ``[service] token`` when configured (on ECS, from Secrets Manager), else
one generated on first use into the data directory, readable only by its user."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import Settings

TOKEN_FILE = "engine.token"


def token_path() -> Path:
    from engine.paths import data_dir

    return data_dir() / TOKEN_FILE


def engine_token(settings: Settings) -> str:
    """The token an engine accepts and a client on this machine sends."""
    if settings.service.token is not None:
        return settings.service.token.get_secret_value()
    path = token_path()
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # Written whole to a scratch file, then linked into place: a reader never sees half a
    # token, and of two processes at once the first link wins and the other reads it.
    scratch = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    try:
        os.link(scratch, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        scratch.unlink(missing_ok=True)
    return token
