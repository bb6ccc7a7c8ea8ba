"""The Lab: sessions, the tool results their reports cite, and what each said and called.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from ledgers.types import Money, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "lab_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("budget", Money(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("waiting", JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("unpriced_calls", sa.Integer(), nullable=False),
        sa.Column("spent", Money(), nullable=False),
        sa.Column("untraced", sa.Integer(), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("decision", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_sessions")),
    )
    op.create_index("ix_lab_sessions_updated_at", "lab_sessions", ["updated_at"])
    op.create_table(
        "lab_results",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("result_id", sa.String(length=16), nullable=False),
        sa.Column("tool", sa.String(length=32), nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "result_id", name=op.f("pk_lab_results")),
    )
    op.create_table(
        "lab_entries",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("node", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", JSON, nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "seq", name=op.f("pk_lab_entries")),
    )


def downgrade() -> None:
    op.drop_table("lab_entries")
    op.drop_table("lab_results")
    op.drop_index("ix_lab_sessions_updated_at", table_name="lab_sessions")
    op.drop_table("lab_sessions")
