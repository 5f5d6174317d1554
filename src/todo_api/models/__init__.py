"""Table models; importing this package registers every table on the metadata."""

from todo_api.models.task import Task, TaskPriority, TaskStatus
from todo_api.models.user import User

__all__ = ["Task", "TaskPriority", "TaskStatus", "User"]
