"""Trading: orders, fills, the risk audit and state, equity marks, backtests, deployments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ledgers.types import Money, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "backtests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("gate_passed", sa.Boolean(), nullable=False),
        sa.Column("gate_reasons", JSON, nullable=False),
        sa.Column("promoted_at", UTCDateTime(), nullable=True),
        sa.Column("promoted_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtests")),
    )
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.create_index("ix_backtests_ran_at", ["ran_at"], unique=False)

    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("allocation", Money(), nullable=False),
        sa.Column("backtest_id", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deployed_at", UTCDateTime(), nullable=False),
        sa.Column("last_bar", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )
    op.create_table(
        "equity_marks",
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("quote", sa.String(length=20), nullable=False),
        sa.Column("equity", Money(), nullable=False),
        sa.Column("cash", Money(), nullable=False),
        sa.Column("market_value", Money(), nullable=False),
        sa.Column("unrealized", Money(), nullable=False),
        sa.Column("realized", Money(), nullable=False),
        sa.PrimaryKeyConstraint("mode", "ts", name=op.f("pk_equity_marks")),
    )
    op.create_table(
        "orders",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("quantity", Money(), nullable=False),
        sa.Column("limit_price", Money(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("filled", Money(), nullable=False),
        sa.Column("cost", Money(), nullable=False),
        sa.Column("fees", Money(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("venue_order_id", sa.String(length=128), nullable=True),
        sa.Column("strategy", sa.String(length=128), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_orders_mode_state", ["mode", "state"], unique=False)

    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", Money(), nullable=False),
        sa.Column("price", Money(), nullable=True),
        sa.Column("notional", Money(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_decisions")),
    )
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_risk_decisions_at", ["at"], unique=False)

    op.create_table(
        "trading_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_trading_state")),
    )
    op.create_table(
        "fills",
        sa.Column("fill_id", sa.String(length=160), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("venue", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", Money(), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("fee", Money(), nullable=False),
        sa.Column("liquidity", sa.String(length=8), nullable=False),
        sa.Column("slippage_bps", Money(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["orders.client_id"], name=op.f("fk_fills_client_id_orders")
        ),
        sa.PrimaryKeyConstraint("fill_id", name=op.f("pk_fills")),
    )
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index("ix_fills_client_id", ["client_id"], unique=False)
        batch_op.create_index("ix_fills_ts", ["ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index("ix_fills_ts")
        batch_op.drop_index("ix_fills_client_id")

    op.drop_table("fills")
    op.drop_table("trading_state")
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_decisions_at")

    op.drop_table("risk_decisions")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_mode_state")
        batch_op.drop_index("ix_orders_created_at")

    op.drop_table("orders")
    op.drop_table("equity_marks")
    op.drop_table("deployments")
    with op.batch_alter_table("backtests", schema=None) as batch_op:
        batch_op.drop_index("ix_backtests_ran_at")

    op.drop_table("backtests")
