"""Ticks and order-book snapshots get a BRIN index on time, on PostgreSQL only.

Measured with ``tests/bench/tickers_layout.py`` on 31 days of ticks at the defaults (twelve
markets every 5 s: 6.4 million rows, what retention keeps), against the primary key alone and
against monthly partitions:

- a day counted by time alone, across markets: 414 ms on the primary key, 48 ms with BRIN,
  332 ms with partitions (one partition, still walked whole);
- the index costs 40 kB; the write-behind's batch, the explorer, quality and ledger stats read
  along the primary key and are the same within noise on all three (1.4–2.6 ms a batch,
  2–4 ms a page, 13–20 ms quality, 6–8 ms stats), except ledger stats on partitions: 408 ms,
  the planner's estimates then being per partition;
- ageing out a day, retention's batched delete along the key: 0.8–0.9 s a day, with or
  without BRIN; dropping a month's partition: 45 ms, but retention keeps days, not months, and
  partitions must be made ahead of the rows they take.

So BRIN, not partitions: the time index is nearly free, and partitions buy a faster drop that
retention's daily batches do not need. SQLite has no BRIN; its reads go along the key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("tickers", "order_book_snapshots")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.create_index(f"ix_{table}_ts", table, ["ts"], postgresql_using="brin")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.drop_index(f"ix_{table}_ts", table_name=table)
