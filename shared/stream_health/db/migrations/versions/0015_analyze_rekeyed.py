"""Statistics again for the columns whose collation 0012 and 0014 changed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Changing a column's collation drops its planner statistics, and autovacuum analyzes a table
again only after enough of its rows change: with no statistics on `condition`, the api's
generic plans of unfiltered pages sorted the condition's rows (17 ms a page in the list
benchmark, against 2.3 before the change). This analyzes the tables those migrations
changed, in the same upgrade. An empty table has no statistics to lose, and is left as it is:
analyzed empty, the planner would take it for empty until autovacuum analyzes it again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("stream_list", "stream_list_facts", "stream_windows", "inventory_streams")


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if bind.execute(sa.text(f"SELECT EXISTS (SELECT FROM {table})")).scalar():  # noqa: S608
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    pass  # statistics are not schema
