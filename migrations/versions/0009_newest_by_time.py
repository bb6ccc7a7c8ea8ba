"""Glass metrics and equity marks indexed on time: their newest row is one seek at any size.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_glass_metrics_ts", "glass_metrics", ["ts"])
    op.create_index("ix_equity_marks_ts", "equity_marks", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_equity_marks_ts", table_name="equity_marks")
    op.drop_index("ix_glass_metrics_ts", table_name="glass_metrics")
