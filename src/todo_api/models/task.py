from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import field_validator
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Row, SmallInteger, String, func
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel, col

from todo_api.core.db import UTCDateTime, utcnow
from todo_api.core.types import NOT_BLANK, UTCInstant, trim


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    completed = "completed"


class TaskPriority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class _PriorityRank(IntEnum):
    low = 1
    medium = 2
    high = 3


class PriorityType(TypeDecorator[TaskPriority]):
    """Stores a priority as its rank, so that ORDER BY priority sorts low < medium < high."""

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(_PriorityRank[TaskPriority(value).value])

    def process_result_value(self, value: int | None, dialect: Dialect) -> TaskPriority | None:
        if value is None:
            return None
        return TaskPriority(_PriorityRank(value).name)


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=200, regex=NOT_BLANK)
    description: str | None = Field(default=None, max_length=5000)
    status: TaskStatus = Field(default=TaskStatus.todo, sa_type=String(16))
    priority: TaskPriority = Field(default=TaskPriority.medium, sa_type=PriorityType)
    due_date: UTCInstant | None = Field(default=None, sa_type=UTCDateTime)

    @field_validator("title", mode="before")
    @classmethod
    def _strip_title(cls, value: Any) -> Any:
        return trim(value)


# Positions compare byte by byte on every database: SQLite's default collation does; PostgreSQL's
# must be "C" (a language's collation would sort "a" and "B" the other way).
POSITION_TYPE = String(1024).with_variant(String(1024, collation="C"), "postgresql")

# Moves on every UPDATE (the ORM's version counter): the ETag comes from it, and each UPDATE is
# conditional on the version it read, so a write based on a stale read can never apply.
_version = Column("version", Integer, nullable=False, server_default="1")


class Task(TaskBase, table=True):
    __tablename__ = "tasks"
    __mapper_args__ = {"version_id_col": _version}
    # Every listing reads the live tasks (deleted_at IS NULL) of the lists the caller can see, in
    # the order of one key plus id: each of these walks one list's live tasks in its key's order, so
    # a page stops after its rows however many tasks the lists hold (tasks/repository.py names the
    # one to use on SQLite, whose planner cannot tell them apart).
    __table_args__ = (
        Index("ix_tasks_list_created", "list_id", "deleted_at", "created_at", "id"),
        Index("ix_tasks_list_updated", "list_id", "deleted_at", "updated_at", "id"),
        Index("ix_tasks_list_due", "list_id", "deleted_at", "due_date", "id"),
        Index("ix_tasks_list_priority", "list_id", "deleted_at", "priority", "id"),
        Index("ix_tasks_list_status_created", "list_id", "deleted_at", "status", "created_at", "id"),
        # sort=position: by list, then position (siblings are contiguous in it within a parent).
        Index("ix_tasks_list_position", "list_id", "deleted_at", "position", "id"),
        # The trash of a list, newest deletion first.
        Index("ix_tasks_list_deleted", "list_id", "deleted_at", "id"),
        # AUTOINCREMENT: SQLite would otherwise hand a deleted task's id to the next one.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(
        sa_column=Column(Integer, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False)
    )
    # Who made the task; null once that account is deleted.
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    assignee_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), index=True)
    )
    # A subtask's parent, in the same list; its subtasks go when it goes.
    parent_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    )
    # Where the task stands among its siblings: a fractional-index key, compared byte by byte.
    position: str = Field(sa_column=Column(POSITION_TYPE, nullable=False))
    # The names as shown, sorted case-insensitively; `task_labels` holds them for filters and counts.
    labels: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # An RFC 5545 RRULE value (no "RRULE:" prefix), expanded in `timezone` from `series_start`.
    recurrence: str | None = Field(default=None, max_length=500)
    timezone: str = Field(default="UTC", max_length=64, sa_column_kwargs={"server_default": "UTC"})
    # The first occurrence of the series: the due date when the recurrence or due date was last set.
    series_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # In the trash since `deleted_at`. A task deleted itself has no `trashed_with_id`; its subtasks,
    # which went with it, name it there (and come back only with it).
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    trashed_with_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    )
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = Field(default=1, sa_column=_version)


# Siblings (same list, same parent) never share a position: the order is never left to chance.
Index(
    "uq_tasks_sibling_position",
    col(Task.list_id),
    func.coalesce(col(Task.parent_id), 0),
    col(Task.position),
    unique=True,
)
# Titles sort case-insensitively ("apple" before "Banana"), so their index is on lower(title).
Index(
    "ix_tasks_list_title", col(Task.list_id), col(Task.deleted_at), func.lower(col(Task.title)), col(Task.id)
)


# What a client sees of a task (TaskPublic's fields), and its version for the ETag.
PUBLIC_FIELDS = (
    "id",
    "list_id",
    "parent_id",
    "position",
    "title",
    "description",
    "status",
    "priority",
    "labels",
    "due_date",
    "recurrence",
    "timezone",
    "assignee_id",
    "completed_at",
    "created_by",
    "created_at",
    "updated_at",
)
_tasks = Task.__table__  # type: ignore[attr-defined]
# A row of PUBLIC_COLUMNS.
TaskRow = Row[Any]
PUBLIC_COLUMNS = [*(_tasks.c[name] for name in PUBLIC_FIELDS), _tasks.c.version]
