"""When a server's statistics were sent, apart from its latest event.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

`server_activity` keeps per media server its latest event (for `is_actual`) and the
statistics of its latest pulse (the api's `server.extra`). Both were written only when a
batch's latest event of the server was newer than the stored one, and the batch's statistics
were those of that latest event: any later event of another kind in the same batch dropped
its pulse's statistics, and a batch committed late could put older statistics over newer
ones. `extra_ms` is the time of the pulse the statistics came with, so each of the two wins
on its own time. Rows stored before carry their latest event's time, which the pulse's
cannot exceed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("server_activity", sa.Column("extra_ms", sa.BigInteger(), nullable=True))
    op.execute("UPDATE server_activity SET extra_ms = last_event_ms WHERE extra IS NOT NULL")


def downgrade() -> None:
    op.drop_column("server_activity", "extra_ms")
