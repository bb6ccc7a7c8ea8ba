"""Database URLs: the accepted forms, normalised to our async drivers, and masked for display.

Kept free of SQLAlchemy so validating a ``--db`` flag costs nothing at start-up.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

URL_FORMS = (
    "sqlite:///PATH (or sqlite+aiosqlite:///PATH) for a file, "
    "or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME (or postgresql+asyncpg://…)"
)
SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg")


class DatabaseURLError(ValueError):
    """A database URL that is not one of the supported forms."""


def normalize_url(url: str) -> str:
    """Map a user's database URL onto the async driver we use, or explain the accepted forms."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise DatabaseURLError(
            f"cannot parse database URL {mask_url(text)!r}; expected {URL_FORMS}"
        )
    scheme = scheme.lower()
    if scheme in SQLITE_SCHEMES:
        if not rest.startswith("/") or rest == "/":
            raise DatabaseURLError(f"SQLite URL {text!r} names no file; expected {URL_FORMS}")
        return f"sqlite+aiosqlite://{rest}"
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(f"postgresql://{rest}")
        if not parts.hostname and "host=" not in parts.query:
            raise DatabaseURLError(
                f"database URL {mask_url(text)!r} names no host; expected {URL_FORMS}"
            )
        if not parts.path.strip("/"):
            raise DatabaseURLError(
                f"database URL {mask_url(text)!r} names no database; expected {URL_FORMS}"
            )
        return f"postgresql+asyncpg://{rest}"
    raise DatabaseURLError(f"unsupported database URL {mask_url(text)!r}; expected {URL_FORMS}")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and screens."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
