"""Coalesced admin-list writes: windows flagged list-dirty, list rows flushed by the owner.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

A batch no longer rewrites the list rows of every stream it touches: it stores the window
with `list_dirty` set, in the same transaction as the offsets, and the owner rewrites the
rows of its dirty windows every so often (many events of one stream, one rewrite). The flag
is durable, so a new owner finds the rows still to write after a crash or a rebalance.
`condition_counts` now moves with the list rows (same transaction), so the list's totals
always match its rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not indexed: clearing the flag is then a HOT update (no index entries), and the only
    # reader is an owner taking a partition over, which scans that partition's rows once.
    op.add_column(
        "stream_windows",
        sa.Column("list_dirty", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # A window row is rewritten by nearly every batch that touches its stream. With only its
    # primary key indexed, that rewrite (and clearing the flag) is a HOT update: no index
    # entries at all. Nothing reads the conditions index; the drain index served only the
    # once-per-assignment lookup of drain instants, which now scans the partition's rows.
    op.drop_index("stream_windows_in_conditions", table_name="stream_windows")
    op.drop_index("stream_windows_drains", table_name="stream_windows")
    # Room on each page for those HOT updates.
    op.execute("ALTER TABLE stream_windows SET (fillfactor = 85)")
    op.execute("DELETE FROM condition_counts")
    op.execute(
        "INSERT INTO condition_counts (condition, streams) "
        "SELECT condition, count(*) FROM stream_list GROUP BY condition"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE stream_windows RESET (fillfactor)")
    op.create_index(
        "stream_windows_drains",
        "stream_windows",
        ["partition", "drain_at_ms"],
        postgresql_where=sa.text("drain_at_ms IS NOT NULL"),
    )
    op.create_index(
        "stream_windows_in_conditions", "stream_windows", ["conditions"], postgresql_using="gin"
    )
    op.drop_column("stream_windows", "list_dirty")
