from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel


class TaskLabel(SQLModel, table=True):
    """A label on a task, one row each: what label filters and GET /labels read, by index."""

    __tablename__ = "task_labels"
    # Every task carrying a label, found by the label: filters and counts start here.
    __table_args__ = (Index("ix_task_labels_key_task", "key", "task_id"),)

    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    )
    # The name case-folded: names that differ only in case are one label.
    key: str = Field(sa_column=Column(String(200), primary_key=True))
    name: str = Field(max_length=50)
