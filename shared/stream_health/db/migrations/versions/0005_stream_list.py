"""The admin list's view: one row per (condition, stream in it), indexed per filter and sort.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

`stream_list` and `stream_list_facts` hold, for every stream in at least one condition, a
row per condition it is in plus one under the pseudo-condition `*` (any condition).
Between them they carry every column the list endpoint filters or sorts by, so each
(condition, sort) pair is one index range scan. The worker rewrites a stream's rows in the
transaction that stores its window.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORTS = {
    "id": "stream_id",
    "camera_id": "camera_id",
    "reconnect_attempt": "reconnect_attempt",
    "reconnect_total": "reconnect_total",
    "reconnect_time": "reconnect_ms",
    "disconnections_count": "disconnections",
    "bitrate": "bitrate",
    "output_rate": "output_rate",
    "created_at": "created_at",
    "updated_at": "updated_at",
}

HOT = ("reconnect_attempt", "reconnect_total", "reconnect_ms", "disconnections")

# Safe casts: a snapshot's value that is not a number or a timestamp sorts as null.
_NUMBER = (
    "CASE WHEN jsonb_typeof(doc->'{f}') = 'number' AND (doc->>'{f}') ~ '^-?[0-9]{{1,18}}$' "
    "THEN (doc->>'{f}')::bigint END"
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Typed copies of the snapshot fields the list sorts by, and the url as it may be shown.
    op.add_column("inventory_streams", sa.Column("bitrate", sa.BigInteger(), nullable=True))
    op.add_column("inventory_streams", sa.Column("output_rate", sa.BigInteger(), nullable=True))
    op.add_column(
        "inventory_streams", sa.Column("created_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("inventory_streams", sa.Column("url_masked", sa.Text(), nullable=True))
    op.execute(  # built from the constants above only
        "UPDATE inventory_streams SET "  # noqa: S608
        f"bitrate = {_NUMBER.format(f='bitrate')}, "
        f"output_rate = {_NUMBER.format(f='output_rate')}, "
        "created_at = CASE WHEN doc->>'created_at' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:]{8}$' "
        "THEN (doc->>'created_at' || '+00')::timestamptz END, "
        "url_masked = regexp_replace(url, '^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:)[^/?#]*@', "
        "'\\1***@')"
    )
    # Documents are served as the VMS sent them: `json` keeps their text (and key order),
    # which `jsonb` does not.
    for table in ("inventory_streams", "inventory_cameras", "inventory_servers"):
        op.execute(f"ALTER TABLE {table} ALTER COLUMN doc TYPE json USING doc::text::json")
    op.execute("ALTER TABLE server_activity ALTER COLUMN extra TYPE json USING extra::text::json")
    # Two tables with one row per (condition, stream): what every reconnection changes, and
    # what only inventory changes. A reconnection then rewrites a narrow row with 4 sort
    # indexes; the text filters' trigram indexes move only with inventory.
    op.create_table(
        "stream_list",
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("reconnect_attempt", sa.BigInteger(), nullable=True),
        sa.Column("reconnect_total", sa.BigInteger(), nullable=True),
        sa.Column("reconnect_ms", sa.BigInteger(), nullable=True),
        sa.Column("disconnections", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("uid", "condition"),  # also finds a stream's rows
    )
    op.create_table(
        "stream_list_facts",
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("stream_id", sa.BigInteger(), nullable=True),
        sa.Column("camera_id", sa.BigInteger(), nullable=True),
        sa.Column("bitrate", sa.BigInteger(), nullable=True),
        sa.Column("output_rate", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        # lower(camera name) + newline + lower(url with its password masked)
        sa.Column("search", sa.Text(), nullable=False),
        sa.Column("ip", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=True),  # lower(main server's domain)
        sa.PrimaryKeyConstraint("uid", "condition"),  # also finds a stream's rows
    )
    for column in SORTS.values():
        table = "stream_list" if column in HOT else "stream_list_facts"
        op.create_index(f"{table}_by_{column}", table, ["condition", column, "uid"])
    op.create_index("stream_list_facts_domain", "stream_list_facts", ["condition", "domain"])
    for column in ("search", "ip"):
        op.create_index(
            f"stream_list_facts_{column}_trgm",
            "stream_list_facts",
            [sa.text(f"{column} gin_trgm_ops")],
            postgresql_using="gin",
        )
    # The streams in any condition, counted like each condition's (the list's unfiltered total).
    op.execute(
        "INSERT INTO condition_counts (condition, streams) "
        "SELECT '*', count(*) FROM stream_windows WHERE cardinality(conditions) > 0"
    )
    # Forget which conditions each partition was judged by: on its next assignment the owner
    # re-judges every stored stream (cause `config` only where something changes) and so
    # writes every list row, with counts that only the domain can compute.
    op.execute("DELETE FROM partition_rules")


def downgrade() -> None:
    op.execute("DELETE FROM condition_counts WHERE condition = '*'")
    op.drop_table("stream_list_facts")
    op.drop_table("stream_list")
    for table in ("inventory_streams", "inventory_cameras", "inventory_servers"):
        op.execute(f"ALTER TABLE {table} ALTER COLUMN doc TYPE jsonb USING doc::jsonb")
    op.execute("ALTER TABLE server_activity ALTER COLUMN extra TYPE jsonb USING extra::jsonb")
    for column in ("url_masked", "created_at", "output_rate", "bitrate"):
        op.drop_column("inventory_streams", column)
