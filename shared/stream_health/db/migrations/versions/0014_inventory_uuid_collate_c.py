"""Inventory's stream uuid in the C collation too, like the stream keys it is joined with.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Migration 0012 put the list and window keys in the C collation. A page then joined its uids
(C) with `inventory_streams.uuid` (the database's collation): PostgreSQL compares the two
in C (a column's own collation beats the default), and an index can serve a comparison only
in its own collation, so the uuid index no longer could. Every page read the whole of
inventory (1M rows in the list benchmark: 0.4 s a page). This is found by the benchmark,
and now by a test on a list whose streams inventory knows. In C, the uuid index serves the
join again, and every key a page joins on compares the same way.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute('ALTER TABLE inventory_streams ALTER COLUMN uuid TYPE text COLLATE "C"')


def downgrade() -> None:
    op.execute('ALTER TABLE inventory_streams ALTER COLUMN uuid TYPE text COLLATE "default"')
