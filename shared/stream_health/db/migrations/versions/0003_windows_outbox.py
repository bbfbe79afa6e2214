"""Stream windows (the owner's state per stream), the outbox, and server activity.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_windows",
        sa.Column("uid", sa.Text(), primary_key=True),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("stamps", sa.LargeBinary(), nullable=False),
        sa.Column("conditions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("drain_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_reconnect_ms", sa.BigInteger(), nullable=True),
        sa.Column("server_state", sa.Text(), nullable=True),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("deleted_ms", sa.BigInteger(), nullable=False),
        sa.Column("reconnect_attempt", sa.BigInteger(), nullable=True),
        sa.Column("reconnect_total", sa.BigInteger(), nullable=True),
        sa.Column("versions", sa.LargeBinary(), nullable=False),
        sa.Column("stream_id", sa.BigInteger(), nullable=True),
        sa.Column("camera_id", sa.BigInteger(), nullable=True),
        sa.Column("server_id", sa.BigInteger(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("increased", sa.Boolean(), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
    )
    # The drain timer reloads, per owned partition, the streams that will leave a condition.
    op.create_index(
        "stream_windows_drains",
        "stream_windows",
        ["partition", "drain_at_ms"],
        postgresql_where=sa.text("drain_at_ms IS NOT NULL"),
    )
    op.create_index(
        "stream_windows_in_conditions",
        "stream_windows",
        ["conditions"],
        postgresql_using="gin",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "server_activity",
        sa.Column("domain", sa.Text(), primary_key=True),
        sa.Column("last_event_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_event_type", sa.Text(), nullable=False),
        sa.Column("extra", postgresql.JSONB(), nullable=True),  # the latest pulse's statistics
    )


def downgrade() -> None:
    op.drop_table("server_activity")
    op.drop_table("outbox")
    op.drop_index("stream_windows_in_conditions", table_name="stream_windows")
    op.drop_index("stream_windows_drains", table_name="stream_windows")
    op.drop_table("stream_windows")
