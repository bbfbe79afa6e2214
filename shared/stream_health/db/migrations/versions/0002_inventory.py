"""Inventory: the VMS's streams, cameras and media servers, as their last snapshots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory_servers",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column(
            "is_stream_condition_management_enabled",
            sa.Boolean(),
            nullable=False,
            server_default=sa.true(),
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("doc", JSONB(), nullable=False),
    )
    op.create_index(
        "ix_inventory_servers_domain_lower", "inventory_servers", [sa.text("lower(domain)")]
    )
    op.create_table(
        "inventory_cameras",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("is_increased_reconnect", sa.Boolean(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        # Seed 000's camera has no updated_at: then the newest record on the topic wins.
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("doc", JSONB(), nullable=False),
    )
    op.create_table(
        "inventory_streams",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("uuid", sa.Text(), nullable=False),
        # No foreign keys: snapshots of the three kinds arrive in any order.
        sa.Column("camera_id", sa.BigInteger(), nullable=True),
        sa.Column("server_id", sa.BigInteger(), nullable=True),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("doc", JSONB(), nullable=False),
        sa.UniqueConstraint("uuid", name="uq_inventory_streams_uuid"),
    )
    op.create_index("ix_inventory_streams_camera_id", "inventory_streams", ["camera_id"])
    op.create_index("ix_inventory_streams_server_id", "inventory_streams", ["server_id"])


def downgrade() -> None:
    op.drop_table("inventory_streams")
    op.drop_table("inventory_cameras")
    op.drop_table("inventory_servers")
