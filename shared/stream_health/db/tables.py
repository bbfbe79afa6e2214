"""Table models: the storage shape, separate from wire schemas and response models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Integer, Text, func, text
from sqlmodel import Field, SQLModel


class ConsumerOffset(SQLModel, table=True):
    """The next offset to read per partition, committed with the batch that consumed it."""

    __tablename__ = "consumer_offsets"

    consumer_group: str = Field(sa_column=Column(Text, primary_key=True))
    topic: str = Field(sa_column=Column(Text, primary_key=True))
    partition: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    next_offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Moved by every transaction that writes the partition's windows without consuming a
    # record (a drain, a reclassification): an owner's fence sees those writes too.
    epoch: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0"))
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class ConsumedCount(SQLModel, table=True):
    """How many records of each type the worker has applied, per topic (exactly once)."""

    __tablename__ = "consumed_counts"

    topic: str = Field(sa_column=Column(Text, primary_key=True))
    record_type: str = Field(sa_column=Column(Text, primary_key=True))
    records: int = Field(sa_column=Column(BigInteger, nullable=False))
