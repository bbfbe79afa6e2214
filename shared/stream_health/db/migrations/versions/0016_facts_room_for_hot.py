"""Room on stream_list_facts' pages for every row's next version: fillfactor 50.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

A reconnection changes a stream's counts, and the list flush rewrites both of its rows: the
stream_list row, whose new values are indexed (a new version in every index), and the
stream_list_facts row, where they are unindexed copies (migration 0010). That second write
is a HOT update (no index entry) only if the new version fits on the row's own page. At
fillfactor 85 a page has room for the next versions of about one row in five: of flushes that
moved the counts of every row (a backlog caught up, or any busy 30 s), about a third of the
facts updates were HOT and the rest new versions in all ten of the table's indexes, two of
them GIN trigram indexes. At 50 every row's next version fits beside it, and the version
before it is pruned by the time the one after comes.

Measured with the list flush as the worker runs it (`python -m bench.list_flush`: 100k
streams, 252k rows, two lanes; bench/RESULTS.md, 2026-12-07 10:31): a flush that moves every
row's counts took 6.5 s at 50 against 12.4 s at 85 (medians of 9 rounds each; PostgreSQL CPU
11.4 against 20.7 s), with 99% of the facts updates HOT against 32%. Listing them in an
empty list took the same at both (8.2 s). After the rounds the facts heap is smaller at 50
(57 against 98 MB: at 85 the versions that moved pile up), and so are its indexes (169
against 212 MB).

The setting applies to pages written from now on. A table that holds rows is rewritten so
that they have the room today (as in 0010: VACUUM FULL, under an exclusive lock, then a plain
VACUUM for the visibility map that VACUUM FULL leaves empty); an empty one is left as it is
(vacuumed empty, the planner would take it for empty; see 0015).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rewrite() -> None:
    if not op.get_bind().execute(sa.text("SELECT EXISTS (SELECT FROM stream_list_facts)")).scalar():
        return
    with op.get_context().autocommit_block():
        op.execute("VACUUM FULL stream_list_facts")
        op.execute("VACUUM stream_list_facts")


def upgrade() -> None:
    op.execute("ALTER TABLE stream_list_facts SET (fillfactor = 50)")
    _rewrite()


def downgrade() -> None:
    op.execute("ALTER TABLE stream_list_facts SET (fillfactor = 85)")
    _rewrite()
