"""Glass, Human and Catalyst ledgers of the simulated market, drawn from its price path.

Like the prices, every record is a pure function of (seed, time): it is made for its own hour
(or block of hours) from keyed random streams, and a run keeps only the records stamped inside
its window. Chunking runs differently therefore never changes what is produced, and a restart
produces the same records under the same natural keys, so upserts never duplicate. The path is
known ahead of the clock, which is how sentiment can lead returns and a catalyst can precede
the jump it announces.

Like the candles, the ledgers are backfilled: a collector's first run on an empty database
reaches back its ``history``, and after a restart it fills only the gap since the newest row
an earlier run stored (see ``resume``).
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

import numpy as np

from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem, MoodReading
from ledgers.sources.http import HttpPolicy
from ledgers.sources.sim.headlines import (
    COIN_DOWN,
    COIN_UP,
    MARKET_DOWN,
    MARKET_UP,
    NEWS,
    NOTES,
    SOCIAL,
    coin_name,
    mood_label,
    price_level,
)
from ledgers.sources.sim.market import SimMarket
from ledgers.sources.sim.path import BLOCK_HOURS, HourGrid
from ledgers.sources.sim.tape import seconds_since_epoch, to_datetime
from ledgers.sources.sim.universe import MAJORS

SOURCE = "sim"
SITE = "https://sim.omc.local"
HOUR = 3600
_IN_THREAD = 6 * HOUR  # a longer window (a backfill) is made off the event loop

BLOCK_SECONDS = 12
_HEIGHT_AT_EPOCH = 21_525_000  # about Ethereum's height on 2025-01-01
_HEIGHT_EVERY = 300  # a height reading every 25 blocks
_GAS_GWEI = 12.0  # typical gas price in a normal regime on a quiet hour
_GAS_NOISE = 0.25
_TVL_DRIFT = 0.03  # log-sd of the daily knots of TVL's own slow noise
_ACTIVITY_HOURS = 24  # fees cover a day of volume…
_USUAL_HOURS = 192  # …compared with the usual volume over eight days

_ITEMS_PER_HOUR = 5.0  # across the twelve majors; further coins add fewer
_RANK_DECAY = 0.8  # a coin's share of items falls as rank^-decay
_ITEM_SLOTS = 4  # at most this many items per coin and hour
_SOCIAL_SHARE = 0.4
_TONES = {"news": (0.45, 0.8), "social": (0.3, 1.2)}  # (signal share, gain into tanh)
_LEAD_HOURS = 3  # sentiment in hour h leans towards the return over hours h+1..h+3
_TONE_CUT = 0.2  # scores beyond ±this read as bullish or bearish headlines

_MOOD_COINS = 12
_MOMENTUM_HOURS = 168
_MOMENTUM_DECAY = 36.0  # hours
_TURBULENCE_HOURS = 48

LEAD_MINUTES = (11.0, 89.0)  # how long before its jump a catalyst is announced
# Per coin and hour: a low-impact event that precedes nothing (maintenance, a governance vote,
# a filing). Jumps are rare (about one a coin a month), so these keep the feed moving: about
# 3.6 a day across twelve coins, against 0.4 jump catalysts.
_NOTE_CHANCE = 0.0125


class _Draw(IntEnum):
    """Keys of this module's random streams, numbered apart from the price path's ``Stream``."""

    DRIFT = 101  # daily TVL knots, by block of days
    GAS = 102  # hourly gas noise, by block of hours
    ITEMS = 103  # human items, by UTC day (then 0: uniforms, 1: normals)
    LEADS = 104  # a jump's catalyst, by coin + 1 (0: market-wide), hour and second
    NOTES = 105  # low-impact catalysts, by UTC day


def _draws(seed: int, purpose: _Draw, *index: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence((seed, int(purpose), *index)))
    )


@dataclass(frozen=True, slots=True)
class Pool:
    """A protocol or chain whose TVL follows one coin: ``tvl`` × (price / start)^``beta``."""

    entity: str
    coin: str
    tvl: float  # USD at the coin's starting price
    beta: float
    fee_yield: float  # a day's fees as a share of TVL at usual activity; 0 for a chain
    metric: str = "tvl_usd"


POOLS = (
    Pool("simswap", "ETH", 4.2e9, 1.15, 4e-4),
    Pool("simlend", "ETH", 9.0e9, 0.85, 1.2e-4),
    Pool("simstake", "SOL", 3.1e9, 1.0, 8e-5),
    Pool("ethereum", "ETH", 6.5e10, 1.0, 0.0, "chain_tvl_usd"),
    Pool("solana", "SOL", 9.5e9, 1.1, 0.0, "chain_tvl_usd"),
)
_START_PRICE = {coin.base: coin.price for coin in MAJORS}


def catalyst_impact(size: float) -> int:
    """Impact 3..10 of the catalyst before a jump of log ``size``; noise events get 1..2."""
    return int(np.clip(np.rint(1.0 + 75.0 * abs(size)), 3, 10))


class _SimCollector(ABC):
    """Runs cover (previous ``now``, ``now``]; the first reaches back ``lookback``, or only to
    the newest stored row when ``resume`` was told of one."""

    name: str
    ledger: str
    interval: float
    source = "sim"  # rows are sourced sim or sim:<feed>, whatever the collector is called
    history: timedelta  # how far a first run reaches back unless told otherwise
    # The table and source whose newest stored row says how far earlier runs got: runs are
    # written whole and in time order, so every row before it is stored too.
    progress: tuple[str, str]

    def __init__(
        self,
        market: SimMarket,
        *,
        lookback: timedelta | None = None,
        interval: float | None = None,
    ) -> None:
        self.market = market
        self.lookback = self.history if lookback is None else lookback
        if interval is not None:
            self.interval = interval
        self._since: float | None = None
        self._stored: float | None = None

    def resume(self, newest: datetime | None) -> None:
        """Continue after ``newest``, the newest ``progress`` row stored (None: nothing is), so
        the next run fills only the gap since it, or the whole lookback."""
        self._since = None
        self._stored = None if newest is None else seconds_since_epoch(newest)

    async def collect(self, http: HttpPolicy, now: datetime) -> Collected:
        """Records stamped after the previous run's ``now`` (on a first run: after the newest
        stored row or ``now`` − lookback, whichever is later), up to ``now``; ``http`` is
        unused."""
        end = seconds_since_epoch(now)
        start = self._since
        if start is None:
            start = max(end - self.lookback.total_seconds(), self._stored or 0.0, 0.0)
        if end <= start:
            return Collected()
        self._since = end
        if end - start > _IN_THREAD:
            return await asyncio.to_thread(self._between, start, end)
        return self._between(start, end)

    def between(self, since: datetime, until: datetime, currency: str | None = None) -> Collected:
        """Records stamped in (since, until], whatever runs came before: history on demand
        (the Lab reads further back than a first run's lookback). With ``currency``, only the
        items and catalysts that name it, made for it alone where that is cheaper."""
        start, end = seconds_since_epoch(since), seconds_since_epoch(until)
        if currency is None:
            return self._between(start, end)
        return self._naming(start, end, currency.upper())

    @abstractmethod
    def _between(self, start: float, end: float) -> Collected:
        """Records stamped in (start, end], simulator seconds."""

    def _naming(self, start: float, end: float, currency: str) -> Collected:
        batch = self._between(start, end)
        return Collected(
            human=tuple(item for item in batch.human if currency in item.currencies),
            catalysts=tuple(event for event in batch.catalysts if currency in event.currencies),
        )


class SimGlassCollector(_SimCollector):
    """Hourly TVL, fees and gas, and block height every five minutes."""

    name = "sim.glass"
    ledger = "glass"
    interval = 300.0
    history = timedelta(days=30)  # hourly series, as far back as the 1h candles
    progress = ("glass_metrics", SOURCE)

    def _between(self, start: float, end: float) -> Collected:
        rows = _hourly_glass(self.market, _on_the_hour(start, end))
        for k in range(math.floor(start / _HEIGHT_EVERY) + 1, math.floor(end / _HEIGHT_EVERY) + 1):
            t = k * _HEIGHT_EVERY
            height = float(_HEIGHT_AT_EPOCH + t // BLOCK_SECONDS)
            rows.append(GlassMetric(SOURCE, "ethereum", "block_height", to_datetime(t), height))
        rows.sort(key=lambda row: row.ts)
        return Collected(glass=tuple(rows))


class SimHumanCollector(_SimCollector):
    """News and social items whose scores weakly lead returns, and an hourly mood index."""

    name = "sim.human"
    ledger = "human"
    interval = 120.0
    # A few items an hour that go stale fast: three days fill the panes and the quality window.
    history = timedelta(days=3)
    progress = ("mood_readings", "sim:feargreed")

    def _between(self, start: float, end: float) -> Collected:
        return Collected(
            human=tuple(_items(self.market, start, end)),
            mood=tuple(_moods(self.market, _on_the_hour(start, end))),
        )

    def _naming(self, start: float, end: float, currency: str) -> Collected:
        # Each item names one coin: a year of one coin's is a seventh of every coin's to make.
        return Collected(human=tuple(_items(self.market, start, end, only=currency)))


class SimCatalystCollector(_SimCollector):
    """An event ahead of every jump of the path, and a few a day that precede nothing."""

    name = "sim.catalyst"
    ledger = "catalyst"
    interval = 300.0
    history = timedelta(days=30)  # about 120 events, with the 1h candles their jumps show in
    progress = ("catalyst_events", SOURCE)

    def _between(self, start: float, end: float) -> Collected:
        events = _jump_catalysts(self.market, start, end) + _notes(self.market, start, end)
        events.sort(key=lambda event: (event.occurred, event.external_id))
        return Collected(catalysts=tuple(events))


def _on_the_hour(start: float, end: float) -> np.ndarray:
    """The hours whose start lies in (start, end]."""
    return np.arange(math.floor(start / HOUR) + 1, math.floor(end / HOUR) + 1)


def _coins(market: SimMarket) -> list[str]:
    return [symbol.split("/", 1)[0] for symbol in market.universe]


def _normals(seed: int, purpose: _Draw, at: np.ndarray, rows: int) -> np.ndarray:
    """Standard normals (rows, len(at)) keyed by position, drawn a block of positions at a time."""
    out = np.empty((rows, len(at)))
    blocks = at // BLOCK_HOURS
    for block in np.unique(blocks):
        inside = blocks == block
        drawn = _draws(seed, purpose, int(block)).standard_normal((rows, BLOCK_HOURS))
        out[:, inside] = drawn[:, at[inside] % BLOCK_HOURS]
    return out


def _hourly_glass(market: SimMarket, hours: np.ndarray) -> list[GlassMetric]:
    if not len(hours):
        return []
    grid, seed = market.hours, market.seed
    index = {base: i for i, base in enumerate(_coins(market))}
    pools = [(row, pool) for row, pool in enumerate(POOLS) if pool.coin in index]
    eth = index.get("ETH", 0)
    width = max([eth] + [index[pool.coin] for _, pool in pools]) + 1
    lo = max(int(hours[0]) - _USUAL_HOURS, 0)
    span = grid.span(lo, int(hours[-1]) + 1, width)
    at = hours - lo  # each reading's column: the open of hour H is the price at H
    volume = np.zeros((width, span.volume.shape[1] + 1))
    np.cumsum(span.volume, axis=1, out=volume[:, 1:])

    def mean_volume(back: int) -> np.ndarray:
        begin = np.maximum(at - back, 0)
        return (volume[:, at] - volume[:, begin]) / (at - begin)

    activity = mean_volume(_ACTIVITY_HOURS) / mean_volume(_USUAL_HOURS)
    days, into_day = np.divmod(hours, 24)
    knots = _normals(seed, _Draw.DRIFT, days, len(POOLS))
    following = _normals(seed, _Draw.DRIFT, days + 1, len(POOLS))
    ease = 0.5 - 0.5 * np.cos(np.pi * into_day / 24.0)
    drift = _TVL_DRIFT * (knots + ease * (following - knots))
    stamps = [to_datetime(float(h * HOUR)) for h in hours]

    def series(entity: str, metric: str, values: np.ndarray) -> list[GlassMetric]:
        pairs = zip(stamps, values.tolist(), strict=True)
        return [GlassMetric(SOURCE, entity, metric, ts, value) for ts, value in pairs]

    rows: list[GlassMetric] = []
    for row, pool in pools:
        coin = index[pool.coin]
        moved = span.open[coin, at] - math.log(_START_PRICE[pool.coin])
        tvl = pool.tvl * np.exp(pool.beta * moved + drift[row])
        rows += series(pool.entity, pool.metric, tvl)
        if pool.fee_yield:
            rows += series(pool.entity, "fees_24h_usd", tvl * pool.fee_yield * activity[coin])
    # Gas over the hour before each reading: dearer in turbulent regimes and on big moves.
    before = at - 1
    sigma = span.sigma[eth, before]
    turbulence = sigma / grid.sigma_hour[eth]
    move = np.abs(span.close[eth, before] - span.open[eth, before]) / sigma
    noise = _normals(seed, _Draw.GAS, hours, 1)[0]
    gas = _GAS_GWEI * turbulence * (1.0 + 0.25 * np.minimum(move, 4.0))
    gas *= np.exp(_GAS_NOISE * noise - 0.5 * _GAS_NOISE**2)
    return rows + series("ethereum", "gas_price_gwei", np.round(gas, 2))


def _item_counts(coins: int, uniform: np.ndarray) -> np.ndarray:
    """Poisson item counts (capped at the slots) by inversion of ``uniform`` (coins, hours):
    each coin's share of items falls with its rank."""
    majors = sum((rank + 1) ** -_RANK_DECAY for rank in range(len(MAJORS)))
    rate = _ITEMS_PER_HOUR * np.arange(1, coins + 1) ** -_RANK_DECAY / majors
    k = np.arange(_ITEM_SLOTS)
    pmf = np.exp(-rate[:, None]) * rate[:, None] ** k / np.cumprod(np.maximum(k, 1))
    cdf = np.cumsum(pmf, axis=1)
    return (uniform[..., None] > cdf[:, None, :]).sum(axis=-1)


def _item_draws(
    seed: int, coins: int, hours: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per coin and hour: the item count, uniforms (slots, 3) for time, source and template,
    and normals (slots) for the score's noise. They are drawn a UTC day at a time, coin after
    coin, so a bigger universe leaves the first coins' items as they were."""
    count = np.empty((coins, len(hours)), dtype=np.int64)
    uniform = np.empty((coins, len(hours), _ITEM_SLOTS, 3))
    normal = np.empty((coins, len(hours), _ITEM_SLOTS))
    days = hours // 24
    for day in np.unique(days).tolist():
        inside = days == day
        picked = hours[inside] % 24
        drawn = _draws(seed, _Draw.ITEMS, day, 0).random((coins, 24, _ITEM_SLOTS + 1, 3))
        count[:, inside] = _item_counts(coins, drawn[:, picked, _ITEM_SLOTS, 0])
        uniform[:, inside] = drawn[:, picked, :_ITEM_SLOTS]
        noise = _draws(seed, _Draw.ITEMS, day, 1).standard_normal((coins, 24, _ITEM_SLOTS))
        normal[:, inside] = noise[:, picked]
    return count, uniform, normal


def _items(market: SimMarket, start: float, end: float, only: str | None = None) -> list[HumanItem]:
    """Items published in (start, end]; with ``only``, that coin's alone (the draws are made
    for every coin all the same, so its items are the ones a full run makes)."""
    first, last = math.floor(start / HOUR), math.floor(end / HOUR)
    hours = np.arange(first, last + 1)
    span = market.hours.span(first, last + 1 + _LEAD_HOURS)
    ahead = span.close[:, _LEAD_HOURS:] - span.close[:, : len(hours)]
    variance = np.cumsum(span.sigma**2, axis=1)
    spread = np.sqrt(variance[:, _LEAD_HOURS:] - variance[:, : len(hours)])
    signal = np.clip(ahead / spread, -3.0, 3.0)
    tickers = _coins(market)
    count, uniform, normal = _item_draws(market.seed, len(tickers), hours)
    if only is not None:
        count = np.where(np.array(tickers)[:, None] == only, count, 0)
    items: list[HumanItem] = []
    for coin, j, slot in zip(*np.nonzero(np.arange(_ITEM_SLOTS) < count[..., None]), strict=True):
        timing, source, pick = uniform[coin, j, slot]
        t = int(hours[j]) * HOUR + math.floor(timing * HOUR)
        if not start < t <= end:
            continue
        kind = "social" if source < _SOCIAL_SHARE else "news"
        share, gain = _TONES[kind]
        latent = share * signal[coin, j] + math.sqrt(1.0 - share**2) * normal[coin, j, slot]
        score = round(math.tanh(gain * latent), 3)
        tone = "bullish" if score > _TONE_CUT else "bearish" if score < -_TONE_CUT else "neutral"
        templates = (NEWS if kind == "news" else SOCIAL)[tone]
        ticker = tickers[coin]
        name, level = coin_name(ticker), price_level(math.exp(span.open[coin, j]))
        item_id = f"sim{market.seed}-{ticker}-{hours[j]}-{slot}"
        items.append(
            HumanItem(
                source=f"sim:{kind}",
                external_id=item_id,
                title=templates[int(pick * len(templates))].format(
                    name=name, ticker=ticker, level=level
                ),
                url=f"{SITE}/{kind}/{item_id}",
                published=to_datetime(t),
                score=score,
                body=f"{name} ({ticker}) trades near {level} {market.quote}.",
                currencies=(ticker,),
            )
        )
    items.sort(key=lambda item: (item.published, item.external_id))
    return items


def _moods(market: SimMarket, hours: np.ndarray) -> list[MoodReading]:
    """Fear & Greed on the hour: a decaying average of recent market returns, pulled down by
    turbulence, both measured in the market's usual hourly deviation."""
    if not len(hours):
        return []
    grid = market.hours
    width = min(len(market.universe), _MOOD_COINS)
    lo = max(int(hours[0]) - _MOMENTUM_HOURS, 0)
    span = grid.span(lo, int(hours[-1]), width)
    z = (span.close - span.open).mean(axis=0) / _market_deviation(grid, width)
    weights = np.exp(-np.arange(_MOMENTUM_HOURS) / _MOMENTUM_DECAY)
    readings = []
    for hour in hours.tolist():
        past = z[max(hour - _MOMENTUM_HOURS, lo) - lo : hour - lo][::-1]  # latest first
        w = weights[: len(past)]
        momentum = float(w @ past / np.sqrt(w @ w)) if len(past) else 0.0
        recent = past[:_TURBULENCE_HOURS]
        turbulence = float(np.sqrt(np.mean(recent**2))) if len(recent) else 1.0
        value = round(100.0 / (1.0 + math.exp(-(0.9 * momentum - 1.0 * (turbulence - 1.0)))))
        readings.append(
            MoodReading(
                "sim:feargreed", to_datetime(float(hour * HOUR)), float(value), mood_label(value)
            )
        )
    return readings


def _market_deviation(grid: HourGrid, width: int) -> float:
    """The usual hourly deviation of the mean log return of the first ``width`` coins."""
    sigma = grid.sigma_hour[:width]
    common = float(grid.beta[:width] @ sigma) / width
    own = float(np.sum((grid.idio[:width] * sigma) ** 2)) / width**2
    return math.sqrt(common**2 + own)


def _jump_catalysts(market: SimMarket, start: float, end: float) -> list[CatalystEvent]:
    """One event per jump, 11..89 minutes ahead of it, for jumps whose event is in the window."""
    seed, tickers = market.seed, _coins(market)
    early, late = (60.0 * minutes for minutes in LEAD_MINUTES)
    events = []
    first, stop = math.floor((start + early) / HOUR), math.floor((end + late) / HOUR) + 1
    for jump in market.hours.jumps(max(first, 0), stop):
        key = 0 if jump.coin is None else jump.coin + 1
        lead, pick = _draws(seed, _Draw.LEADS, key, jump.hour, int(jump.at)).random(2)
        t = math.floor(jump.hour * HOUR + jump.at - early - (late - early) * lead)
        if not start < t <= end:
            continue
        if jump.coin is None:
            ticker, who = tickers[0], "market"
            titles = MARKET_UP if jump.size > 0 else MARKET_DOWN
        else:
            ticker = who = tickers[jump.coin]
            titles = COIN_UP if jump.size > 0 else COIN_DOWN
        kind = list(titles)[int(pick * len(titles))]
        event_id = f"sim{seed}-{who}-{jump.hour}-{int(jump.at)}"
        events.append(
            CatalystEvent(
                source=SOURCE,
                external_id=event_id,
                type=kind,
                title=titles[kind].format(name=coin_name(ticker), ticker=ticker),
                url=f"{SITE}/catalysts/{event_id}",
                occurred=to_datetime(float(t)),
                impact=catalyst_impact(jump.size),
                currencies=(ticker,),
            )
        )
    return events


def _notes(market: SimMarket, start: float, end: float) -> list[CatalystEvent]:
    """Low-impact events (1..2) that precede nothing, drawn a UTC day at a time."""
    hours = np.arange(math.floor(start / HOUR), math.floor(end / HOUR) + 1)
    tickers, kinds = _coins(market), list(NOTES)
    events = []
    for day in np.unique(hours // 24).tolist():
        drawn = _draws(market.seed, _Draw.NOTES, day).random((len(tickers), 24, 3))
        for coin, into_day in zip(*np.nonzero(drawn[..., 0] < _NOTE_CHANCE), strict=True):
            hour = day * 24 + int(into_day)
            _, timing, pick = drawn[coin, into_day]
            t = hour * HOUR + math.floor(timing * HOUR)
            if not start < t <= end:
                continue
            ticker, kind = tickers[coin], kinds[int(pick * len(kinds))]
            event_id = f"sim{market.seed}-{ticker}-{hour}-note"
            events.append(
                CatalystEvent(
                    source=SOURCE,
                    external_id=event_id,
                    type=kind,
                    title=NOTES[kind].format(name=coin_name(ticker), ticker=ticker),
                    url=f"{SITE}/catalysts/{event_id}",
                    occurred=to_datetime(float(t)),
                    impact=1 + int(pick * len(kinds) % 1.0 < 0.35),
                    currencies=(ticker,),
                )
            )
    return events
