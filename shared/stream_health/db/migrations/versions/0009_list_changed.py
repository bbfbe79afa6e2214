"""A notification on every commit that writes a table the admin list reads.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

The api keeps rendered list pages while nothing they were read from has changed. A statement
trigger on each table a page reads calls `pg_notify` on the `stream_health_list` channel.
PostgreSQL delivers a notification when the writing transaction commits, and one per
transaction however many statements raised it (same channel, same empty payload), so a batch
of the worker costs one notification. The trigger fires per statement, not per row, and also
for a statement that changed no rows: a spurious notification only drops pages early.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "stream_health_list"  # stream_health.db.listing.CHANGED_CHANNEL
FUNCTION = "stream_health_list_changed"
# Every table the list's statements read (stream_health.db.listing: list_page, server_documents).
TABLES = (
    "condition_counts",
    "stream_list",
    "stream_list_facts",
    "stream_windows",
    "inventory_streams",
    "inventory_cameras",
    "inventory_servers",
    "server_activity",
)


def _trigger(table: str) -> str:
    return f"{table}_list_changed"


def upgrade() -> None:
    op.execute(
        f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {_trigger(table)} "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {_trigger(table)} ON {table}")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
