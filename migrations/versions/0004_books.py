"""One book per market: orders, decisions, marks and deployments name their book.

Before this revision the simulated market and a venue's paper account shared one paper book,
so a sim order could stop the venue's book from loading. Every existing row is kept and given
the book it belongs to: an order's book is its mode and venue; a decision follows its order;
an equity mark belongs to the book that was trading when it was taken; a deployment to the
book its orders went to. Per-book switches in ``trading_state`` get per-book keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledgers.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BOOK = sa.String(length=48)

_orders = sa.table(
    "orders",
    sa.column("client_id", sa.String),
    sa.column("mode", sa.String),
    sa.column("venue", sa.String),
    sa.column("strategy", sa.String),
    sa.column("created_at", UTCDateTime()),
    sa.column("book", sa.String),
)
_decisions = sa.table(
    "risk_decisions",
    sa.column("id", sa.Integer),
    sa.column("mode", sa.String),
    sa.column("client_id", sa.String),
    sa.column("at", UTCDateTime()),
    sa.column("book", sa.String),
)
_marks = sa.table(
    "equity_marks",
    sa.column("mode", sa.String),
    sa.column("ts", UTCDateTime()),
    sa.column("book", sa.String),
)
_deployments = sa.table(
    "deployments",
    sa.column("name", sa.String),
    sa.column("book", sa.String),
)
_state = sa.table(
    "trading_state",
    sa.column("key", sa.String),
    sa.column("value", sa.JSON),
    sa.column("updated_at", UTCDateTime()),
)


def upgrade() -> None:
    # Fills refer to orders, so on SQLite the orders table is altered in place rather than
    # rebuilt: a NOT NULL column with a placeholder default, filled in below.
    op.add_column("orders", sa.Column("book", BOOK, nullable=False, server_default=""))
    for table in ("risk_decisions", "equity_marks", "deployments"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("book", BOOK, nullable=True))

    conn = op.get_bind()
    _assign_books(conn)

    if conn.dialect.name != "sqlite":  # SQLite cannot drop a default without a rebuild
        op.alter_column("orders", "book", existing_type=BOOK, server_default=None)
    op.drop_index("ix_orders_mode_state", table_name="orders")
    op.create_index("ix_orders_book_state", "orders", ["book", "state"], unique=False)
    with op.batch_alter_table("risk_decisions") as batch:
        batch.alter_column("book", existing_type=BOOK, nullable=False)
    with op.batch_alter_table("deployments") as batch:
        batch.alter_column("book", existing_type=BOOK, nullable=False)
        batch.drop_constraint("pk_deployments", type_="primary")
        batch.create_primary_key("pk_deployments", ["book", "name"])
    with op.batch_alter_table("equity_marks") as batch:
        batch.alter_column("book", existing_type=BOOK, nullable=False)
        batch.drop_constraint("pk_equity_marks", type_="primary")
        batch.create_primary_key("pk_equity_marks", ["book", "ts"])


def _assign_books(conn: sa.Connection) -> None:
    orders = list(
        conn.execute(
            sa.select(
                _orders.c.client_id,
                _orders.c.mode,
                _orders.c.venue,
                _orders.c.strategy,
                _orders.c.created_at,
            ).order_by(_orders.c.created_at, _orders.c.client_id)
        )
    )
    conn.execute(sa.update(_orders).values(book=_orders.c.mode + ":" + _orders.c.venue))
    by_client = {o.client_id: f"{o.mode}:{o.venue}" for o in orders}
    # Per mode, which book was trading when: the book of the newest order at or before a time.
    timeline: dict[str, tuple[list[datetime], list[str]]] = {}
    for o in orders:
        times, books = timeline.setdefault(o.mode, ([], []))
        times.append(o.created_at)
        books.append(f"{o.mode}:{o.venue}")

    def trading_at(mode: str, at: datetime) -> str:
        times, books = timeline.get(mode, ([], []))
        if not books:
            return f"{mode}:sim" if mode == "paper" else f"{mode}:unknown"
        i = bisect.bisect_right(times, at) - 1
        return books[max(i, 0)]

    decisions = conn.execute(
        sa.select(_decisions.c.id, _decisions.c.mode, _decisions.c.client_id, _decisions.c.at)
    )
    for d in list(decisions):
        book = by_client.get(d.client_id) or trading_at(d.mode, d.at)
        conn.execute(sa.update(_decisions).where(_decisions.c.id == d.id).values(book=book))

    marks = conn.execute(sa.select(_marks.c.mode, _marks.c.ts))
    for m in list(marks):
        conn.execute(
            sa.update(_marks)
            .where(_marks.c.mode == m.mode, _marks.c.ts == m.ts)
            .values(book=trading_at(m.mode, m.ts))
        )

    by_strategy: dict[str, str] = {}
    for o in orders:
        if o.strategy:
            by_strategy[o.strategy] = f"{o.mode}:{o.venue}"
    newest_paper = next((b for b in reversed(timeline.get("paper", ([], []))[1])), "paper:sim")
    for (name,) in list(conn.execute(sa.select(_deployments.c.name))):
        book = by_strategy.get(name, newest_paper)
        conn.execute(sa.update(_deployments).where(_deployments.c.name == name).values(book=book))

    _split_state(conn, timeline)


def _split_state(
    conn: sa.Connection, timeline: dict[str, tuple[list[datetime], list[str]]]
) -> None:
    """``paper_account`` → ``<book>/account`` for every book of that mode, and so on."""
    rows = {r.key: r for r in conn.execute(sa.select(_state))}
    for mode in ("paper", "live"):
        books = sorted(set(timeline.get(mode, ([], []))[1])) or (
            ["paper:sim"] if mode == "paper" else []
        )
        newest = timeline[mode][1][-1] if timeline.get(mode) else None
        moves: list[tuple[str, list[str]]] = [(f"{mode}_account", books)]
        moves.append((f"{mode}_day_start", [newest] if newest else []))
        moves.append((f"{mode}_armed", [newest] if newest else []))
        for old, targets in moves:
            row: Any = rows.get(old)
            if row is None:
                continue
            for book in targets:
                conn.execute(
                    sa.insert(_state).values(
                        key=f"{book}/{old.split('_', 1)[1]}",
                        value=row.value,
                        updated_at=row.updated_at,
                    )
                )
            # With no book to carry it to (arming without a live order), the switch goes:
            # a live book starts disarmed, which is the safe side.
            conn.execute(sa.delete(_state).where(_state.c.key == old))


def downgrade() -> None:
    with op.batch_alter_table("equity_marks") as batch:
        batch.drop_constraint("pk_equity_marks", type_="primary")
        batch.create_primary_key("pk_equity_marks", ["mode", "ts"])
        batch.drop_column("book")
    op.drop_index("ix_orders_book_state", table_name="orders")
    op.create_index("ix_orders_mode_state", "orders", ["mode", "state"], unique=False)
    op.drop_column("orders", "book")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_constraint("pk_deployments", type_="primary")
        batch.create_primary_key("pk_deployments", ["name"])
        batch.drop_column("book")
    with op.batch_alter_table("risk_decisions") as batch:
        batch.drop_column("book")
