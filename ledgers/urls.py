"""Database URLs: the accepted forms, normalised to our async drivers, and masked for display.

Kept free of SQLAlchemy so validating a ``--db`` flag costs nothing at start-up.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

URL_FORMS = (
    "sqlite:///PATH (or sqlite+aiosqlite:///PATH) for a file, relative to the current "
    "directory, and sqlite:////PATH (four slashes) for an absolute path such as "
    "sqlite:////tmp/omc.db, "
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


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (relative to the current directory unless absolute)."""
    scheme, _, rest = url.strip().partition("://")
    if scheme.lower() not in SQLITE_SCHEMES or not rest.startswith("/"):
        return None
    path = rest[1:].partition("?")[0]  # one slash ends the URL's (empty) host
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def check_sqlite_directory(url: str) -> None:
    """Refuse a SQLite file whose directory does not exist, rather than create it silently."""
    file = sqlite_file(url)
    if file is None:
        return
    folder = file.parent
    if folder.is_dir():
        return
    shown = folder if folder.is_absolute() else f"{folder} (in {Path.cwd()})"
    message = f"the directory {shown} for the SQLite file {file.name} does not exist"
    rooted = Path("/") / file
    if not file.is_absolute() and rooted.parent.is_dir():
        message += (
            f"; for the absolute path {rooted} write four slashes: "
            f"{url.strip().partition('://')[0]}:///{rooted}"
        )
    raise DatabaseURLError(message)


def display_url(url: str) -> str:
    """How a database is named to people: a SQLite file's path, else the masked URL."""
    file = sqlite_file(url)
    if file is not None:
        return str(file if file.is_absolute() else Path.cwd() / file)
    scheme, sep, rest = mask_url(url).partition("://")
    return f"{scheme.partition('+')[0]}{sep}{rest}"


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
