"""Effective configuration: CLI flags over ``OMC_…`` environment variables over the TOML file.

The file lives in the platform config directory unless ``OMC_CONFIG`` (or ``--config``) names
another. Every error says where the bad value came from, which key, and what was expected.

An environment variable names its key from the top, sections and keys joined by ``__`` and
matched without regard to case: ``OMC_SIM__SPEED=60``, ``OMC_TRADING__API_KEY=…``. A list, a
map or a whole section takes JSON (``OMC_MARKET__WATCHLIST='["BTC/AUD", "ETH/AUD"]'``); other
values are taken as typed and checked like the file's. The three are merged key by key, so
``OMC_SIM__SPEED`` leaves the file's other ``[sim]`` keys alone.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

# Callers know the paths from here; they live apart so the desk can find them before settings.
from engine.paths import config_dir, config_path, data_dir  # noqa: F401
from engine.sections import Invalid, Secret, Section, Setting, checks
from ledgers.timeframes import TIMEFRAMES

DEFAULT_WATCHLIST = [
    f"{base}/AUD"
    for base in (
        "BTC",
        "ETH",
        "SOL",
        "XRP",
        "ADA",
        "DOGE",
        "DOT",
        "LTC",
        "LINK",
        "AVAX",
        "TRX",
        "XLM",
    )
]
TIMEFRAME_NAMES = tuple(TIMEFRAMES)


class ConfigError(Exception):
    """The configuration cannot be used; the message is meant for the user as it stands."""


class MarketSettings(Section):
    venue: str = Setting("coinspot", description="ccxt exchange id")
    quote: str = Setting("AUD", description="quote currency of the watchlist")
    watchlist: list[str] = Setting(factory=lambda: list(DEFAULT_WATCHLIST))
    poll_seconds: float = Setting(5.0, gt=0, description="ticker polling interval")
    book_seconds: float = Setting(10.0, gt=0, description="order-book polling interval")
    book_depth: int = Setting(20, ge=1, le=500)
    timeout_seconds: float = Setting(10.0, gt=0)

    @checks("quote")
    @classmethod
    def _upper(cls, value: str) -> str:
        value = value.strip().upper()
        if not value.isalnum():
            raise ValueError("expected a currency code such as AUD")
        return value

    @checks("watchlist")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        seen: list[str] = []
        for raw in value:
            symbol = normalize_symbol(raw)
            if symbol not in seen:
                seen.append(symbol)
        return seen


class SimSettings(Section):
    enabled: bool = Setting(False, description="use the simulated market instead of the venue")
    seed: int = 7
    speed: float = Setting(1.0, gt=0, le=100_000, description="simulated seconds per real second")
    symbols: int = Setting(12, ge=1, le=5000, description="pairs in the simulated universe")
    tick_seconds: float = Setting(1.0, gt=0, description="simulated seconds between ticks")
    poll_seconds: float = Setting(1.0, gt=0, description="real seconds between simulator steps")


class DatabaseSettings(Section):
    url: str | None = Setting(
        None, description="sqlite:////ABSOLUTE/PATH or postgresql://…; default: data dir"
    )

    @checks("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from ledgers.urls import DatabaseURLError, check_sqlite_directory, normalize_url

        try:
            url = normalize_url(value)
            check_sqlite_directory(value)
        except DatabaseURLError as exc:
            raise ValueError(str(exc)) from None
        return url


class EngineSettings(Section):
    flush_seconds: float = Setting(1.0, gt=0, description="write-behind flush interval")
    candle_seconds: float = Setting(5.0, gt=0, description="candle building interval")
    instruments_seconds: float = Setting(3600.0, gt=0, description="instrument list refresh")
    job_run_days: float = Setting(7.0, gt=0, description="days of job-run history to keep")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class RetentionSettings(Section):
    """How long the engine keeps what it collects; none keeps it for ever. Candles and the
    intelligence ledgers are always kept (candles are the downsampled record of the ticks)."""

    tickers_days: float | None = Setting(30.0, ge=1, description="raw ticker polls")
    books_days: float | None = Setting(7.0, ge=1, description="order-book snapshots")
    equity_hourly_after_days: float | None = Setting(
        30.0, gt=0, description="equity marks older than this: the last of each hour"
    )
    equity_daily_after_days: float | None = Setting(
        365.0, gt=0, description="equity marks older than this: the last of each day"
    )
    prune_seconds: float = Setting(3600.0, gt=0, description="how often the prune job runs")


class SourcesSettings(Section):
    """The Glass, Human and Catalyst collectors on live data (the simulator feeds its own).

    Lists and maps left empty keep each collector's built-in defaults.
    """

    enabled: bool = Setting(True, description="run the intelligence collectors at all")
    disabled: list[str] = Setting(factory=list, description="collector names to skip")
    intervals: dict[str, float] = Setting(factory=dict, description="name -> seconds")
    base_urls: dict[str, str] = Setting(factory=dict, description="name -> base URL")
    defillama_protocols: list[str] = Setting(factory=list)
    defillama_chains: list[str] = Setting(factory=list)
    evm_endpoints: list[str] = Setting(factory=list, description="tried in order")
    rss_feeds: dict[str, str] = Setting(factory=dict, description="key -> feed URL")
    reddit_subreddits: list[str] = Setting(factory=list)
    reddit_client_id: str | None = None
    reddit_client_secret: Secret | None = None
    cryptopanic_token: Secret | None = None
    sec_ciks: dict[str, str] = Setting(factory=dict, description="CIK -> ticker")
    sec_user_agent: str = Setting(
        "OhMyCoins research contact@example.com",
        description="the SEC asks for 'Company Name admin@domain' here",
    )
    snapshot_spaces: list[str] = Setting(factory=list)

    @checks("intervals")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [name for name, seconds in value.items() if seconds <= 0]
        if bad:
            raise ValueError(f"intervals must be positive seconds: {', '.join(bad)}")
        return value


class QualitySettings(Section):
    alert_below: float = Setting(0.7, ge=0, le=1, description="overall score that raises an alert")
    check_seconds: float = Setting(300.0, gt=0, description="quality monitor interval")
    window_hours: float = Setting(24.0, gt=0, description="how far back rows are judged")
    expected_minutes: dict[str, float] = Setting(
        factory=lambda: {
            "exchange": 1.0,
            "glass": 120.0,
            "human": 60.0,
            "catalyst": 2880.0,
        },
        description="ledger -> minutes between rows before a ledger counts as late",
    )

    def thresholds(self) -> Any:
        """The monitor's thresholds (a ledgers.quality.Thresholds)."""
        from datetime import timedelta

        from ledgers.quality import Thresholds

        defaults = Thresholds().expected_every
        expected = {
            **defaults,
            **{k: timedelta(minutes=v) for k, v in self.expected_minutes.items()},
        }
        return Thresholds(self.alert_below, timedelta(hours=self.window_hours), expected)


class TradingSettings(Section):
    """The paper book, the risk guard's limits, strategies and the governance gate."""

    mode: Literal["paper", "live"] = Setting("paper", description="live also needs `omc live arm`")
    # The vault is the place for these (omc keys add VENUE.api_key); the engine warns when it
    # falls back to them.
    api_key: Secret | None = Setting(None, description="venue API key; better in the vault")
    api_secret: Secret | None = Setting(None, description="venue API secret; better in the vault")
    starting_cash: Decimal = Setting(Decimal("10000"), gt=0, description="paper account, in quote")
    cost_method: Literal["fifo", "average"] = Setting("fifo", description="lot matching")
    taker_fee: Decimal | None = Setting(None, ge=0, lt=1, description="override the venue's rate")
    maker_fee: Decimal | None = Setting(None, ge=0, lt=1, description="override the venue's rate")
    max_order_notional: Decimal = Setting(Decimal("5000"), gt=0, description="quote per order")
    max_position_pct: Decimal = Setting(Decimal("25"), gt=0, le=100, description="% of equity")
    daily_loss_pct: Decimal = Setting(
        Decimal("5"), gt=0, le=100, description="% of day-start equity"
    )
    max_open_orders: int = Setting(20, ge=1)
    max_orders_per_minute: int = Setting(30, ge=1)
    stale_quote_seconds: float = Setting(30.0, gt=0)
    max_limit_distance_pct: Decimal = Setting(Decimal("10"), gt=0, le=100)
    mark_seconds: float = Setting(60.0, gt=0, description="PnL mark / equity curve interval")
    orders_seconds: float = Setting(2.0, gt=0, description="resting-order check interval")
    strategy_seconds: float = Setting(30.0, gt=0, description="deployed strategies' interval")
    allocation: Decimal = Setting(
        Decimal("1000"), gt=0, description="quote a deployed strategy trades with; backtest cash"
    )
    slippage_bps: Decimal = Setting(Decimal("5"), ge=0, description="backtest default slippage")
    gate_min_trades: int = Setting(20, ge=0, description="governance gate before paper")
    gate_min_sharpe: float = Setting(0.5, description="governance gate before paper")
    gate_max_drawdown_pct: float = Setting(25.0, gt=0, le=100, description="governance gate")
    tax_timezone: str = Setting("Australia/Sydney", description="financial-year boundaries")

    def limits(self) -> Any:
        """The risk guard's limits (an engine.trading.risk.RiskLimits)."""
        from engine.trading.risk import RiskLimits

        return RiskLimits(
            max_order_notional=self.max_order_notional,
            max_position_pct=self.max_position_pct,
            daily_loss_pct=self.daily_loss_pct,
            max_open_orders=self.max_open_orders,
            max_orders_per_minute=self.max_orders_per_minute,
            stale_quote_seconds=self.stale_quote_seconds,
            max_limit_distance_pct=self.max_limit_distance_pct,
        )

    def gate(self) -> Any:
        """The governance gate before paper (an engine.trading.backtest.GovernanceGate)."""
        from engine.trading.backtest import GovernanceGate

        return GovernanceGate(
            self.gate_min_trades, self.gate_min_sharpe, self.gate_max_drawdown_pct
        )


class DeskSettings(Section):
    timeframe: str = Setting("1h", description="chart timeframe at start")
    keymap: dict[str, str] = Setting(factory=dict, description="action id -> keys")

    @checks("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        if value not in TIMEFRAME_NAMES:
            raise ValueError(f"expected one of {', '.join(TIMEFRAME_NAMES)}")
        return value


class ServiceSettings(Section):
    """The engine's one port: the attach websocket, /healthz, /readyz and /metrics."""

    listen: str = Setting("127.0.0.1:8765", description="HOST:PORT; port 0 picks a free one")
    advertise: str | None = Setting(
        None,
        description="HOST[:PORT] other engines reach this one at (default: this machine's "
        "address when listening on every interface)",
    )
    tls_cert: str | None = Setting(None, description="PEM certificate file: serve wss:// and https")
    tls_key: str | None = Setting(None, description="PEM private key file for tls_cert")
    token: Secret | None = Setting(
        None, description="attach bearer token; default: generated once into the data dir"
    )
    failover_seconds: float = Setting(
        10.0, gt=0, le=300, description="a standby takes over within this long of a leader's loss"
    )
    max_message_bytes: int = Setting(1_048_576, ge=1024, description="largest attach message")
    stale_feed_seconds: float = Setting(
        120.0, gt=0, description="/readyz fails when the market feed is older than this"
    )

    @checks("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("expected HOST:PORT such as 127.0.0.1:8765")
        return f"{host}:{int(port)}"


class AlertSettings(Section):
    """Where alerts go besides the desk: a Slack-compatible webhook and email over SMTP."""

    webhook_url: Secret | None = Setting(None, description="Slack-compatible incoming webhook")
    email_to: list[str] = Setting(factory=list, description="recipients; empty: no email")
    email_from: str = Setting("omc@localhost", description="From: address of alert mail")
    smtp_host: str | None = Setting(None, description="SMTP server for alert mail")
    smtp_port: int = Setting(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    smtp_starttls: bool = Setting(True, description="upgrade with STARTTLS before logging in")
    feed_down_minutes: float = Setting(10.0, gt=0, description="alert on a feed down this long")
    fills: bool = Setting(False, description="also alert on every fill")
    repeat_minutes: float = Setting(
        30.0, ge=0, description="the same alert is not sent again within this long"
    )
    max_per_hour: int = Setting(30, ge=1, description="at most this many alerts an hour")
    timeout_seconds: float = Setting(10.0, gt=0)
    retries: int = Setting(3, ge=0, le=10, description="attempts after the first for a failure")


class LabSettings(Section):
    """The Lab's model and budget. With no model the Lab plans by rule and says so."""

    model: str | None = Setting(
        None, description="provider/name as litellm spells it, e.g. openai/gpt-4o-mini"
    )
    key: str | None = Setting(None, description="the vault key it uses; default: the provider")
    base_url: str | None = Setting(None, description="an OpenAI-compatible server's URL")
    budget: Decimal | None = Setting(
        Decimal("1.00"), ge=0, description="USD a session may spend; none: no limit"
    )
    timeout: float = Setting(60.0, gt=0, description="seconds for one model call")
    isolate: bool = Setting(
        True,
        description="run sessions in a process of their own, so a study never slows the desk; "
        "false runs them in the engine's process",
    )


class Settings(Section):
    """Everything the engine and the desk are configured by; ``load`` builds the effective one."""

    market: MarketSettings = Setting(factory=MarketSettings)
    sim: SimSettings = Setting(factory=SimSettings)
    database: DatabaseSettings = Setting(factory=DatabaseSettings)
    engine: EngineSettings = Setting(factory=EngineSettings)
    desk: DeskSettings = Setting(factory=DeskSettings)
    quality: QualitySettings = Setting(factory=QualitySettings)
    sources: SourcesSettings = Setting(factory=SourcesSettings)
    trading: TradingSettings = Setting(factory=TradingSettings)
    service: ServiceSettings = Setting(factory=ServiceSettings)
    alerts: AlertSettings = Setting(factory=AlertSettings)
    lab: LabSettings = Setting(factory=LabSettings)
    retention: RetentionSettings = Setting(factory=RetentionSettings)
    _file: Path | None = None  # the config file they were read from, if any

    @property
    def file(self) -> Path:
        """The config file these settings were read from (or would be)."""
        return self._file if self._file is not None else config_path(None)

    def database_url(self) -> str:
        """The configured URL, or the SQLite file in the platform data directory."""
        if self.database.url:
            return self.database.url
        folder = data_dir()
        folder.mkdir(parents=True, exist_ok=True)  # ours to create, unlike a --db directory
        return f"sqlite+aiosqlite:///{folder / 'omc.db'}"


def normalize_symbol(raw: str, quote: str = "AUD") -> str:
    """ "btc-aud" → "BTC/AUD"; a bare "btc" takes the default quote currency."""
    text = raw.strip().upper().replace("-", "/").replace("_", "/")
    parts = [p for p in text.split("/") if p]
    if not parts or len(parts) > 2 or not all(p.isalnum() for p in parts):
        raise ValueError(f"{raw!r} is not a symbol; expected BASE/QUOTE such as BTC/AUD")
    return "/".join(parts) if len(parts) == 2 else f"{parts[0]}/{quote}"


def load(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build the effective settings; ``overrides`` are CLI flags as nested dicts."""
    file = config_path(path)
    file_data = read_file(file)
    merged = _merge(_merge(file_data, from_environment()), _drop_none(overrides))
    try:
        settings = Settings(**merged)
    except Invalid as exc:
        raise ConfigError(_explain(exc, file, file_data, overrides)) from None
    settings._file = file
    return settings


ENV_PREFIX = "OMC_"


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings ``OMC_SECTION__KEY`` variables give, as nested data (see the module's
    doc). A variable that names no section is not ours (``OMC_CONFIG``, say) and is left
    alone; one that names a section and a key it lacks is reported as an unknown key."""
    environ = os.environ if environ is None else environ
    sections = Settings.fields()
    ours = []
    for name, value in environ.items():
        if name[: len(ENV_PREFIX)].upper() != ENV_PREFIX:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if path[0] in sections and all(path):
            ours.append((path, name, value))
    data: dict[str, Any] = {}
    # A whole section first: a variable naming one of its keys is said over it.
    for path, name, value in sorted(ours, key=lambda o: len(o[0])):
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = _json(name, value) if _takes_json(path) else value
    return data


def _takes_json(path: list[str]) -> bool:
    """Whether the key ``path`` names holds a list, a map or a section (its value is JSON)."""
    model: Any = Settings
    for part in path:
        field = model.fields().get(part) if _is_section(model) else None
        if field is None:
            return False  # unknown: validation reports it as it stands
        model = field.annotation
    origin = getattr(model, "__origin__", None)
    return origin in (list, dict) or _is_section(model)


def _is_section(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Section)


def _json(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ConfigError(
            f"environment variable {name}: expected JSON for a list, map or section: {exc}"
        ) from None


def _merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """``high`` over ``low``, key by key into nested sections."""
    out = dict(low)
    for key, value in high.items():
        below = out.get(key)
        out[key] = (
            _merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
        )
    return out


def read_file(file: Path) -> dict[str, Any]:
    if not file.exists():
        if os.environ.get("OMC_CONFIG") and file == Path(os.environ["OMC_CONFIG"]).expanduser():
            raise ConfigError(f"{file}: config file named by OMC_CONFIG does not exist")
        return {}
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if not value:
                continue
        if value is not None:
            out[key] = value
    return out


def _explain(exc: Invalid, file: Path, file_data: dict[str, Any], overrides: dict[str, Any]) -> str:
    lines = []
    given = _drop_none(overrides)  # a flag left out is not where a bad value came from
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        origin = _origin(loc, file, file_data, given)
        if err["type"] == "extra_forbidden":
            known = _known_keys(loc[:-1])
            lines.append(f"{origin}: unknown key {key!r}; known keys here: {', '.join(known)}")
            continue
        got = err.get("input")
        if key == "database.url" and isinstance(got, str):
            from ledgers.urls import mask_url

            got = mask_url(got)  # a password never reaches the terminal
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        msg = err["msg"]
        lines.append(f"{origin}: bad value for {key!r}{shown}: {msg}")
    return "\n".join(lines)


def _origin(
    loc: list[str], file: Path, file_data: dict[str, Any], overrides: dict[str, Any]
) -> str:
    if _has_path(overrides, loc):
        flag = _FLAGS.get(".".join(loc[:2]))
        return f"command line ({flag})" if flag else "command line"
    env = "OMC_" + "__".join(p.upper() for p in loc)
    for n in range(len(loc), 0, -1):
        name = "OMC_" + "__".join(p.upper() for p in loc[:n])
        if name in os.environ:
            return f"environment variable {name}"
    named = " (named by OMC_CONFIG)" if _named_by_env(file) else ""
    if _has_path(file_data, loc) or not loc:
        return f"config file {file}{named}"
    return f"config file {file}{named} or {env}"


# The flags of ``omc`` and ``omc-engine`` that set a key, so an error names what was typed.
_FLAGS = {"database.url": "--db", "sim.speed": "--speed", "sim.enabled": "--sim"}


def _named_by_env(file: Path) -> bool:
    env = os.environ.get("OMC_CONFIG")
    return bool(env) and Path(env).expanduser() == file


def _has_path(data: dict[str, Any], loc: list[str]) -> bool:
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _known_keys(loc: list[str]) -> list[str]:
    model: Any = Settings
    for part in loc:
        field = model.fields().get(part)
        if field is None or not _is_section(field.annotation):
            return []
        model = field.annotation
    return list(model.fields())


def effective(settings: Settings, path: Path) -> dict[str, Any]:
    """The settings as plain data with secrets masked, for ``omc config show``."""
    from ledgers.urls import mask_url

    data = settings.to_data()
    data["database"]["url"] = mask_url(settings.database_url())
    return {"config_file": str(path), "config_file_exists": path.exists(), **data}
