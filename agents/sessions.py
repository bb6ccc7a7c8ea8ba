"""Lab sessions in the engine's database: the session, its tool results, what it said and
every model call it made.

Writes are idempotent where a resumed run repeats itself: a result is keyed by its id, and a
step already told (same node, same words) is not told twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from ledgers.database import Database
from ledgers.schema import LabEntryRow, LabResultRow, LabSessionRow

_SESSIONS = LabSessionRow.__table__
_RESULTS = LabResultRow.__table__
_ENTRIES = LabEntryRow.__table__

STATUSES = ("running", "waiting", "stopped", "done", "cancelled", "failed")


def _insert(db: Database, table: Any) -> Any:
    if db.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def plain(value: Any) -> Any:
    """JSON-safe: Decimals as exact strings, times as ISO, tuples as lists."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class SessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, session_id: str, goal: str, model: str | None, budget: Decimal | None, at: datetime
    ) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                _SESSIONS.insert().values(
                    id=session_id,
                    goal=goal,
                    model=model,
                    budget=budget,
                    status="running",
                    created_at=at,
                    updated_at=at,
                    calls=0,
                    prompt_tokens=0,
                    completion_tokens=0,
                    unpriced_calls=0,
                    spent=Decimal(0),
                )
            )

    async def update(self, session_id: str, at: datetime, **values: Any) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(_SESSIONS)
                .where(_SESSIONS.c.id == session_id)
                .values(updated_at=at, **values)
            )

    async def get(self, session_id: str) -> Mapping[str, Any] | None:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(select(_SESSIONS).where(_SESSIONS.c.id == session_id))
            ).first()
        return dict(row._mapping) if row else None

    async def find(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix`` (a user types the first few characters)."""
        async with self.db.engine.connect() as conn:
            query = select(_SESSIONS.c.id).where(_SESSIONS.c.id.startswith(prefix)).limit(5)
            return [r[0] for r in await conn.execute(query)]

    async def sessions(self, limit: int = 50) -> list[Mapping[str, Any]]:
        query = select(_SESSIONS).order_by(_SESSIONS.c.updated_at.desc()).limit(limit)
        async with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query)]

    async def add_result(
        self, session_id: str, result_id: str, tool: str, args: Any, result: Any, at: datetime
    ) -> None:
        stmt = _insert(self.db, _RESULTS).values(
            session_id=session_id,
            result_id=result_id,
            tool=tool,
            args=plain(args),
            result=plain(result),
            at=at,
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(
                stmt.on_conflict_do_nothing(index_elements=["session_id", "result_id"])
            )

    async def results(self, session_id: str) -> dict[str, dict[str, Any]]:
        query = select(_RESULTS).where(_RESULTS.c.session_id == session_id)
        async with self.db.engine.connect() as conn:
            rows = list(await conn.execute(query))
        rows.sort(key=lambda r: int(r.result_id[1:]))
        return {r.result_id: {"tool": r.tool, "args": r.args, "result": r.result} for r in rows}

    async def add_entry(
        self,
        session_id: str,
        kind: str,
        node: str,
        text: str,
        at: datetime,
        data: Any = None,
    ) -> int | None:
        """Append what the session said (``step``) or a model call (``call``); a step already
        told is not told again. Returns its number, or None when it was already there."""
        async with self.db.engine.begin() as conn:
            if kind == "step":
                same = select(_ENTRIES.c.seq).where(
                    _ENTRIES.c.session_id == session_id,
                    _ENTRIES.c.kind == kind,
                    _ENTRIES.c.node == node,
                    _ENTRIES.c.text == text,
                )
                if (await conn.execute(same)).first() is not None:
                    return None
            last = select(func.max(_ENTRIES.c.seq)).where(_ENTRIES.c.session_id == session_id)
            seq = int((await conn.execute(last)).scalar() or 0) + 1
            await conn.execute(
                _ENTRIES.insert().values(
                    session_id=session_id,
                    seq=seq,
                    kind=kind,
                    node=node,
                    text=text,
                    data=plain(data) if data is not None else None,
                    at=at,
                )
            )
        return seq

    async def entries(self, session_id: str, kind: str | None = None) -> list[Mapping[str, Any]]:
        query = select(_ENTRIES).where(_ENTRIES.c.session_id == session_id)
        if kind is not None:
            query = query.where(_ENTRIES.c.kind == kind)
        async with self.db.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query.order_by(_ENTRIES.c.seq))]
