"""A sequence per book: orders and fills are numbered as they are stored, and replay follows it.

Existing rows are numbered in the order the book was replayed until now (timestamps, then
ids), which keeps every book that loaded loading the same way. A book whose timestamps ran
backwards stays as it was; ``omc book check`` names it and ``omc book repair`` re-sequences
it by the order its risk decisions were recorded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledgers.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_orders = sa.table(
    "orders",
    sa.column("client_id", sa.String),
    sa.column("book", sa.String),
    sa.column("created_at", UTCDateTime()),
    sa.column("seq", sa.BigInteger),
)
_fills = sa.table(
    "fills",
    sa.column("fill_id", sa.String),
    sa.column("client_id", sa.String),
    sa.column("ts", UTCDateTime()),
    sa.column("book", sa.String),
    sa.column("seq", sa.BigInteger),
)
_books = sa.table("books", sa.column("book", sa.String), sa.column("seq", sa.BigInteger))


def upgrade() -> None:
    op.create_table(
        "books",
        sa.Column("book", sa.String(length=48), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("book", name=op.f("pk_books")),
    )
    # Fills refer to orders: both are altered in place (SQLite would otherwise rebuild them).
    op.add_column("orders", sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("fills", sa.Column("book", sa.String(48), nullable=False, server_default=""))
    op.add_column("fills", sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))

    conn = op.get_bind()
    _number(conn)

    if conn.dialect.name != "sqlite":  # SQLite cannot drop a default without a rebuild
        op.alter_column("orders", "seq", existing_type=sa.BigInteger(), server_default=None)
        op.alter_column("fills", "book", existing_type=sa.String(48), server_default=None)
        op.alter_column("fills", "seq", existing_type=sa.BigInteger(), server_default=None)
    op.create_index("ix_orders_book_seq", "orders", ["book", "seq"], unique=True)
    op.create_index("ix_fills_book_seq", "fills", ["book", "seq"], unique=True)


def _number(conn: sa.Connection) -> None:
    orders = list(
        conn.execute(sa.select(_orders.c.client_id, _orders.c.book, _orders.c.created_at))
    )
    book_of = {o.client_id: o.book for o in orders}
    fills = list(conn.execute(sa.select(_fills.c.fill_id, _fills.c.client_id, _fills.c.ts)))
    # One timeline per book: an order before the fills it made, in the old replay order.
    events: dict[str, list[tuple[object, int, str, str]]] = {}
    for o in orders:
        events.setdefault(o.book, []).append((o.created_at, 0, o.client_id, "order"))
    for f in fills:
        events.setdefault(book_of[f.client_id], []).append((f.ts, 1, f.fill_id, "fill"))
    for book, timeline in events.items():
        timeline.sort(key=lambda e: (e[0], e[1], e[2]))
        for seq, (_, _, key, kind) in enumerate(timeline, start=1):
            if kind == "order":
                conn.execute(sa.update(_orders).where(_orders.c.client_id == key).values(seq=seq))
            else:
                conn.execute(
                    sa.update(_fills).where(_fills.c.fill_id == key).values(seq=seq, book=book)
                )
        conn.execute(sa.insert(_books).values(book=book, seq=len(timeline)))


def downgrade() -> None:
    op.drop_index("ix_fills_book_seq", table_name="fills")
    op.drop_index("ix_orders_book_seq", table_name="orders")
    op.drop_column("fills", "seq")
    op.drop_column("fills", "book")
    op.drop_column("orders", "seq")
    op.drop_table("books")
