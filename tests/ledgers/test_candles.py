"""CandleBuilder: bars from ticks, across bucket boundaries, out of order and across a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgers.candles import CandleBuilder, CandleUpdates
from ledgers.market import Candle, Tick
from ledgers.timeframes import TIMEFRAMES

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # on a 1m, 5m, 15m and 1h boundary


def tick(
    seconds: float, price: float, volume: float | None = None, symbol: str = "BTC/AUD"
) -> Tick:
    return Tick("coinspot", symbol, T0 + timedelta(seconds=seconds), price, volume=volume)


def bar(
    timeframe: str, minute: int, o: float, h: float, lo: float, c: float, v: float = 0.0
) -> Candle:
    return Candle("coinspot", "BTC/AUD", timeframe, T0 + timedelta(minutes=minute), o, h, lo, c, v)


def feed(builder: CandleBuilder, *ticks: Tick) -> None:
    for t in ticks:
        builder.add(t)


def test_one_minute_and_five_minute_bars_across_boundaries() -> None:
    builder = CandleBuilder(["1m", "5m"])
    feed(
        builder,
        tick(5, 100.0),
        tick(20, 104.0),
        tick(40, 98.0),
        tick(59, 101.0),
        tick(61, 102.0),  # next minute, same 5 minutes
        tick(119, 99.0),
        tick(300, 110.0),  # next 5 minutes, skipping minutes 2-4
    )

    updates = builder.drain()

    assert updates.closed == [
        bar("1m", 0, 100.0, 104.0, 98.0, 101.0),
        bar("1m", 1, 102.0, 102.0, 99.0, 99.0),
        bar("5m", 0, 100.0, 104.0, 98.0, 99.0),
    ]
    assert builder.forming("coinspot", "BTC/AUD", "1m") == bar("1m", 5, 110.0, 110.0, 110.0, 110.0)
    assert builder.forming("coinspot", "BTC/AUD", "5m") == bar("5m", 5, 110.0, 110.0, 110.0, 110.0)


def test_every_timeframe_is_built_by_default() -> None:
    builder = CandleBuilder()
    builder.add(tick(0, 100.0))

    assert builder.timeframes == tuple(TIMEFRAMES)
    assert {c.timeframe for c in builder.drain().changed} == set(TIMEFRAMES)


def test_an_unknown_timeframe_is_refused() -> None:
    with pytest.raises(ValueError, match="2m"):
        CandleBuilder(["1m", "2m"])


def test_a_tick_of_a_past_bucket_is_ignored() -> None:
    builder = CandleBuilder(["1m", "5m"])
    feed(builder, tick(10, 100.0), tick(70, 105.0))
    builder.drain()

    builder.add(tick(30, 1.0))  # minute 0 has closed; it is still inside the forming 5m bar

    assert builder.forming("coinspot", "BTC/AUD", "1m") == bar("1m", 1, 105.0, 105.0, 105.0, 105.0)
    assert builder.forming("coinspot", "BTC/AUD", "5m") == bar("5m", 0, 100.0, 105.0, 1.0, 105.0)
    updates = builder.drain()
    assert [c.timeframe for c in updates.changed] == ["5m"] and updates.closed == []


def test_a_late_tick_inside_the_bucket_widens_the_range_but_keeps_the_close() -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, tick(10, 100.0), tick(50, 103.0), tick(30, 90.0))

    assert builder.forming("coinspot", "BTC/AUD", "1m") == bar("1m", 0, 100.0, 103.0, 90.0, 103.0)


@pytest.mark.parametrize("price", [float("nan"), float("inf"), 0.0, -1.0])
def test_an_impossible_price_is_ignored(price: float) -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, tick(10, 100.0), tick(20, price))

    assert builder.forming("coinspot", "BTC/AUD", "1m") == bar("1m", 0, 100.0, 100.0, 100.0, 100.0)


def test_volume_sums_tick_volumes_and_counts_missing_ones_as_zero() -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, tick(1, 100.0, 0.5), tick(2, 101.0), tick(3, 102.0, 1.25), tick(61, 99.0, 2.0))

    closed, forming = builder.drain().closed, builder.forming("coinspot", "BTC/AUD", "1m")

    assert closed[0].volume == 1.75
    assert forming is not None and forming.volume == 2.0


def test_drain_returns_each_changed_bar_once_in_its_latest_state() -> None:
    builder = CandleBuilder(["1m"])
    feed(builder, tick(1, 100.0), tick(2, 101.0), tick(3, 5.0, symbol="ETH/AUD"))

    first = builder.drain()
    assert sorted((c.symbol, c.close) for c in first.changed) == [
        ("BTC/AUD", 101.0),
        ("ETH/AUD", 5.0),
    ]
    assert first.closed == []
    assert builder.drain().changed == []  # nothing moved since

    feed(builder, tick(30, 102.0), tick(65, 103.0), tick(70, 104.0))
    second = builder.drain()
    assert second.closed == [bar("1m", 0, 100.0, 102.0, 100.0, 102.0)]
    assert second.changed == [second.closed[0], bar("1m", 1, 103.0, 104.0, 103.0, 104.0)]
    assert builder.drain() == CandleUpdates([], [])


def test_seeding_at_restart_keeps_the_bar_begun_before_it() -> None:
    stored = bar("5m", 0, 100.0, 120.0, 90.0, 110.0, 4.0)
    builder = CandleBuilder(["5m"])
    builder.seed(stored)

    assert builder.drain().changed == []  # storage already holds it
    feed(builder, tick(200, 115.0, 1.0), tick(210, 85.0))

    assert builder.forming("coinspot", "BTC/AUD", "5m") == bar(
        "5m", 0, 100.0, 120.0, 85.0, 85.0, 5.0
    )
    builder.add(tick(300, 86.0))
    assert builder.drain().closed == [bar("5m", 0, 100.0, 120.0, 85.0, 85.0, 5.0)]


def test_seeding_after_the_first_ticks_of_the_same_bucket_merges() -> None:
    builder = CandleBuilder(["5m"])
    feed(builder, tick(200, 130.0, 1.0), tick(210, 95.0))
    builder.drain()

    builder.seed(bar("5m", 0, 100.0, 120.0, 90.0, 110.0, 4.0))

    merged = bar("5m", 0, 100.0, 130.0, 90.0, 95.0, 5.0)
    assert builder.forming("coinspot", "BTC/AUD", "5m") == merged
    assert builder.drain().changed == [merged]


def test_a_seeded_bar_older_than_the_forming_one_is_ignored() -> None:
    builder = CandleBuilder(["1m"])
    builder.add(tick(70, 100.0))
    builder.drain()

    builder.seed(bar("1m", 0, 1.0, 1.0, 1.0, 1.0, 9.0))

    assert builder.forming("coinspot", "BTC/AUD", "1m") == bar("1m", 1, 100.0, 100.0, 100.0, 100.0)
    assert builder.drain().changed == []


def test_seeding_a_timeframe_the_builder_does_not_make_is_refused() -> None:
    with pytest.raises(ValueError, match="1h"):
        CandleBuilder(["1m"]).seed(bar("1h", 0, 1.0, 1.0, 1.0, 1.0))


def test_forming_is_none_for_what_has_no_bar() -> None:
    builder = CandleBuilder(["1m"])
    builder.add(tick(1, 100.0))

    assert builder.forming("coinspot", "ETH/AUD", "1m") is None
    assert builder.forming("coinspot", "BTC/AUD", "5m") is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1_800), st.floats(0.01, 1e6), st.floats(0.0, 10.0)),
        min_size=1,
        max_size=60,
    )
)
def test_in_order_ticks_give_the_textbook_bars(rows: list[tuple[int, float, float]]) -> None:
    rows.sort(key=lambda row: row[0])
    builder = CandleBuilder(["1m", "5m"])
    collected: list[Candle] = []
    for at, price, volume in rows:
        builder.add(tick(at, price, volume))
        collected += builder.drain().closed
    collected += [c for tf in ("1m", "5m") if (c := builder.forming("coinspot", "BTC/AUD", tf))]

    for timeframe, step in (("1m", 60), ("5m", 300)):
        expected = {}
        for at, price, volume in rows:
            start = at // step * step
            o, h, lo, _, v = expected.get(start, (price, price, price, price, 0.0))
            expected[start] = (o, max(h, price), min(lo, price), price, v + volume)
        built = {
            int((c.ts - T0).total_seconds()): (c.open, c.high, c.low, c.close, c.volume)
            for c in collected
            if c.timeframe == timeframe
        }
        assert built.keys() == expected.keys()
        for start, values in expected.items():
            assert built[start] == pytest.approx(values)
