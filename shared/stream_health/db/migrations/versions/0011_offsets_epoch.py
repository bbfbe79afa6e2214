"""An epoch on each partition's offsets row, moved by the writes that consume no records.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Every transaction that writes a stream partition's windows locks that partition's offsets
rows, and an owner's fence compares what it finds there with where its own last transaction
left them: anything else means another owner wrote meanwhile, and the owner's windows in
memory are stale. A batch moves the offsets, but a drain or a reclassification after a
change of conditions consumes no record and moved nothing, so a second owner's drain went
unnoticed and a batch prepared on the windows as they were before it overwrote it. Those
writes now add one to `epoch`, and the fence compares offset and epoch.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "consumer_offsets",
        sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("consumer_offsets", "epoch")
