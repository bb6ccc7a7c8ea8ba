"""The simulated market: determinism, realism of the path, quotes, books and backfilled bars."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ledgers.clock import ManualClock
from ledgers.market import Candle, Tick
from ledgers.sources.base import MarketSource, UnknownSymbolError
from ledgers.sources.sim import BACKFILL_HORIZONS, SimMarket
from ledgers.sources.sim.path import EPOCH
from ledgers.timeframes import TIMEFRAMES

START = datetime(2026, 6, 1, 12, 30, 15, tzinfo=UTC)  # deliberately not on a bar boundary


def market(seed: int = 7, start: datetime = START, **options: object) -> SimMarket:
    return SimMarket(seed=seed, clock=ManualClock(start), **options)  # type: ignore[arg-type]


def advance(sim: SimMarket, seconds: float) -> None:
    clock = sim.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds)


async def play(sim: SimMarket, steps: int) -> list[Tick]:
    """Ticks from calling fetch_ticks once a second for ``steps`` seconds after a first call."""
    ticks = await sim.fetch_ticks(sim.universe)
    for _ in range(steps):
        advance(sim, 1)
        ticks += await sim.fetch_ticks(sim.universe)
    return ticks


Series = dict[tuple[str, str], list[Candle]]


@pytest.fixture(scope="module")
def history() -> tuple[SimMarket, Series]:
    sim = market()
    series: Series = defaultdict(list)
    for candle in sim.backfill(sim.universe, START):
        series[candle.symbol, candle.timeframe].append(candle)
    return sim, series


def log_returns(bars: list[Candle]) -> np.ndarray:
    return np.diff(np.log([bar.close for bar in bars]))


# --- determinism -------------------------------------------------------------------------------


def test_is_a_market_source() -> None:
    sim = market()
    assert isinstance(sim, MarketSource)
    assert (sim.venue, sim.simulated, sim.has_ohlcv) == ("sim", True, False)


async def test_same_seed_gives_identical_ticks() -> None:
    assert await play(market(), 30) == await play(market(), 30)


async def test_different_seed_gives_different_prices() -> None:
    one, other = await play(market(seed=7), 5), await play(market(seed=8), 5)
    assert [t.last for t in one] != [t.last for t in other]
    assert sum(a.last == b.last for a, b in zip(one, other, strict=True)) < len(one) // 10


async def test_chunking_does_not_change_ticks() -> None:
    stepped = await play(market(), 60)
    jumped = market()
    first = await jumped.fetch_ticks(jumped.universe)
    advance(jumped, 60)
    assert first + await jumped.fetch_ticks(jumped.universe) == stepped
    # A market started later, with the same seed, joins the same path.
    late = market(start=START + timedelta(seconds=45))
    late_ticks = await late.fetch_ticks(late.universe)
    at_45 = [t for t in stepped if t.ts == START + timedelta(seconds=45)]
    assert late_ticks == at_45
    for tick in at_45:
        assert late.price_at(tick.symbol, tick.ts) == tick.last


def test_price_is_a_pure_function_of_time() -> None:
    times = [START - timedelta(days=d, seconds=s) for d in (0, 3, 40, 400) for s in (0, 17, 3599)]
    forward = market()
    expected = [forward.price_at("ETH/AUD", ts) for ts in times]
    backward = market()
    assert [backward.price_at("ETH/AUD", ts) for ts in reversed(times)] == expected[::-1]
    # Adding coins to the universe never moves the existing ones.
    wider = market(symbols=20)
    assert [wider.price_at("ETH/AUD", ts) for ts in times] == expected


async def test_books_are_deterministic_and_match_the_tick() -> None:
    one, other = market(), market()
    (tick,) = await one.fetch_ticks(["BTC/AUD"])
    book = await one.fetch_book("BTC/AUD")
    assert book == await other.fetch_book("BTC/AUD")
    assert (book.bids[0][0], book.asks[0][0]) == (tick.bid, tick.ask)
    advance(one, 1)
    assert (await one.fetch_book("BTC/AUD")).bids != book.bids


async def test_books_are_ordered_and_never_crossed() -> None:
    sim = market()
    instruments = {i.symbol: i for i in await sim.load_instruments()}
    for symbol in sim.universe:
        book = await sim.fetch_book(symbol, depth=20)
        bids, asks = [p for p, _ in book.bids], [p for p, _ in book.asks]
        assert len(bids) == len(asks) == 20
        assert all(a > b for a, b in zip(bids, bids[1:], strict=False))
        assert all(a < b for a, b in zip(asks, asks[1:], strict=False))
        assert bids[0] < asks[0]
        spec = instruments[symbol]
        assert spec.min_amount is not None and spec.amount_precision is not None
        for _, size in book.bids + book.asks:
            assert size >= spec.min_amount
            lots = size / spec.amount_precision
            assert abs(lots - round(lots)) < 1e-6
        # Size grows with distance from the touch (on average).
        assert np.mean([s for _, s in book.bids[10:]]) > np.mean([s for _, s in book.bids[:5]])


# --- quotes and instruments --------------------------------------------------------------------


async def test_instruments_are_realistic() -> None:
    sim = market()
    instruments = {i.symbol: i for i in await sim.load_instruments()}
    assert list(instruments) == sim.universe
    assert sim.universe[:3] == ["BTC/AUD", "ETH/AUD", "SOL/AUD"]
    assert instruments["BTC/AUD"].price_precision == 0.01
    assert instruments["DOGE/AUD"].price_precision == 1e-5
    assert 100_000 < sim.price_at("BTC/AUD", EPOCH) < 200_000
    assert 0.2 < sim.price_at("DOGE/AUD", EPOCH) < 0.5


async def test_quotes_sit_on_the_tick_grid_with_bid_below_ask() -> None:
    sim = market()
    ticks = await play(sim, 20)
    instruments = {i.symbol: i for i in await sim.load_instruments()}
    for tick in ticks:
        assert tick.bid is not None and tick.ask is not None
        assert tick.bid < tick.ask
        assert tick.bid <= tick.last <= tick.ask
        size = instruments[tick.symbol].price_precision
        assert size is not None
        for price in (tick.last, tick.bid, tick.ask):
            assert abs(price / size - round(price / size)) < 1e-6
        spread_bps = (tick.ask - tick.bid) / tick.last * 1e4
        assert 1 < spread_bps < 200
        assert tick.volume is not None and tick.volume >= 0
        assert tick.base_volume is not None and tick.base_volume > 0
        assert tick.quote_volume == pytest.approx(tick.base_volume * tick.last, rel=0.2)


async def test_change_pct_is_the_24h_change_of_the_mid() -> None:
    sim = market()
    (tick,) = await sim.fetch_ticks(["SOL/AUD"])
    day_ago = sim.price_at("SOL/AUD", tick.ts - timedelta(days=1))
    assert tick.change_pct == pytest.approx((tick.last / day_ago - 1) * 100)


async def test_tick_volumes_add_up_to_the_hour_bar() -> None:
    hour = datetime(2026, 6, 1, 9, tzinfo=UTC)
    sim = market(start=hour)
    await sim.fetch_ticks(["LINK/AUD"])
    advance(sim, 3600)  # one catch-up of 3,600 steps covers (09:00, 10:00]
    ticks = await sim.fetch_ticks(["LINK/AUD"])
    (bar,) = await sim.fetch_candles("LINK/AUD", "1h", since=hour, limit=1)
    assert len(ticks) == 3600
    assert sum(t.volume or 0.0 for t in ticks) == pytest.approx(bar.volume, rel=1e-6)


async def test_sub_second_ticks_split_the_volume() -> None:
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)
    sim = market(start=start, tick_seconds=0.5)
    await sim.fetch_ticks(["XRP/AUD"])
    advance(sim, 1800)
    ticks = await sim.fetch_ticks(["XRP/AUD"])
    assert len(ticks) == 3600 and ticks[1].ts - ticks[0].ts == timedelta(seconds=0.5)
    assert all((t.volume or 0.0) > 0 for t in ticks)
    minutes = await sim.fetch_candles("XRP/AUD", "1m", since=start, limit=30)
    traded = sum(m.volume for m in minutes)
    assert sum(t.volume or 0.0 for t in ticks) == pytest.approx(traded, rel=1e-6)
    for tick in ticks:
        bar = minutes[int((tick.ts - start).total_seconds() - 1e-9) // 60]
        assert bar.low <= tick.last <= bar.high


async def test_unknown_symbols_are_left_out_or_refused() -> None:
    sim = market()
    ticks = await sim.fetch_ticks(["BTC/AUD", "NOPE/AUD", "BTC/USD"])
    assert [t.symbol for t in ticks] == ["BTC/AUD"]
    with pytest.raises(UnknownSymbolError):
        await sim.fetch_book("NOPE/AUD")
    with pytest.raises(UnknownSymbolError):
        sim.price_at("NOPE/AUD", START)
    assert sim.backfill(["NOPE/AUD"], START) == []


async def test_only_new_steps_are_returned_and_catch_up_is_capped() -> None:
    sim = market()
    assert len(await sim.fetch_ticks(["ETH/AUD"])) == 1
    assert await sim.fetch_ticks(["ETH/AUD"]) == []
    advance(sim, 0.4)
    assert await sim.fetch_ticks(["ETH/AUD"]) == []
    advance(sim, 7200 - 0.4)  # a laptop waking up two hours later
    ticks = await sim.fetch_ticks(["ETH/AUD"])
    assert len(ticks) == 3600
    assert ticks[0].ts == START + timedelta(seconds=7200 - 3599)
    assert ticks[-1].ts == START + timedelta(seconds=7200)
    assert all(b.ts - a.ts == timedelta(seconds=1) for a, b in zip(ticks, ticks[1:], strict=False))


async def test_two_hundred_symbols() -> None:
    sim = market(symbols=200)
    assert len(sim.universe) == 200
    assert sim.universe[12] == "SIM013/AUD" and sim.universe[-1] == "SIM200/AUD"
    assert sim.price_at("BTC/AUD", START) == market().price_at("BTC/AUD", START)
    starts = [sim.price_at(symbol, EPOCH) for symbol in sim.universe[12:]]
    assert 0.01 <= min(starts) < 1 and 50 < max(starts) <= 500
    ticks = await sim.fetch_ticks(sim.universe)
    assert len(ticks) == 200 and all(t.bid is not None and t.bid < t.ask for t in ticks)  # type: ignore[operator]
    assert len((await sim.fetch_book("SIM200/AUD")).asks) == 20
    # Bars of a coin do not depend on how many coins are listed or asked for alongside it.
    since = dict.fromkeys(TIMEFRAMES, START - timedelta(hours=3))
    wide = sim.backfill(["SIM150/AUD", "BTC/AUD"], START, since=since)
    narrow = market().backfill(["BTC/AUD"], START, since=since)
    assert [c for c in wide if c.symbol == "BTC/AUD"] == narrow


# --- character of the path ---------------------------------------------------------------------


def test_hourly_returns_are_correlated_with_btc(history: tuple[SimMarket, Series]) -> None:
    _, series = history
    btc = log_returns(series["BTC/AUD", "1h"])
    for symbol in ("ETH/AUD", "SOL/AUD", "TRX/AUD"):
        assert np.corrcoef(btc, log_returns(series[symbol, "1h"]))[0, 1] > 0.4


def test_volatility_regimes_are_visible(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    # Each 4h bar's range, relative to its coin's usual range; the regime is market-wide, so
    # the median across coins and a rolling 3-day median leave little but the regime.
    ranges = np.array(
        [[math.log(b.high / b.low) for b in series[symbol, "4h"]] for symbol in sim.universe]
    )
    market_range = np.median(ranges / np.median(ranges, axis=1, keepdims=True), axis=0)
    level = [np.median(market_range[i : i + 18]) for i in range(len(market_range) - 18)]
    assert max(level) / min(level) > 3  # about 1.3 without regimes


async def test_jumps_happen_inside_one_minute(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    # The largest hourly move of any coin over 30 days...
    size, symbol, bar = max(
        (abs(math.log(b.close / b.open)), symbol, b)
        for symbol in sim.universe
        for b in series[symbol, "1h"][:-1]
    )
    assert size > 0.04
    # ...happens mostly within one minute: a 15-sigma minute that only a jump explains.
    minutes = await sim.fetch_candles(symbol, "1m", since=bar.ts, limit=60)
    steps = np.abs(np.diff(np.log([minutes[0].open] + [m.close for m in minutes])))
    assert steps.max() > 0.025
    assert steps.max() > 0.5 * size


async def test_minute_noise_is_fresh_every_day() -> None:
    sim = market()
    hour = datetime(2026, 5, 20, 14, tzinfo=UTC)
    moves = []
    for day in range(3):
        bars = await sim.fetch_candles("ETH/AUD", "1m", since=hour + timedelta(days=day), limit=60)
        moves.append(np.log([b.close / b.open for b in bars]))
    assert abs(np.corrcoef(moves[0], moves[1])[0, 1]) < 0.6
    assert abs(np.corrcoef(moves[1], moves[2])[0, 1]) < 0.6


def test_volume_tracks_the_size_of_moves(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    for symbol in sim.universe:
        bars = series[symbol, "1h"]
        moves = np.abs(log_returns(bars))
        volume = np.array([b.volume for b in bars[1:]])
        assert np.corrcoef(moves, volume)[0, 1] > 0.3


def test_annual_volatility_is_crypto_like(history: tuple[SimMarket, Series]) -> None:
    _, series = history
    for symbol, low, high in (("BTC/AUD", 0.3, 0.75), ("DOGE/AUD", 0.5, 1.3)):
        vol = log_returns(series[symbol, "1d"]).std() * math.sqrt(365)
        assert low < vol < high


# --- backfill ----------------------------------------------------------------------------------


def test_backfill_covers_each_horizon(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    for symbol in sim.universe:
        for timeframe, horizon in BACKFILL_HORIZONS.items():
            bars = series[symbol, timeframe]
            assert len(bars) == horizon.total_seconds() / TIMEFRAMES[timeframe]
            step = timedelta(seconds=TIMEFRAMES[timeframe])
            assert all(b.ts - a.ts == step for a, b in zip(bars, bars[1:], strict=False))
            assert bars[0].ts >= START - horizon
            assert bars[-1].ts <= START < bars[-1].ts + step


def test_every_bar_is_a_valid_ohlc(history: tuple[SimMarket, Series]) -> None:
    _, series = history
    for bars in series.values():
        for b in bars:
            assert 0 < b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
            assert b.volume >= 0


def test_bars_close_at_the_price_of_their_end(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    for (symbol, timeframe), bars in series.items():
        if symbol not in ("BTC/AUD", "DOGE/AUD"):
            continue
        assert bars[-1].close == sim.price_at(symbol, START)
        step = timedelta(seconds=TIMEFRAMES[timeframe])
        for bar in bars[-4:-1] + bars[:2]:
            assert bar.close == sim.price_at(symbol, bar.ts + step)
            assert bar.open == sim.price_at(symbol, bar.ts)


def test_forming_bars_end_at_fractional_times() -> None:
    sim = market()
    for k in range(24):
        end = START + timedelta(seconds=k * 37.25 + 0.5)
        since = {tf: end - timedelta(seconds=length) for tf, length in TIMEFRAMES.items()}
        candles = sim.backfill(["BTC/AUD", "DOGE/AUD"], end, since=since)
        assert len(candles) == 2 * len(TIMEFRAMES)  # only the bars forming at ``end``
        for bar in candles:
            assert bar.ts <= end < bar.ts + timedelta(seconds=TIMEFRAMES[bar.timeframe])
            assert bar.close == sim.price_at(bar.symbol, end)
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high


def _assert_built_from(coarse: list[Candle], fine: list[Candle], per_bar: int) -> int:
    """Every coarse bar fully covered by fine bars agrees with them; returns how many were."""
    by_open = {bar.ts: i for i, bar in enumerate(fine)}
    checked = 0
    for bar in coarse:
        first = by_open.get(bar.ts)
        if first is None:
            continue
        inner = fine[first : first + per_bar]
        forming = bar is coarse[-1]
        if len(inner) < per_bar and not forming:
            continue
        assert bar.open == inner[0].open
        assert bar.close == inner[-1].close
        assert bar.high == max(b.high for b in inner)
        assert bar.low == min(b.low for b in inner)
        assert bar.volume == pytest.approx(sum(b.volume for b in inner), rel=1e-6)
        checked += 1
    return checked


@pytest.mark.parametrize(
    ("coarse", "fine", "expected"),
    [("5m", "1m", 288), ("15m", "5m", 288), ("1h", "1m", 24), ("1h", "15m", 168),
     ("4h", "1h", 180), ("1d", "1h", 30), ("1d", "4h", 120)],
)  # fmt: skip
def test_timeframes_agree(
    history: tuple[SimMarket, Series], coarse: str, fine: str, expected: int
) -> None:
    sim, series = history
    per_bar = TIMEFRAMES[coarse] // TIMEFRAMES[fine]
    for symbol in ("BTC/AUD", "XRP/AUD", "AVAX/AUD"):
        checked = _assert_built_from(series[symbol, coarse], series[symbol, fine], per_bar)
        assert checked >= expected - 1


def test_minute_extremes_are_traded_by_the_ticks(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    for bar in series["ETH/AUD", "1m"][-30:-1]:
        prices = [sim.price_at("ETH/AUD", bar.ts + timedelta(seconds=s)) for s in range(61)]
        assert (max(prices), min(prices)) == (bar.high, bar.low)


def test_since_fills_only_the_gap(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    restarted = market(start=START)
    since = {"1m": START - timedelta(minutes=30), "1d": START + timedelta(days=1)}
    fresh = restarted.backfill(["BTC/AUD"], START, since=since)
    minutes = [c for c in fresh if c.timeframe == "1m"]
    assert minutes == series["BTC/AUD", "1m"][-30:]  # opens from 12:01 (since is 12:00:15)
    assert not [c for c in fresh if c.timeframe == "1d"]
    assert [c for c in fresh if c.timeframe == "4h"] == series["BTC/AUD", "4h"]


def test_history_joins_the_later_live_path(history: tuple[SimMarket, Series]) -> None:
    _, series = history
    later = START + timedelta(hours=5, seconds=20)
    restarted = market(start=later)
    stored = series["SOL/AUD", "1h"]
    gap = restarted.backfill(["SOL/AUD"], later, since={"1h": stored[-1].ts})
    hours = [c for c in gap if c.timeframe == "1h"]
    assert hours[0].ts == stored[-1].ts
    assert hours[0].open == stored[-1].open  # the bar forming before the restart, now closed
    assert hours[0].high >= stored[-1].high and hours[0].low <= stored[-1].low
    assert stored[-2].close == hours[0].open
    assert len(hours) == 6


async def test_fetch_candles_matches_backfill(history: tuple[SimMarket, Series]) -> None:
    sim, series = history
    for timeframe in ("1m", "15m", "4h"):
        stored = series["ADA/AUD", timeframe]
        fetched = await sim.fetch_candles("ADA/AUD", timeframe, limit=50)
        assert fetched == stored[-50:]
        since = await sim.fetch_candles("ADA/AUD", timeframe, since=stored[3].ts, limit=5)
        assert since == stored[3:8]
