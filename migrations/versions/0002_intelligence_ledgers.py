"""Glass, Human and Catalyst ledgers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ledgers.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "glass_metrics",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=48), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("source", "entity", "metric", "ts", name=op.f("pk_glass_metrics")),
    )
    op.create_table(
        "human_items",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("published", UTCDateTime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("currencies", JSON, nullable=False),
        sa.Column("votes", JSON, nullable=True),
        sa.CheckConstraint("score >= -1 AND score <= 1", name=op.f("ck_human_items_score_range")),
        sa.PrimaryKeyConstraint("source", "external_id", name=op.f("pk_human_items")),
    )
    op.create_index("ix_human_items_published", "human_items", ["published"])
    op.create_table(
        "mood_readings",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("source", "ts", name=op.f("pk_mood_readings")),
    )
    op.create_table(
        "catalyst_events",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("occurred", UTCDateTime(), nullable=False),
        sa.Column("impact", sa.Integer(), nullable=False),
        sa.Column("currencies", JSON, nullable=False),
        sa.CheckConstraint(
            "impact >= 1 AND impact <= 10", name=op.f("ck_catalyst_events_impact_range")
        ),
        sa.PrimaryKeyConstraint("source", "external_id", name=op.f("pk_catalyst_events")),
    )
    op.create_index("ix_catalyst_events_occurred", "catalyst_events", ["occurred"])


def downgrade() -> None:
    op.drop_index("ix_catalyst_events_occurred", table_name="catalyst_events")
    op.drop_table("catalyst_events")
    op.drop_table("mood_readings")
    op.drop_index("ix_human_items_published", table_name="human_items")
    op.drop_table("human_items")
    op.drop_table("glass_metrics")
