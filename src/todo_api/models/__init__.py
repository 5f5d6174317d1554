"""Table models; importing this package registers every table on the metadata."""

from todo_api.models.api_token import ApiToken
from todo_api.models.idempotency_key import IdempotencyKey
from todo_api.models.list_member import ListMember, Role
from todo_api.models.refresh_token import RefreshToken
from todo_api.models.sync_change import SyncChange, SyncState
from todo_api.models.task import Task, TaskPriority, TaskStatus
from todo_api.models.task_completion import TaskCompletion
from todo_api.models.task_label import TaskLabel
from todo_api.models.task_list import TaskList
from todo_api.models.user import STAMP_HELD, User, holds_stamp, stamp_values
from todo_api.models.webhook import Webhook, WebhookDelivery

__all__ = [
    "STAMP_HELD",
    "ApiToken",
    "IdempotencyKey",
    "ListMember",
    "RefreshToken",
    "Role",
    "SyncChange",
    "SyncState",
    "Task",
    "TaskCompletion",
    "TaskLabel",
    "TaskList",
    "TaskPriority",
    "TaskStatus",
    "User",
    "Webhook",
    "WebhookDelivery",
    "holds_stamp",
    "stamp_values",
]
