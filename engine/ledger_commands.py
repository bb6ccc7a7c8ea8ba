"""The EngineAPI's ledger queries for an in-process engine (mixed into ``LocalEngine``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from engine import views
from engine.api import CatalystView, GlassView, HumanView, LedgerPage, MoodView, TableStats

if TYPE_CHECKING:
    from engine.market import MarketFeed
    from ledgers.clock import Clock
    from ledgers.database import Database


class LedgerCommands:
    db: Database | None
    clock: Clock
    feed: MarketFeed
    _ready: asyncio.Event

    async def ledger_stats(self) -> list[TableStats]:
        await self._ready.wait()
        from ledgers import queries

        assert self.db is not None
        return [
            TableStats(s.table, s.rows, s.newest, s.estimated)
            for s in await queries.ledger_stats(self.db)
        ]

    async def browse(
        self,
        table: str,
        *,
        search: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
        simulated: bool | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> LedgerPage:
        db = await self._db()
        from ledgers import queries

        columns, rows = await queries.browse(
            db,
            table,
            search=search,
            symbol=symbol,
            since=since,
            simulated=simulated,
            limit=limit,
            offset=offset,
        )
        return LedgerPage(table, tuple(columns), tuple(rows))

    async def export(
        self,
        table: str,
        path: str,
        *,
        fmt: str = "csv",
        search: str | None = None,
        symbol: str | None = None,
        since: datetime | None = None,
    ) -> int:
        db = await self._db()
        from engine.exports import write_table
        from ledgers import queries

        queries.table_columns(table)  # refuse an unknown table before creating the file
        with open(path, "w", newline="") as out:  # noqa: ASYNC230 - a local file, flushed once
            return await write_table(db, table, out, fmt, search=search, symbol=symbol, since=since)

    # The panes show the rows of the data the desk is on: real sources on live data, the
    # simulator's on the simulated market; never the two mixed.

    async def catalysts(self, symbol: str | None = None, limit: int = 50) -> list[CatalystView]:
        page = await self.browse(
            "catalyst_events", symbol=symbol, simulated=self._simulated(), limit=limit
        )
        return views.catalysts(page)

    async def human_items(self, symbol: str | None = None, limit: int = 30) -> list[HumanView]:
        page = await self.browse(
            "human_items", symbol=symbol, simulated=self._simulated(), limit=limit
        )
        return views.human_items(page)

    async def mood(self) -> MoodView | None:
        return await views.mood(await self._db(), simulated=self._simulated())

    async def glass(self, limit: int = 8) -> GlassView:
        db = await self._db()
        return await views.glass(db, self.clock.now(), limit, simulated=self._simulated())

    def _simulated(self) -> bool:
        return bool(self.feed.source.simulated)

    async def _db(self) -> Database:
        await self._ready.wait()
        assert self.db is not None
        return self.db
