"""Table models; importing this package registers every table on the metadata."""

from todo_api.models.idempotency_key import IdempotencyKey
from todo_api.models.refresh_token import RefreshToken
from todo_api.models.task import Task, TaskPriority, TaskStatus
from todo_api.models.user import User

__all__ = ["IdempotencyKey", "RefreshToken", "Task", "TaskPriority", "TaskStatus", "User"]
