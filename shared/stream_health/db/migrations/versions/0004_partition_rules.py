"""Conditions per partition (to reclassify on a change); streams per condition, kept live.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partition_rules",
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    # Maintained by the batch transactions from each change's entered/left: no table scan.
    op.create_table(
        "condition_counts",
        sa.Column("condition", sa.Text(), primary_key=True),
        sa.Column("streams", sa.BigInteger(), nullable=False),
    )
    # Start from the streams already stored, so the counters are right from the upgrade on.
    op.execute(
        "INSERT INTO condition_counts (condition, streams) "
        "SELECT c, count(*) FROM stream_windows, unnest(conditions) AS c GROUP BY c"
    )


def downgrade() -> None:
    op.drop_table("condition_counts")
    op.drop_table("partition_rules")
