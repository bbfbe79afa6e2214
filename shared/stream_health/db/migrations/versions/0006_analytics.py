"""Analytics streams: the orchestrator's jobs with their latest callback, and pending DOWNs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per job uid that a snapshot or a callback named; `doc` is null until the job's
    # snapshot arrives (the endpoint answers 404 until then).
    op.create_table(
        "analytics_jobs",
        sa.Column("job_uid", sa.Text(), primary_key=True),
        sa.Column("stream_uid", sa.Text(), nullable=True),
        sa.Column("doc", postgresql.JSON(), nullable=True),
        sa.Column("snapshot_ms", sa.BigInteger(), nullable=True),  # the snapshot's updated_at
        sa.Column("callback_status", sa.Integer(), nullable=True),
        sa.Column("callback_ms", sa.BigInteger(), nullable=True),  # the callback's received_at
    )
    # DOWN callbacks for a job not known yet: counted once its snapshot names the stream.
    op.create_table(
        "analytics_pending_downs",
        sa.Column("job_uid", sa.Text(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job_uid", "event_id"),
    )


def downgrade() -> None:
    op.drop_table("analytics_pending_downs")
    op.drop_table("analytics_jobs")
