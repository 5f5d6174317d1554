from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, func
from sqlmodel import Field, SQLModel, col

from todo_api.core.db import UTCDateTime, utcnow

# Moves on every UPDATE (the ORM's version counter): the ETag comes from it.
_version = Column("version", Integer, nullable=False, server_default="1")


class TaskList(SQLModel, table=True):
    """A list of tasks: one owner, shared with members (`ListMember`, the owner among them)."""

    __tablename__ = "lists"
    __mapper_args__ = {"version_id_col": _version}
    # AUTOINCREMENT: SQLite would otherwise hand a deleted list's id to the next one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    is_inbox: bool = Field(default=False)
    owner_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1, sa_column=_version)


# Every user has exactly one inbox.
Index(
    "uq_lists_inbox_owner",
    col(TaskList.owner_id),
    unique=True,
    sqlite_where=col(TaskList.is_inbox),
    postgresql_where=col(TaskList.is_inbox),
)
# Names sort case-insensitively.
Index("ix_lists_name", func.lower(col(TaskList.name)), col(TaskList.id))
