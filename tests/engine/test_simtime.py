"""A sped-up simulated market continues its time across restarts, per database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine import config
from engine.local import LocalEngine
from engine.simtime import remember, resume_point


def test_the_point_is_kept_per_database() -> None:
    later = datetime(2030, 1, 1, tzinfo=UTC)
    remember("sqlite:///a.db", later)
    remember("sqlite:///b.db", later + timedelta(days=1))
    assert resume_point("sqlite:///a.db") == later
    assert resume_point("sqlite:///b.db") == later + timedelta(days=1)
    assert resume_point("sqlite:///c.db") is None


def test_a_damaged_file_is_a_fresh_start() -> None:
    config.data_dir().mkdir(parents=True, exist_ok=True)
    (config.data_dir() / "sim-time.json").write_text("{not json")
    assert resume_point("sqlite:///a.db") is None
    remember("sqlite:///a.db", datetime(2030, 1, 1, tzinfo=UTC))
    assert resume_point("sqlite:///a.db") == datetime(2030, 1, 1, tzinfo=UTC)


async def test_a_restarted_fast_market_continues_where_it_stopped(tmp_path: Path) -> None:
    settings = config.load(
        tmp_path / "none.toml",
        sim={"enabled": True, "speed": 3600},
        database={"url": f"sqlite:///{tmp_path / 'omc.db'}"},
    )
    first = LocalEngine(settings, schedule=False)
    await first.start()
    await first.wait_ready()
    reached = first.now()
    await first.stop()
    assert reached > datetime.now(UTC) + timedelta(minutes=5)  # an hour a second runs ahead

    again = LocalEngine(settings, schedule=False)
    await again.start()
    try:
        assert again.now() >= reached
    finally:
        await again.stop()


def test_remembered_time_never_goes_back() -> None:
    later = datetime(2030, 1, 1, tzinfo=UTC)
    remember("sqlite:///a.db", later)
    remember("sqlite:///a.db", later - timedelta(minutes=50))  # a process that lagged behind
    assert resume_point("sqlite:///a.db") == later


def test_processes_remembering_at_once_never_collide_on_a_scratch_file() -> None:
    import multiprocessing

    start = datetime(2030, 1, 1, tzinfo=UTC)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        pool.starmap(_remember_many, [(str(config.data_dir()), start, i) for i in range(4)])
    assert resume_point("sqlite:///a.db") == start + timedelta(seconds=4 * 50 - 1)
    leftovers = [p.name for p in config.data_dir().iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def _remember_many(data: str, start: datetime, worker: int) -> None:
    import os

    os.environ["XDG_DATA_HOME"] = str(Path(data).parent)
    for i in range(50):
        remember("sqlite:///a.db", start + timedelta(seconds=worker * 50 + i))
