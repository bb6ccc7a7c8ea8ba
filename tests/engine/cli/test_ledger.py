"""omc ledger, export, quality and db: what they print and their exit codes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledgers.database import Database
from ledgers.market import Candle
from ledgers.migrate import head_revision
from ledgers.store import LedgerStore
from tests.engine.cli.shell import run

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def seed(db_url: str) -> None:
    async def go() -> None:
        db = Database(db_url)
        await db.upgrade()
        bars = [
            Candle(
                "sim",
                "BTC/AUD",
                "1m",
                T0 + timedelta(minutes=i),
                100 + i,
                101 + i,
                99 + i,
                100.5 + i,
                2.0,
            )
            for i in range(10)
        ]
        await LedgerStore(db).upsert_candles(bars)
        await db.dispose()

    asyncio.run(go())


def test_ledger_stats_json(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url)
    code, out, _ = run(capsys, "--db", db_url, "ledger", "stats", "--json")
    assert code == 0
    stats = {row["table"]: row for row in json.loads(out)}
    assert stats["candles"]["rows"] == 10
    assert datetime.fromisoformat(stats["candles"]["newest"]) == T0 + timedelta(minutes=9)
    assert stats["tickers"] == {"table": "tickers", "rows": 0, "estimated": False, "newest": None}


def test_ledger_stats_table(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url)
    code, out, _ = run(capsys, "--db", db_url, "ledger", "stats")
    assert code == 0 and "candles" in out and "2026-11-20 00:09:00" in out


def test_ledger_stats_mark_a_large_tables_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'omc.db'}"
    seed(db_url)
    monkeypatch.setattr("ledgers.counts.EXACT_BELOW", 5)  # ten candles are "large"
    code, out, _ = run(capsys, "--db", db_url, "ledger", "stats", "--json")
    stats = {row["table"]: row for row in json.loads(out)}
    assert code == 0 and stats["candles"]["rows"] == 10 and stats["candles"]["estimated"]
    code, out, _ = run(capsys, "--db", db_url, "ledger", "stats")
    assert code == 0 and "~10" in out and "~ marks the database's own estimate" in out


def test_export_candles_csv(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url)
    code, out, _ = run(
        capsys,
        "--db",
        db_url,
        "export",
        "candles",
        "--symbol",
        "btc/aud",
        "--timeframe",
        "1m",
        "--format",
        "csv",
        "--since",
        "2026-11-20T00:05",
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["ts"] for r in rows] == [
        (T0 + timedelta(minutes=i)).isoformat() for i in range(5, 10)
    ]
    assert float(rows[0]["open"]) == 105 and rows[0]["symbol"] == "BTC/AUD"


def test_export_to_file_as_jsonl(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(db_url)
    target = tmp_path / "out.jsonl"
    code, _, err = run(
        capsys,
        "--db",
        db_url,
        "export",
        "candles",
        "--symbol",
        "BTC/AUD",
        "--format",
        "jsonl",
        "-o",
        str(target),
    )
    assert code == 0 and "wrote 10 candles" in err
    lines = [json.loads(x) for x in target.read_text().splitlines()]
    assert len(lines) == 10 and lines[-1]["close"] == 109.5


def test_export_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    code, _, err = run(
        capsys, "--db", db, "export", "candles", "--symbol", "BTC/AUD", "--timeframe", "2m"
    )
    assert code == 2 and "unknown timeframe '2m'" in err
    code, _, err = run(
        capsys, "--db", db, "export", "candles", "--symbol", "BTC/AUD", "--since", "yesterday"
    )
    assert code == 2 and "--since 'yesterday'" in err


def test_db_upgrade_and_current(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--db", db_url, "db", "current", "--json")
    assert code == 0 and json.loads(out)["current"] is None
    code, out, _ = run(capsys, "--db", db_url, "db", "upgrade")
    assert code == 0 and f"revision {head_revision()}" in out
    code, out, _ = run(capsys, "--db", db_url, "db", "current", "--json")
    info = json.loads(out)
    assert info["up_to_date"] is True and info["current"] == info["head"]


def test_bad_db_flag_exits_2_with_the_accepted_forms(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", "mongodb://x", "ledger", "stats")
    assert code == 2 and "sqlite:///PATH" in err and "postgresql://" in err


def test_unreachable_database_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", "postgresql://nobody@127.0.0.1:1/none", "ledger", "stats")
    assert code == 1 and err.startswith("omc: ") and "Traceback" not in err


def test_quality_json_and_exit_code(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ledgers.intel import CatalystEvent, Collected, GlassMetric, HumanItem
    from ledgers.market import Tick

    async def go() -> None:
        db = Database(db_url)
        await db.upgrade()
        now = datetime.now(UTC)
        store = LedgerStore(db)
        await store.upsert_ticks(
            [
                Tick("sim", "BTC/AUD", now - timedelta(seconds=s), 100.0, 99.0, 101.0)
                for s in range(5)
            ]
        )
        await store.write_collected(
            Collected(
                glass=(GlassMetric("sim", "simswap", "tvl_usd", now, 1e9),),
                human=(
                    HumanItem(
                        "sim:news", "n1", "Bitcoin up", "https://sim/n1", now, 0.4, "body", ("BTC",)
                    ),
                ),
                catalysts=(
                    CatalystEvent(
                        "sim", "c1", "listing", "Listing", "https://sim/c1", now, 5, ("BTC",)
                    ),
                ),
            )
        )
        await db.dispose()

    asyncio.run(go())
    code, out, _ = run(capsys, "--sim", "--db", db_url, "quality", "--json")
    report = json.loads(out)
    assert code == 0 and report["alert"] is False
    assert report["ledgers"] == {"exchange": 1.0, "glass": 1.0, "human": 1.0, "catalyst": 1.0}
    assert {(s["ledger"], s["source"]) for s in report["sources"]} >= {
        ("exchange", "sim"),
        ("human", "sim:news"),
    }
    code, out, _ = run(capsys, "--sim", "--db", db_url, "quality")
    assert code == 0 and "overall 1.00 (ok" in out
    # Judged as the live engine, every configured source that wrote nothing counts against it.
    code, out, _ = run(capsys, "--db", db_url, "quality", "--json")
    report = json.loads(out)
    assert code == 1 and report["alert"] is True
    silent = {s["source"] for s in report["sources"] if s["rows"] == 0}
    assert {"coinspot", "defillama", "sec"} <= silent


def test_quality_alerts_with_exit_1_when_data_is_bad(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ledgers.market import Tick

    async def go() -> None:
        db = Database(db_url)
        await db.upgrade()
        old = datetime.now(UTC) - timedelta(hours=20)
        await LedgerStore(db).upsert_ticks(
            [Tick("coinspot", "BTC/AUD", old, 100.0, 101.0, 99.0)]
        )  # stale and crossed
        await db.dispose()

    asyncio.run(go())
    code, out, _ = run(capsys, "--db", db_url, "quality")
    assert code == 1 and "ALERT" in out


def seed_intel(db_url: str) -> None:
    from ledgers.intel import CatalystEvent, Collected, HumanItem

    async def go() -> None:
        db = Database(db_url)
        await db.upgrade()
        await LedgerStore(db).write_collected(
            Collected(
                human=(
                    HumanItem(
                        "rss:coindesk", "a", "Bitcoin rallies", "https://x/a", T0, 0.6, "", ("BTC",)
                    ),
                    HumanItem(
                        "rss:coindesk",
                        "b",
                        "Solana outage",
                        "https://x/b",
                        T0 + timedelta(hours=1),
                        -0.5,
                        "",
                        ("SOL",),
                    ),
                ),
                catalysts=(
                    CatalystEvent(
                        "coinspot",
                        "9",
                        "listing",
                        "CoinSpot lists SOL",
                        "https://c/9",
                        T0,
                        7,
                        ("SOL",),
                    ),
                ),
            )
        )
        await db.dispose()

    asyncio.run(go())


def test_export_a_ledger_as_jsonl_filtered_by_symbol(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_intel(db_url)
    code, out, _ = run(
        capsys, "--db", db_url, "export", "human", "--format", "jsonl", "--symbol", "SOL/AUD"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["external_id"] for r in rows] == ["b"]
    assert rows[0]["currencies"] == ["SOL"] and rows[0]["published"].startswith("2026-11-20T01:00")


def test_export_a_table_as_csv_with_search_and_since(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_intel(db_url)
    code, out, _ = run(
        capsys,
        "--db",
        db_url,
        "export",
        "catalyst_events",
        "--search",
        "lists",
        "--since",
        "2026-11-19",
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["title"] for r in rows] == ["CoinSpot lists SOL"]
    assert json.loads(rows[0]["currencies"]) == ["SOL"]
    code, out, err = run(capsys, "--db", db_url, "export", "human", "--since", "2027-01-01")
    assert code == 0 and "no human_items rows match" in err


def test_export_candles_still_needs_a_symbol(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "export", "candles")
    assert code == 2 and "--symbol" in err
