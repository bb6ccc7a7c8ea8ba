"""What every ``omc`` command shares: global options, the runner, contexts and output.

Exit codes: 0 ok, 1 failure (the venue, the database or the risk guard said no), 2 usage error
(bad input of any kind). Below the runner, code raises; only the runner prints an error, as one
sentence without a class name or a traceback (those go to the log file in the data directory).

Kept light: the desk parses its arguments with this module before it paints, so pydantic,
SQLAlchemy and numpy are imported inside functions, never here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from typing import Protocol

    from engine import config
    from engine.api import CommandAPI, EngineAPI
    from engine.service.lease import OwnerRecord

    class Engine(EngineAPI, CommandAPI, Protocol):
        """What a command talks to: this process's engine or the database's owner."""


Handler = Callable[[argparse.Namespace, "config.Settings"], int]
SubParsers = argparse._SubParsersAction  # type: ignore[type-arg]

log = logging.getLogger("omc.cli")

DB_HELP = (
    "database URL: sqlite:////ABSOLUTE/PATH (four slashes), sqlite:///RELATIVE/PATH, "
    "or postgresql://USER@HOST/DBNAME"
)
# Global options may come before or after the command; ``parse`` starts from these values.
DEFAULTS = {"sim": False, "speed": None, "db": None, "config": None, "json": False}
VALUED = frozenset({"--speed", "--db", "--config"})  # the global options that take a value


class UsageError(Exception):
    """Bad input found after parsing; exits 2."""


class CommandFailed(Exception):
    """The command ran and the world said no (venue, database, risk guard); exits 1."""


# -- options ---------------------------------------------------------------------------------


@functools.cache
def global_options() -> argparse.ArgumentParser:
    """The parent parser of the top level and of every command (one, shared: a parent's
    options are copied into each child, so making it forty times only cost start-up).

    Its defaults are SUPPRESS, so a command's copy of an option that was not typed after the
    command leaves the value typed before it alone.
    """
    p = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    g = p.add_argument_group("global options (before or after the command)")
    g.add_argument("--sim", action="store_true", help="use the simulated market (works offline)")
    g.add_argument("--speed", type=float, help="simulated seconds per real second (with --sim)")
    g.add_argument("--db", metavar="URL", help=DB_HELP)
    g.add_argument("--config", metavar="PATH", help="config file (default: platform config dir)")
    return p


@functools.cache
def _json_option() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="JSON for scripts: exact decimal strings")
    return p


def group(sub: SubParsers, name: str, help: str, dest: str) -> SubParsers:
    """A command with subcommands (``omc db upgrade``)."""
    parser = sub.add_parser(name, help=help, description=help, parents=[global_options()])
    return parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")


def command(
    sub: SubParsers, name: str, handler: Handler, help: str, *, json: bool = False
) -> argparse.ArgumentParser:
    """One command, taking the global options (and ``--json`` when it has JSON output)."""
    parents = [global_options(), _json_option()] if json else [global_options()]
    parser = sub.add_parser(name, help=help, description=help, parents=parents)
    parser.set_defaults(handler=handler, takes_json=json, prog=parser.prog)
    return parser


COLLECTOR_HELD = 1.0  # seconds a command starts without the cyclic garbage collector


def hold_collector(seconds: float = COLLECTOR_HELD) -> None:
    """Start this process without the cyclic garbage collector; it resumes ``seconds`` later.

    A command's start is spent building what lives until it exits (modules, classes, tables,
    a dialect's caches): hundreds of thousands of objects that the collector walks again and
    again and never frees, 30-50 ms of a 0.4 s read. Reference counting frees everything else
    meanwhile, and a command still running when the timer fires collects as usual from then
    on. For the ``omc`` process only: not for the desk, nor for a caller of ``main``.
    """
    import gc
    import threading

    gc.disable()
    timer = threading.Timer(seconds, gc.enable)
    timer.daemon = True  # a command done sooner exits without waiting for it
    timer.start()


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    return parser.parse_args(argv, namespace=argparse.Namespace(**DEFAULTS))


def load_settings(args: argparse.Namespace) -> config.Settings:
    """The effective settings for these arguments; raises ``config.ConfigError``."""
    from engine import config

    return config.load(
        args.config,
        sim={"enabled": True if args.sim else None, "speed": args.speed},
        database={"url": args.db},
    )


# -- the runner ------------------------------------------------------------------------------


def run(args: argparse.Namespace, check: Callable[[config.Settings], None] | None = None) -> int:
    """Run the parsed command; every failure becomes one line on stderr and an exit code.

    ``check`` validates what only the caller knows about (the desk's key map).
    """
    from engine import config

    try:
        settings = load_settings(args)
        if check is not None:
            check(settings)
        if args.json and not getattr(args, "takes_json", False):
            raise UsageError(f"{args.prog} has no --json output")
    except (config.ConfigError, UsageError) as exc:
        return _fail(str(exc), 2)
    handler: Handler = args.handler
    with _log_file() as logfile:
        try:
            return handler(args, settings)
        except KeyboardInterrupt:
            return _fail("interrupted", 130)
        except BrokenPipeError:
            return _reader_gone()
        except Exception as exc:
            code, message = explain(exc)
            if code is None:
                log.error("%s failed", args.prog, exc_info=exc)
                said = f": {message}" if message else ""
                message = f"{args.prog} failed unexpectedly{said} (details in {logfile})"
            return _fail(message, code or 1)


def _reader_gone() -> int:
    """What was reading the output went away (``omc fills --json | head``): stop in silence,
    as a tool killed by SIGPIPE does, with its status (128 + 13). What is left unwritten goes
    nowhere, so the interpreter's last flush raises nothing either."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141


def explain(exc: Exception) -> tuple[int | None, str]:
    """The exit code and sentence for a failure; code None for one nobody anticipated."""
    if isinstance(exc, UsageError) or _bad_input(exc):
        return 2, str(exc)
    if isinstance(exc, CommandFailed):
        return 1, str(exc)
    if _is(exc, "sqlalchemy.exc", "SQLAlchemyError"):
        return 1, f"the database failed: {_reason(exc)}"
    if isinstance(exc, OSError):
        return 1, _os_problem(exc)
    for module, name in (
        ("engine.trading.trader", "TradingError"),
        ("engine.trading.commands", "TradingUnavailable"),
        ("engine.trading.backtest", "BacktestError"),
        ("engine.trading.live", "LiveBrokerError"),
        ("engine.vault", "VaultError"),
    ):
        if _is(exc, module, name):
            return 1, str(exc)
    return None, str(exc)


def _bad_input(exc: Exception) -> bool:
    return any(
        _is(exc, module, name)
        for module, name in (
            ("ledgers.urls", "DatabaseURLError"),
            ("engine.trading.model", "OrderInputError"),
            ("engine.trading.strategies", "StrategyError"),
            ("engine.lab", "LabError"),
            ("engine.vault", "VaultInputError"),
        )
    )


def _is(exc: Exception, module: str, name: str) -> bool:
    # A class from a module that was never imported cannot have raised: no import needed.
    cls = getattr(sys.modules.get(module), name, None)
    return isinstance(cls, type) and isinstance(exc, cls)


def _fail(message: str, code: int) -> int:
    print(f"omc: {message}", file=sys.stderr)
    return code


@contextlib.contextmanager
def _log_file() -> Iterator[Path]:
    """Engine log lines go to a file for the command's duration, never onto the terminal."""
    from engine.config import data_dir
    from engine.logs import JsonFormatter

    path = data_dir() / "omc-cli.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


# -- failures in words -----------------------------------------------------------------------

_CLASS_PREFIX = re.compile(r"^<class '[\w.]+'>:\s*")
_CLASS_NAME = re.compile(r"^[A-Z]\w*: ")  # "OperationalError: …" as the engine records it


def _reason(exc: BaseException) -> str:
    """The driver's own words without its class name: the first line of the innermost error."""
    inner = getattr(exc, "orig", None) or exc.__cause__ or exc
    if isinstance(inner, OSError):
        return _os_reason(inner)
    text = _CLASS_PREFIX.sub("", str(inner)).strip()
    return (text.splitlines() or ["no reason given"])[0]


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = exc.strerror or str(exc) or "no reason given"
    return text[:1].lower() + text[1:]


def _os_problem(exc: OSError) -> str:
    if exc.filename:
        return f"{exc.filename}: {_os_reason(exc)}"
    return _os_reason(exc)


def database_problem(exc: BaseException, url: str) -> str:
    """One sentence for a database that cannot be opened or reached."""
    from ledgers.urls import display_url

    where = display_url(url)
    inner = getattr(exc, "orig", None) or exc
    verb = "reach" if isinstance(inner, OSError) else "open"
    return f"cannot {verb} the database {where}: {_reason(exc)}"


def without_detail(text: str) -> str:
    """A source's error without the library's parenthesised class name and URL."""
    return re.sub(r"\s*\([A-Z]\w*: [^()]*\)", "", text).strip()


# -- contexts --------------------------------------------------------------------------------


def with_db(
    settings: config.Settings,
    work: Callable[[Any], Awaitable[Any]],
    *,
    upgrade: bool = True,
    exclusive: bool = False,
) -> Any:
    """Run ``work`` on the configured database (brought to the newest schema first).

    ``exclusive`` work writes what an owning engine holds in memory (the book, the live
    switch): it takes the database's lease for its duration, and ``OwnerListening`` says which
    engine holds it instead.
    """
    url = settings.database_url()
    if not exclusive:
        return asyncio.run(_on_db(url, work, upgrade=upgrade))

    async def owned() -> Any:
        from engine.service.lease import LeaseLost, acquire_or_wait, lease_for

        await _on_db(url, _nothing, upgrade=upgrade)
        lease = lease_for(url)

        def refuse(owner: OwnerRecord) -> bool:
            raise OwnerListening(owner)

        try:
            await acquire_or_wait(lease, patience=OWNER_PATIENCE, on_listening_owner=refuse)
            return await _on_db(url, work, upgrade=False)
        except LeaseLost as exc:
            raise CommandFailed(str(exc)) from None
        finally:
            await lease.release()

    return asyncio.run(owned())


async def _nothing(db: Any) -> None:
    return None


class OwnerListening(CommandFailed):
    """An engine owns the database: work that writes what it holds must go through it."""

    def __init__(self, owner: OwnerRecord) -> None:
        super().__init__(
            f"the engine {owner.who} owns the database; stop it first (omc engine status)"
        )
        self.owner = owner


async def _on_db(
    url: str, work: Callable[[Any], Awaitable[Any]], *, upgrade: bool, inline: bool = False
) -> Any:
    """``work(db)`` on the database at ``url``; ``inline`` for a read with nothing else to do
    (see ``Database``)."""
    from ledgers.database import Database

    db = Database(url, inline=inline)
    try:
        try:
            await (db.upgrade() if upgrade else db.current_revision())
        except Exception as exc:
            raise CommandFailed(database_problem(exc, url)) from exc
        return await work(db)
    finally:
        await db.dispose()


def with_engine(
    settings: config.Settings,
    work: Callable[[Engine], Awaitable[Any]],
    *,
    market: bool = False,
    any_book: bool = False,
    alone: Callable[[Any], Awaitable[Any]] | None = None,
) -> Any:
    """Run ``work`` on the engine that owns the database, or on one of its own for the
    command's duration (holding the lease, without a scheduler).

    Either way an order from the command line takes exactly the desk's path: the same risk
    guard, broker and book. ``market`` loads instruments and quotes first (an own engine).
    ``any_book`` work does not touch a book (the vault, say), so an owner trading another
    book does it too. ``alone`` answers what ``work`` would from the database itself when no
    engine listens on it: a read that needs no engine of its own, so none is started.
    """

    async def main() -> Any:
        from engine.service.lease import LeaseLost, acquire_or_wait, lease_for

        url = settings.database_url()
        # The owner's published address is read first: a command it can answer is a thin
        # client of it, and loads nothing of the database layer.
        owner = await listening_owner(url)
        if owner is not None:
            with contextlib.suppress(_OwnerGone):  # gone meanwhile: look again below
                return await _through_owner(owner, settings, work, any_book=any_book)
        if alone is not None:
            return await _on_db(url, alone, upgrade=True, inline=True)

        async def nothing(db: Any) -> None:
            return None

        # The engine retries a database it cannot open for ever; a command says so at once.
        await _on_db(url, nothing, upgrade=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OWNER_PATIENCE
        while True:
            lease = lease_for(url)
            try:
                owner = await acquire_or_wait(
                    lease,
                    patience=max(0.0, deadline - loop.time()),
                    on_listening_owner=lambda o: True,
                )
            except LeaseLost as exc:
                await lease.release()
                raise CommandFailed(str(exc)) from None
            if owner is None:
                break
            await lease.release()
            try:
                return await _through_owner(owner, settings, work, any_book=any_book)
            except _OwnerGone:
                # An owner killed without a word leaves its address behind until the next
                # one publishes its own: look again.
                if loop.time() >= deadline:
                    raise CommandFailed(
                        f"the engine that owns the database ({owner.who}) does not answer"
                    ) from None
                await asyncio.sleep(0.2)
        from engine.service.owner import OwningEngine

        engine = OwningEngine(settings, schedule=False, lease=lease)
        await engine.start()
        try:
            await _ready(engine, settings)
            if market:
                await _load_market(engine, settings)
            return await work(engine)
        finally:
            await engine.stop()

    return asyncio.run(main())


async def listening_owner(url: str) -> OwnerRecord | None:
    """The engine that owns the database and listens, as it published itself; None when none
    does, or when the database cannot say (the slower path then tells why)."""
    from engine.service.lease import lease_for

    lease = lease_for(url)
    try:
        owner = await lease.owner()
    except (OSError, TimeoutError) as exc:  # a server that cannot be reached is said at once
        raise CommandFailed(database_problem(exc, url)) from None
    except Exception:  # a database without the members' table yet, say
        return None
    finally:
        await lease.release()
    return owner if owner is not None and owner.address else None


OWNER_PATIENCE = 60.0  # seconds a command waits for another command holding the database


class _OwnerGone(Exception):
    """The published owner did not answer: it may have just died."""


async def _through_owner(
    owner: OwnerRecord,
    settings: config.Settings,
    work: Callable[[Engine], Awaitable[Any]],
    *,
    any_book: bool = False,
) -> Any:
    """Send the command to the engine that owns the database (same output, same exit codes)."""
    from engine.service.protocol import RemoteError, Unreachable
    from engine.service.remote import RemoteEngine
    from engine.service.token import engine_token
    from engine.trading.books import book_label

    remote = RemoteEngine(owner.address, engine_token(settings), reconnect=False, events=False)
    try:
        await remote.start()
    except Unreachable as exc:
        if "refused the token" in str(exc):
            raise CommandFailed(f"{exc} (it owns the database: {owner.who})") from None
        raise _OwnerGone(str(exc)) from None
    try:
        theirs, ours = remote.hello.get("engine", {}).get("book", ""), book_of(settings)
        if theirs and theirs != ours and not any_book:
            raise CommandFailed(
                f"the engine that owns this database ({owner.who}) trades the "
                f"{book_label(theirs)} book, not {book_label(ours)}; run the command with "
                f"{'--sim' if theirs.endswith(':sim') else 'no --sim'}, or stop that engine"
            )
        try:
            return await work(remote)  # type: ignore[arg-type]
        except RemoteError as exc:
            if exc.kind == "usage":
                raise UsageError(str(exc)) from None
            raise CommandFailed(str(exc)) from None
        except Unreachable as exc:
            raise CommandFailed(str(exc)) from None
    finally:
        await remote.stop()


async def _ready(engine: Any, settings: config.Settings) -> None:
    ready = asyncio.ensure_future(engine.wait_ready())
    try:
        while not ready.done():
            await asyncio.wait({ready}, timeout=0.2)
            if not ready.done() and engine.storage_error:
                said = _CLASS_NAME.sub("", engine.storage_error)
                raise CommandFailed(database_problem(Exception(said), settings.database_url()))
    finally:
        ready.cancel()
    await asyncio.wait_for(engine._trading_ready.wait(), 60)
    if engine.trading_host is None:
        raise CommandFailed(f"trading is not available: {engine.trading_error}")


async def _load_market(engine: Any, settings: config.Settings) -> None:
    for job in ("market.instruments", "market.tickers"):
        status = await engine.run_job(job)
        if status.status != "error":
            continue
        reason = without_detail(status.last_error or "no answer")
        if settings.sim.enabled:
            raise CommandFailed(f"the simulated market failed: {reason}")
        raise CommandFailed(
            f"cannot reach the venue {settings.market.venue} ({reason}); "
            "--sim uses the simulated market instead"
        )


# -- input -----------------------------------------------------------------------------------


def book_of(settings: config.Settings) -> str:
    """The book a trading command acts on: the configured mode on the configured market."""
    from engine.trading.books import SIM_MARKET, book_id

    market = SIM_MARKET if settings.sim.enabled else settings.market.venue
    return book_id(settings.trading.mode, market)


def say_book(settings: config.Settings, *, stream: TextIO | None = None) -> None:
    """One line naming the book, first in every trading command's human output."""
    from engine.trading.books import book_label

    print(f"book: {book_label(book_of(settings))}", file=stream or sys.stdout)


def parse_when(text: str | None, flag: str) -> datetime | None:
    """An ISO date or time from the command line, in UTC (a bare one is taken as UTC)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not an ISO date or time such as 2026-11-01 or 2026-11-01T09:30"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def symbol(raw: str, settings: config.Settings) -> str:
    """ "btc" → "BTC/AUD" (the configured quote), or a usage error saying what a symbol is."""
    from engine.config import normalize_symbol

    try:
        return normalize_symbol(raw, settings.market.quote)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def decimal(
    text: str | None, flag: str, *, positive: bool = False, below: Decimal | None = None
) -> Decimal | None:
    """A number typed for ``flag``: non-negative (or positive), and under ``below`` if given."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        raise UsageError(f"{flag} takes a number, got {text!r}") from None
    if not value.is_finite() or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise UsageError(f"{flag} takes a {kind} number, got {text!r}")
    if below is not None and value >= below:
        raise UsageError(f"{flag} must be below {below}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


# -- output ----------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Plain JSON data: Decimals as exact strings, times in ISO 8601."""
    from engine.numbers import exact

    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def dump(value: Any) -> None:
    json.dump(plain(value), sys.stdout, indent=2)
    sys.stdout.write("\n")


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


_NUMBER = re.compile(r"^[+-]?\d[\d,]*(\.\d+)?$")


def table(heads: list[str], rows: list[list[str]]) -> None:
    """Aligned columns of already formatted cells; columns of numbers align to the right."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heads)]
    right = [
        bool(rows) and all(_NUMBER.match(r[i]) or not r[i] for r in rows) for i in range(len(heads))
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    print(line(heads))
    for row in rows:
        print(line(row))
    if not rows:
        print("(none)")


@contextlib.contextmanager
def output(path: str | None) -> Iterator[TextIO]:
    """The file ``-o`` names (its directory must exist), or stdout."""
    if not path:
        yield sys.stdout
        return
    with open(path, "w", newline="") as fh:
        yield fh
