"""The text filters through GIN indexes that pick the condition's rows and read an ip whole.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21

`ip`: pg_trgm splits text into words at every character that is not a letter or a digit, so
the trigrams of an ip substring such as `10.1.` were those of `10` and `1`: short and common,
and the trigram index of `ip` gave thousands of candidates to recheck for a few hundred rows.
With `.` and `:` turned into letters (`10x1x`) an address is one word and a dotted substring
has trigrams that span its separators (`10x`, `0x1`, `x1x`), about as selective as the
substring itself. The list filters with `translate(ip) LIKE translate(pattern)`, which every
row matching `ip LIKE pattern` also matches (translate maps characters one to one in place),
and keeps `ip LIKE pattern` for exactness (an ip holding an `x` or a `y` of its own).

Both text filters' indexes start with the condition (btree_gin), so a condition's rows are
picked inside the index: the planner no longer intersects the trigram bitmap with all of
`*`'s 100,000 rows from the (condition, domain) index (or, once one GIN index held the
condition, from that one), nor reads other conditions' rows from the heap. Each replaces the
trigram index of its column: about the same size, written at the same moments (a row of
`stream_list_facts` changes only with membership or inventory).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# index -> what the list's WHERE clause filters on (listing.py writes the same expressions)
KEYS = {
    "stream_list_facts_search_key": "search",
    "stream_list_facts_ip_key": "translate(ip, '.:', 'xy')",
}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")  # a trusted extension, as pg_trgm
    for name, expression in KEYS.items():
        op.execute(
            f"CREATE INDEX {name} ON stream_list_facts "
            f"USING gin (condition, ({expression}) gin_trgm_ops)"
        )
    for column in ("search", "ip"):
        op.drop_index(f"stream_list_facts_{column}_trgm", table_name="stream_list_facts")


def downgrade() -> None:
    for column in ("search", "ip"):
        op.execute(
            f"CREATE INDEX stream_list_facts_{column}_trgm ON stream_list_facts "
            f"USING gin ({column} gin_trgm_ops)"
        )
    for name in KEYS:
        op.drop_index(name, table_name="stream_list_facts")
