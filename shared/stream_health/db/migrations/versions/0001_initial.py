"""Initial schema: consumer offsets and consumed-record counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.Text(), primary_key=True),
        sa.Column("topic", sa.Text(), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "consumed_counts",
        sa.Column("topic", sa.Text(), primary_key=True),
        sa.Column("record_type", sa.Text(), primary_key=True),
        sa.Column("records", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consumed_counts")
    op.drop_table("consumer_offsets")
