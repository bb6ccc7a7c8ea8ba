"""``omc db size`` and ``omc db vacuum`` underneath: rows and bytes per table, estimates said
to be estimates, and compaction that gives space back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert

from ledgers import sizes
from ledgers.database import Database
from ledgers.schema import Ticker

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def ticks(n: int, symbol: str = "BTC/AUD") -> list[dict]:
    return [
        {"venue": "coinspot", "symbol": symbol, "ts": T0 + timedelta(seconds=i), "last": 1.0}
        for i in range(n)
    ]


async def test_sizes_name_every_table_with_rows_and_bytes(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(insert(Ticker.__table__), ticks(500))
    found = {t.name: t for t in await sizes.table_sizes(database)}
    assert "alembic_version" not in found and not any(n.startswith("sqlite_") for n in found)
    assert {"tickers", "candles", "orders", "lab_sessions", "vault_keys"} <= set(found)
    assert found["tickers"].rows == 500 and not found["tickers"].estimated  # small: counted
    assert found["tickers"].bytes > found["vault_keys"].bytes > 0
    assert found["candles"].rows == 0


async def test_a_large_table_is_estimated_and_said_to_be(database: Database, monkeypatch) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(insert(Ticker.__table__), ticks(3000))
    await sizes.vacuum(database)  # ANALYZE: the database now has its own estimate
    monkeypatch.setattr(sizes, "COUNT_UNDER_BYTES", 1)  # every table is "large"
    found = {t.name: t for t in await sizes.table_sizes(database)}
    tickers = found["tickers"]
    assert tickers.estimated and abs(tickers.rows - 3000) <= 300


async def test_vacuum_gives_an_old_sqlite_file_its_space_back(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)  # made as files were before incremental auto-vacuum
    old.executescript("PRAGMA auto_vacuum = NONE; CREATE TABLE made_earlier (x);")
    old.close()
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.upgrade()
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar() == 0
        async with db.engine.begin() as conn:
            await conn.execute(insert(Ticker.__table__), ticks(20_000))
            await conn.execute(delete(Ticker.__table__))
        before, after = await sizes.vacuum(db)
        assert after < before / 4
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar() == 2
    finally:
        await db.dispose()
