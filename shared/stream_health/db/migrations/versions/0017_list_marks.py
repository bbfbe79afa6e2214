"""List flushes mark their partitions listed, not every window they listed.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

Since 0007 a batch stored each window it changed with `list_dirty` set, and the owner's list
flush cleared the flag of every window it listed: one more row version of `stream_windows` per
listed window (in the worker benchmark's final flush, 99k of them: 1.2-1.6 s of PostgreSQL,
under the lock the batches wait on), and as many again in every flush of a live worker.

Now every statement that stores windows numbers them (`written`, the next value of the
sequence `stream_windows_written`), and a flush takes a number from the same sequence with
its windows: once its rows are written, it records per partition that the list is current
for every window numbered up to that (`list_marks.listed_through`, one row per partition). A
window is behind its list rows while its number is above its partition's mark. A window
stored after the flush took its windows has a higher number: still behind, as the flag was.

The upgrade carries the flags over: flagged windows get number 1, the others 0, and no
partition has a mark yet (0), so exactly the flagged ones are behind; the sequence then
starts at 2.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE stream_windows_written START 2")
    # Not indexed, like the flag: rewriting it keeps a window's update HOT.
    op.add_column(
        "stream_windows",
        sa.Column("written", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE stream_windows SET written = 1 WHERE list_dirty")
    op.drop_column("stream_windows", "list_dirty")
    op.create_table(
        "list_marks",
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("listed_through", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.add_column(
        "stream_windows",
        sa.Column("list_dirty", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE stream_windows w SET list_dirty = true "
        "WHERE w.written > coalesce((SELECT m.listed_through FROM list_marks m "
        "WHERE m.partition = w.partition), 0)"
    )
    op.drop_table("list_marks")
    op.drop_column("stream_windows", "written")
    op.execute("DROP SEQUENCE stream_windows_written")
