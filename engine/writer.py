"""Write-behind buffering: collectors hand rows over at once; a job flushes them in batches."""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledgers.market import BookSnapshot, Candle, Instrument, JobRunRecord, Tick

if TYPE_CHECKING:
    from ledgers.store import LedgerStore

log = logging.getLogger("omc.writer")

# A database that stays unreachable must not eat all memory: past this many buffered ticks the
# oldest are dropped (ticks are the one high-volume, low-value kind; candles keep their state).
MAX_BUFFERED_TICKS = 500_000


class WriteBehind:
    def __init__(self) -> None:
        self.store: LedgerStore | None = None  # set once the database is open and migrated
        self._ticks: deque[Tick] = deque()
        self._candles: dict[tuple[str, str, str, datetime], Candle] = {}
        self._books: list[BookSnapshot] = []
        self._runs: list[JobRunRecord] = []
        self._instruments: tuple[list[Instrument], datetime] | None = None
        self.dropped_ticks = 0
        self.written = 0

    def add_ticks(self, ticks: list[Tick]) -> None:
        self._ticks.extend(ticks)
        overflow = len(self._ticks) - MAX_BUFFERED_TICKS
        if overflow > 0:
            for _ in range(overflow):
                self._ticks.popleft()
            self.dropped_ticks += overflow

    def add_candles(self, candles: list[Candle]) -> None:
        for c in candles:
            self._candles[(c.venue, c.symbol, c.timeframe, c.ts)] = c

    def add_book(self, book: BookSnapshot) -> None:
        self._books.append(book)

    def add_job_run(self, run: JobRunRecord) -> None:
        self._runs.append(run)

    def set_instruments(self, instruments: list[Instrument], at: datetime) -> None:
        self._instruments = (instruments, at)

    @property
    def pending(self) -> int:
        return len(self._ticks) + len(self._candles) + len(self._books) + len(self._runs)

    async def flush(self) -> int:
        """Write everything buffered; on failure the rows stay buffered for the next flush."""
        store = self.store
        if store is None:
            return 0
        rows = 0
        if self._instruments is not None:
            instruments, at = self._instruments
            rows += await store.upsert_instruments(instruments, at)
            self._instruments = None
        rows += await self._take(store.upsert_ticks, self._ticks)
        if self._candles:
            batch = list(self._candles.values())
            self._candles = {}
            try:
                rows += await store.upsert_candles(batch)
            except BaseException:
                for c in batch:  # newer states that arrived meanwhile win
                    self._candles.setdefault((c.venue, c.symbol, c.timeframe, c.ts), c)
                raise
        rows += await self._take(store.upsert_books, self._books)
        rows += await self._take(store.record_job_runs, self._runs)
        self.written += rows
        return rows

    @staticmethod
    async def _take(write: Any, buffer: deque[Any] | list[Any]) -> int:
        if not buffer:
            return 0
        batch = list(buffer)
        buffer.clear()
        try:
            return int(await write(batch))
        except BaseException:
            if isinstance(buffer, deque):
                buffer.extendleft(reversed(batch))
            else:
                buffer[:0] = batch
            raise
