from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from todo_api.core.db import UTCDateTime

# BIGINT on PostgreSQL; SQLite's AUTOINCREMENT needs the column to be INTEGER.
SEQUENCE_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class SyncChange(SQLModel, table=True):
    """One object (a list or a task) that changed for one user: the record GET /sync reads.

    `seq` is handed out at commit, under a lock held until the commit is visible, so a higher
    number is always committed after a lower one: a reader that has seen N can never later find
    a new row below N.
    """

    __tablename__ = "sync_changes"
    __table_args__ = (Index("ix_sync_changes_user_seq", "user_id", "seq"), {"sqlite_autoincrement": True})

    seq: int | None = Field(default=None, sa_column=Column(SEQUENCE_TYPE, primary_key=True))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(sa_column=Column(String(8), nullable=False))  # "list" or "task"
    object_id: int
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class SyncState(SQLModel, table=True):
    """One row: how far the change records were purged (cursors below are expired)."""

    __tablename__ = "sync_state"

    id: int = Field(default=1, primary_key=True)
    purged_through: int = Field(
        default=0, sa_column=Column(SEQUENCE_TYPE, nullable=False, server_default="0")
    )
