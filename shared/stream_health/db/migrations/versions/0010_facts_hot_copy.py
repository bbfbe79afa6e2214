"""The hot values copied onto stream_list_facts, so a filtered page sorts without a join.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A page filtered by `search`, `ip` or `domain` reads the rows passing from
stream_list_facts (a trigram or domain index) and sorts them all. Sorted by one of the
values every reconnection moves (`stream_list`'s columns), it looked each passing row up in
stream_list: about 5 µs a row, 6.7 ms of the 10 ms an `ip` page of 1,561 rows took, and
about a fifth of PostgreSQL's time over the list benchmark's matrix.

The list flush now writes those values on both tables in the same statement. On
stream_list_facts they are not indexed, so rewriting them changes no index entry: a HOT
update, given room on the row's page (hence the fillfactor). The sort indexes of the values
stay on stream_list, where the unfiltered pages walk them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOT = ("reconnect_attempt", "reconnect_total", "reconnect_ms")  # nullable, as on stream_list


def upgrade() -> None:
    for column in HOT:
        op.add_column("stream_list_facts", sa.Column(column, sa.BigInteger(), nullable=True))
    op.add_column(
        "stream_list_facts",
        sa.Column("disconnections", sa.Integer(), nullable=False, server_default="0"),
    )
    op.alter_column("stream_list_facts", "disconnections", server_default=None)
    # Both tables hold the same (condition, uid) rows: the flush writes and deletes them
    # together.
    op.execute(
        "UPDATE stream_list_facts f SET reconnect_attempt = h.reconnect_attempt, "
        "reconnect_total = h.reconnect_total, reconnect_ms = h.reconnect_ms, "
        "disconnections = h.disconnections "
        "FROM stream_list h WHERE h.condition = f.condition AND h.uid = f.uid"
    )
    op.execute("ALTER TABLE stream_list_facts SET (fillfactor = 85)")
    # The fill rewrote every row (the pages had no room for HOT updates yet), so each index
    # holds two entries per row, and would stay twice its size after a vacuum: on the list
    # benchmark's 240k rows, PostgreSQL's time per page went from about 4 to 6.6 ms. Once the
    # fill is committed the old versions are dead, and VACUUM FULL rewrites the table at its
    # new fillfactor with its indexes rebuilt (6 s there, under an exclusive lock). It cannot
    # run in a transaction, hence the autocommit block; a REINDEX in the same transaction
    # as the fill would keep the old versions, still visible to others until it commits.
    # VACUUM FULL leaves the visibility map empty, and a table nobody writes is not vacuumed
    # again soon: every index-only scan would read the heap too (an unfiltered deep page,
    # skipping 20k entries, went from about 5 to 30 ms at p99). The plain VACUUM sets it.
    with op.get_context().autocommit_block():
        op.execute("VACUUM FULL stream_list_facts")
        op.execute("VACUUM (ANALYZE) stream_list_facts")


def downgrade() -> None:
    op.execute("ALTER TABLE stream_list_facts RESET (fillfactor)")
    for column in (*HOT, "disconnections"):
        op.drop_column("stream_list_facts", column)
