"""The simulated Glass, Human and Catalyst ledgers: determinism, windows, and ties to the path."""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ledgers.clock import ManualClock
from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem, MoodReading
from ledgers.sources.sim import SimMarket
from ledgers.sources.sim.headlines import BEARISH_TYPES, BULLISH_TYPES, coin_name, mood_label
from ledgers.sources.sim.intel import (
    SimCatalystCollector,
    SimGlassCollector,
    SimHumanCollector,
    catalyst_impact,
)
from ledgers.sources.sim.path import EPOCH

SEED = 7
END = datetime(2025, 9, 1, 7, 20, 30, tzinfo=UTC)  # deliberately not on an hour
LONG = timedelta(days=120)
HOUR = 3600
Collector = SimGlassCollector | SimHumanCollector | SimCatalystCollector
COLLECTORS = (SimGlassCollector, SimHumanCollector, SimCatalystCollector)


def run(collector: Collector, nows: Iterable[datetime]) -> list[Collected]:
    async def play() -> list[Collected]:
        return [await collector.collect(None, now) for now in nows]  # type: ignore[arg-type]

    return asyncio.run(play())


def records(batches: Iterable[Collected]) -> list[object]:
    return [r for b in batches for r in (*b.glass, *b.human, *b.mood, *b.catalysts)]


def key(record: object) -> Hashable:
    """The record's natural key in the ledger tables (what an upsert matches on)."""
    match record:
        case GlassMetric():
            return (record.source, record.entity, record.metric, record.ts)
        case HumanItem() | CatalystEvent():
            return (record.source, record.external_id)
        case MoodReading():
            return (record.source, record.ts)
    raise TypeError(record)


def stamp(record: object) -> datetime:
    match record:
        case GlassMetric() | MoodReading():
            return record.ts
        case HumanItem():
            return record.published
        case CatalystEvent():
            return record.occurred
    raise TypeError(record)


def hour_of(ts: datetime) -> int:
    return int((ts - EPOCH).total_seconds()) // HOUR


@pytest.fixture(scope="module")
def sim() -> SimMarket:
    return SimMarket(seed=SEED)


@pytest.fixture(scope="module")
def long_run(sim: SimMarket) -> dict[type, Collected]:
    """120 days of every ledger, collected in one run."""
    return {cls: run(cls(sim, lookback=LONG), [END])[0] for cls in COLLECTORS}


# --- the collector contract --------------------------------------------------------------------


def test_names_ledgers_and_intervals(sim: SimMarket) -> None:
    described = [(c.name, c.ledger, c.interval) for c in (cls(sim) for cls in COLLECTORS)]
    assert described == [
        ("sim.glass", "glass", 300.0),
        ("sim.human", "human", 120.0),
        ("sim.catalyst", "catalyst", 300.0),
    ]
    assert SimHumanCollector(sim, interval=30.0).interval == 30.0


@pytest.mark.parametrize("cls", COLLECTORS)
def test_same_seed_and_nows_give_identical_records(cls: type[Collector]) -> None:
    nows = [END + timedelta(minutes=7 * k) for k in range(12)]
    days = timedelta(days=5)
    first = run(cls(SimMarket(seed=3), lookback=days), nows)
    assert first == run(cls(SimMarket(seed=3), lookback=days), nows)
    assert sum(batch.rows for batch in first) > 0
    assert records(first) != records(run(cls(SimMarket(seed=4), lookback=days), nows))


@pytest.mark.parametrize("cls", COLLECTORS)
def test_chunking_never_changes_or_duplicates_records(sim: SimMarket, cls: type[Collector]) -> None:
    whole = records(run(cls(sim, lookback=timedelta(days=3)), [END]))
    steps = np.random.default_rng(1).uniform(1.0, 5_000.0, 400).cumsum()
    nows = [END - timedelta(days=2) + timedelta(seconds=float(s)) for s in [0.0, *steps]]
    nows = [now for now in nows if now < END] + [END]
    chunked = records(run(cls(sim, lookback=timedelta(days=1)), nows))
    assert len({key(r) for r in chunked}) == len(chunked)
    assert len({key(r) for r in whole}) == len(whole)
    assert sorted(chunked, key=repr) == sorted(whole, key=repr)


@pytest.mark.parametrize("cls", COLLECTORS)
def test_a_restart_reproduces_overlapping_records_under_the_same_keys(
    sim: SimMarket, cls: type[Collector]
) -> None:
    days = timedelta(days=2)
    before = records(
        run(cls(sim, lookback=days), [END + timedelta(minutes=10 * k) for k in range(30)])
    )
    restart = END + timedelta(minutes=205)
    after = records(run(cls(sim, lookback=days), [restart, restart + timedelta(minutes=10)]))
    seen = {key(r): r for r in before}
    overlap = [r for r in after if key(r) in seen]
    assert overlap, "the restart's first run should reach back over records already stored"
    assert all(seen[key(r)] == r for r in overlap)  # an upsert rewrites identical rows


@pytest.mark.parametrize("cls", COLLECTORS)
def test_records_lie_within_each_run_window(sim: SimMarket, cls: type[Collector]) -> None:
    collector = cls(sim, lookback=timedelta(days=2))
    previous, now, seen = END - timedelta(days=2), END, 0
    for step in (0.5, 299.5, 3_600.0, 1.25, 86_400.0):
        got = records(run(collector, [now]))
        assert all(previous < stamp(record) <= now for record in got)
        previous, now, seen = now, now + timedelta(seconds=step), seen + len(got)
    assert seen > 0
    assert run(collector, [previous])[0].rows == 0  # nothing new at the same moment


def test_first_run_reaches_back_its_lookback(sim: SimMarket) -> None:
    got = run(SimGlassCollector(sim, lookback=timedelta(hours=3)), [END])[0]
    hours = sorted({row.ts for row in got.glass if row.metric == "tvl_usd"})
    assert hours == [END.replace(minute=0, second=0) - timedelta(hours=k) for k in (2, 1, 0)]


@pytest.mark.parametrize(
    ("cls", "days"), [(SimGlassCollector, 30), (SimHumanCollector, 3), (SimCatalystCollector, 30)]
)
def test_a_first_run_backfills_the_ledgers_history(
    sim: SimMarket, cls: type[Collector], days: int
) -> None:
    batch = run(cls(sim), [END])[0]
    stamps = sorted(stamp(r) for r in records([batch]))
    start = END - timedelta(days=days)
    within = timedelta(days=1) if cls is SimCatalystCollector else timedelta(hours=1)
    assert start < stamps[0] < start + within
    assert END - within < stamps[-1] <= END
    if cls is SimCatalystCollector:
        assert len(batch.catalysts) >= 60  # a few a day
    if cls is SimHumanCollector:
        assert len(batch.mood) == days * 24


@pytest.mark.parametrize("cls", COLLECTORS)
def test_resuming_fills_only_the_gap_since_the_newest_stored_row(
    sim: SimMarket, cls: type[Collector]
) -> None:
    whole = records(run(cls(sim, lookback=timedelta(days=4)), [END]))
    newest = END - timedelta(days=1, minutes=17)
    stored = [r for r in whole if stamp(r) <= newest]
    collector = cls(sim, lookback=timedelta(days=4))
    collector.resume(max(stamp(r) for r in stored))
    gap = records(run(collector, [END]))
    assert gap and all(stamp(r) > max(stamp(r) for r in stored) for r in gap)
    assert sorted(stored + gap, key=repr) == sorted(whole, key=repr)
    # Nothing stored yet: the whole lookback; stored rows past the clock: nothing until then.
    collector.resume(None)
    assert sorted(records(run(collector, [END])), key=repr) == sorted(whole, key=repr)
    collector.resume(END + timedelta(hours=2))
    assert run(collector, [END + timedelta(hours=1)])[0].rows == 0


def test_runs_near_the_epoch_start_at_the_epoch() -> None:
    got = run(SimHumanCollector(SimMarket(seed=SEED)), [EPOCH + timedelta(hours=2)])[0]
    assert got.mood and all(EPOCH < reading.ts for reading in got.mood)


# --- value ranges --------------------------------------------------------------------------------


def test_every_record_is_well_formed(sim: SimMarket, long_run: dict[type, Collected]) -> None:
    tickers = {symbol.split("/")[0] for symbol in sim.universe}
    everything = records(long_run.values())
    assert all(stamp(r).tzinfo is UTC for r in everything)
    for item in long_run[SimHumanCollector].human:
        assert -1.0 <= item.score <= 1.0
        assert item.source in {"sim:news", "sim:social"}
        assert len(item.currencies) == 1 and item.currencies[0] in tickers
        assert item.url == f"https://sim.omc.local/{item.source[4:]}/{item.external_id}"
    for event in long_run[SimCatalystCollector].catalysts:
        assert 1 <= event.impact <= 10 and event.source == "sim"
        assert len(event.currencies) == 1 and event.currencies[0] in tickers
    for reading in long_run[SimHumanCollector].mood:
        assert 0 <= reading.value <= 100 and reading.label == mood_label(reading.value)
        assert reading.source == "sim:feargreed" and reading.ts.minute == reading.ts.second == 0
    assert all(
        math.isfinite(row.value) and row.value > 0 for row in long_run[SimGlassCollector].glass
    )


def test_items_name_their_coin(long_run: dict[type, Collected]) -> None:
    for item in long_run[SimHumanCollector].human:
        ticker = item.currencies[0]
        assert ticker in item.title or coin_name(ticker) in item.title


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0, "Extreme Fear"),
        (24.9, "Extreme Fear"),
        (25, "Fear"),
        (44.9, "Fear"),
        (45, "Neutral"),
        (54.9, "Neutral"),
        (55, "Greed"),
        (74.9, "Greed"),
        (75, "Extreme Greed"),
        (100, "Extreme Greed"),
    ],
)
def test_mood_labels_follow_the_index_bands(value: float, label: str) -> None:
    assert mood_label(value) == label


# --- ties to the price path ----------------------------------------------------------------------


def test_sentiment_leads_returns(sim: SimMarket, long_run: dict[type, Collected]) -> None:
    items = long_run[SimHumanCollector].human
    tickers = [symbol.split("/")[0] for symbol in sim.universe]
    first = hour_of(END - LONG)
    span = sim.hours.span(first - 4, hour_of(END) + 4)
    scores: dict[tuple[int, int], list[float]] = defaultdict(list)
    for item in items:
        column = hour_of(item.published) - first + 4
        scores[tickers.index(item.currencies[0]), column].append(item.score)
    coin, column = np.array(list(scores)).T
    mean = np.array([np.mean(s) for s in scores.values()])
    close = span.close
    ahead = close[coin, column + 3] - close[coin, column]  # hours h+1..h+3
    behind = close[coin, column - 1] - close[coin, column - 4]  # hours h-3..h-1
    lead = np.corrcoef(mean, ahead)[0, 1]
    assert 0.2 <= lead <= 0.45
    assert abs(np.corrcoef(mean, behind)[0, 1]) < 0.06  # it leads; it does not follow
    shuffles = np.random.default_rng(0)
    null = [abs(np.corrcoef(shuffles.permutation(mean), ahead)[0, 1]) for _ in range(200)]
    assert max(null) < lead / 3


def test_a_few_items_an_hour_from_news_and_social(long_run: dict[type, Collected]) -> None:
    items = long_run[SimHumanCollector].human
    per_hour = len(items) / (LONG / timedelta(hours=1))
    assert 3 <= per_hour <= 8
    social = sum(item.source == "sim:social" for item in items) / len(items)
    assert 0.25 < social < 0.55


def test_every_sizable_jump_is_announced_ahead(
    sim: SimMarket, long_run: dict[type, Collected]
) -> None:
    events = long_run[SimCatalystCollector].catalysts
    tickers = [symbol.split("/")[0] for symbol in sim.universe]
    jumps = [
        j for j in sim.hours.jumps(hour_of(END - LONG) + 2, hour_of(END)) if abs(j.size) > 0.05
    ]
    assert len(jumps) >= 20
    announced = []
    for jump in jumps:
        at = EPOCH + timedelta(hours=jump.hour, seconds=jump.at)
        ticker = "BTC" if jump.coin is None else tickers[jump.coin]
        kinds = BULLISH_TYPES if jump.size > 0 else BEARISH_TYPES
        ahead = [
            e
            for e in events
            if e.currencies == (ticker,)
            and timedelta(minutes=10) <= at - e.occurred <= timedelta(minutes=90)
            and e.type in kinds
            and ("market" in e.title) == (jump.coin is None)
        ]
        assert ahead, f"no catalyst ahead of {jump}"
        impact = max(e.impact for e in ahead)  # another jump's event may also fall in the span
        assert impact == catalyst_impact(jump.size)
        announced.append((abs(jump.size), impact))
    sizes, impacts = np.array(sorted(announced)).T
    assert np.all(np.diff(impacts) >= 0) and impacts[-1] > impacts[0]


def test_catalysts_are_collected_before_their_jump(sim: SimMarket) -> None:
    events = run(SimCatalystCollector(sim, lookback=timedelta(days=20)), [END])[0].catalysts
    leading = [e for e in events if e.impact >= 3]
    assert leading
    for event in leading:
        # A run whose now is the event's moment already has it, though the jump is yet to come.
        got = run(SimCatalystCollector(sim, lookback=timedelta(minutes=1)), [event.occurred])[0]
        assert event in got.catalysts


def test_every_catalyst_announces_a_jump_10_to_90_minutes_ahead_or_is_a_note(
    sim: SimMarket, long_run: dict[type, Collected]
) -> None:
    events = long_run[SimCatalystCollector].catalysts
    tickers = [symbol.split("/")[0] for symbol in sim.universe]
    jumps = sim.hours.jumps(hour_of(END - LONG), hour_of(END) + 2)
    announcing = [e for e in events if e.type in BULLISH_TYPES | BEARISH_TYPES]
    assert len(announcing) >= 30
    for event in announcing:
        ahead = [
            j
            for j in jumps
            if timedelta(minutes=10)
            <= EPOCH + timedelta(hours=j.hour, seconds=j.at) - event.occurred
            <= timedelta(minutes=90)
            and event.currencies == ("BTC" if j.coin is None else tickers[j.coin],)
            and ("market" in event.title) == (j.coin is None)
            and (event.type in BULLISH_TYPES) == (j.size > 0)
            and event.impact == catalyst_impact(j.size)
        ]
        assert ahead, f"{event} announces no jump"
    notes = [e for e in events if e not in announcing]
    assert notes and all(e.impact <= 2 for e in notes) and all(e.impact >= 3 for e in announcing)


def test_catalysts_arrive_a_few_a_day(long_run: dict[type, Collected]) -> None:
    events = long_run[SimCatalystCollector].catalysts
    days = LONG / timedelta(days=1)
    assert 3.0 <= len(events) / days <= 5.0  # about 4: 0.4 ahead of jumps, 3.6 notes
    weeks = np.bincount([int((END - e.occurred) / timedelta(weeks=1)) for e in events])
    whole_weeks = weeks[: int(days // 7)] / 7
    assert 2.0 <= whole_weeks.min() and whole_weeks.max() <= 7.0  # every simulated week


def series(rows: Sequence[GlassMetric], entity: str, metric: str) -> dict[datetime, float]:
    return {r.ts: r.value for r in rows if (r.entity, r.metric) == (entity, metric)}


@pytest.mark.parametrize(
    ("entity", "metric", "symbol"),
    [
        ("simswap", "tvl_usd", "ETH/AUD"),
        ("simlend", "tvl_usd", "ETH/AUD"),
        ("simstake", "tvl_usd", "SOL/AUD"),
        ("ethereum", "chain_tvl_usd", "ETH/AUD"),
        ("solana", "chain_tvl_usd", "SOL/AUD"),
    ],
)
def test_tvl_drifts_with_its_coin(
    long_run: dict[type, Collected], entity: str, metric: str, symbol: str
) -> None:
    tvl = series(long_run[SimGlassCollector].glass, entity, metric)
    candles = asyncio.run(
        SimMarket(seed=SEED, clock=ManualClock(END)).fetch_candles(symbol, "4h", END - LONG, 1000)
    )
    pairs = np.log([(tvl[c.ts], c.open) for c in candles if c.ts in tvl])
    assert len(pairs) > 600
    assert np.corrcoef(pairs.T)[0, 1] > 0.8


def test_fees_follow_volume_and_gas_follows_turbulence(
    sim: SimMarket, long_run: dict[type, Collected]
) -> None:
    glass = long_run[SimGlassCollector].glass
    tvl, fees = series(glass, "simswap", "tvl_usd"), series(glass, "simswap", "fees_24h_usd")
    candles = asyncio.run(
        SimMarket(seed=SEED, clock=ManualClock(END)).fetch_candles("ETH/AUD", "1h", None, 720)
    )
    day_volume = np.convolve([c.volume for c in candles], np.ones(24), "valid")[:-1]
    stamps = [c.ts + timedelta(hours=1) for c in candles[23:-1]]  # a day of volume before each
    take = np.log([(fees[t] / tvl[t], v) for t, v in zip(stamps, day_volume, strict=True)])
    assert np.corrcoef(take.T)[0, 1] > 0.6

    gas = series(glass, "ethereum", "gas_price_gwei")
    by_regime: dict[int, list[float]] = defaultdict(list)
    for ts, value in gas.items():
        by_regime[sim.hours.regime(hour_of(ts) - 1)].append(value)
    means = [np.mean(by_regime[regime]) for regime in (0, 1, 2)]
    assert means[0] < means[1] < means[2]


def test_block_height_advances_one_per_twelve_seconds(long_run: dict[type, Collected]) -> None:
    heights = sorted(series(long_run[SimGlassCollector].glass, "ethereum", "block_height").items())
    (t0, h0), (t1, h1) = heights[0], heights[-1]
    assert all(ts.timestamp() % 300 == 0 for ts, _ in heights)
    assert h1 - h0 == (t1 - t0).total_seconds() / 12


def test_mood_follows_recent_market_returns(
    sim: SimMarket, long_run: dict[type, Collected]
) -> None:
    mood = long_run[SimHumanCollector].mood
    first = hour_of(END - LONG) - 72
    span = sim.hours.span(first, hour_of(END) + 1)
    market = (span.close - span.open).mean(axis=0).cumsum()
    hours = np.array([hour_of(m.ts) - first for m in mood])
    recent = market[hours - 1] - market[hours - 73]  # the market's move over the last 3 days
    assert np.corrcoef([m.value for m in mood], recent)[0, 1] > 0.5
    assert {m.label for m in mood} == {"Extreme Fear", "Fear", "Neutral", "Greed", "Extreme Greed"}


def test_the_jump_list_matches_the_path(sim: SimMarket) -> None:
    first, stop = hour_of(END - LONG), hour_of(END)
    span, grid = sim.hours.span(first, stop), sim.hours
    expected = np.zeros_like(span.jump)
    for jump in grid.jumps(first, stop):
        if jump.coin is None:
            expected[:, jump.hour - first] += jump.size * grid.market_jump_scale
        else:
            expected[jump.coin, jump.hour - first] += jump.size
    assert np.count_nonzero(expected) > 20
    np.testing.assert_allclose(expected, span.jump, atol=1e-12)


@pytest.mark.parametrize("cls", (SimHumanCollector, SimCatalystCollector))
@pytest.mark.parametrize("currency", ("ETH", "doge"))
def test_a_coins_history_is_what_every_coins_holds_for_it(
    sim: SimMarket, cls: type[Collector], currency: str
) -> None:
    """The Lab makes a study's history for one coin: the same records, no more, no fewer."""
    since, until = END - timedelta(days=20), END
    whole = cls(sim).between(since, until)
    code = currency.upper()
    named = (*whole.human, *whole.catalysts)
    expected = [r for r in named if code in r.currencies]
    one = cls(sim).between(since, until, currency)
    assert records([one]) == expected
    assert expected and len(expected) < whole.rows
