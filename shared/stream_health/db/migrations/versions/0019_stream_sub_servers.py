"""A stream's sub-server ids as a column, for the list page to read its servers with its rows.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08

The api's list page showed each row's sub-servers by reading the ids from the stream's stored
snapshot in Python, then asking for the servers in a second statement. The page statement now
reads the servers too (one round trip, one snapshot), and parsing each row's snapshot there
cost about 8 µs of PostgreSQL a row. Ingestion now stores the ids it validated; this fills the
column from the snapshots stored before, reading them as the api did: whole numbers only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "inventory_streams",
        sa.Column("sub_server_ids", ARRAY(sa.BigInteger()), nullable=False, server_default="{}"),
    )
    op.execute(
        """
        UPDATE inventory_streams SET sub_server_ids = ARRAY(
            SELECT e::text::bigint FROM json_array_elements(doc->'sub_server_ids') AS e
            WHERE json_typeof(e) = 'number' AND e::text ~ '^[0-9]{1,18}$'
        )
        WHERE CASE WHEN json_typeof(doc->'sub_server_ids') = 'array'
                   THEN json_array_length(doc->'sub_server_ids') > 0 END
        """
    )


def downgrade() -> None:
    op.drop_column("inventory_streams", "sub_server_ids")
