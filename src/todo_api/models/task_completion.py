from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from todo_api.core.db import UTCDateTime


class TaskCompletion(SQLModel, table=True):
    """Each time a task entered `completed`: the occurrence (due date) completed, when and by whom."""

    __tablename__ = "task_completions"
    __table_args__ = (
        Index("ix_task_completions_task_completed", "task_id", "completed_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False)
    )
    completed_at: datetime = Field(sa_type=UTCDateTime)
    due_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
