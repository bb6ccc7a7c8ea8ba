"""Engines attached to a database: the owner and its standbys, and where each listens.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledgers.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_members",
        sa.Column("member", sa.String(length=160), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("started", sa.String(length=40), nullable=False),
        sa.Column("seen", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("member", name=op.f("pk_engine_members")),
    )


def downgrade() -> None:
    op.drop_table("engine_members")
