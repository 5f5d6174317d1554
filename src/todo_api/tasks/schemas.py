from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator
from pydantic.json_schema import SkipJsonSchema

from todo_api.core.pagination import MAX_SKIP, PageInfo
from todo_api.core.types import NOT_BLANK, UTCInstant, trim
from todo_api.models.task import TaskBase, TaskPriority, TaskStatus

Title = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
Description = Annotated[str, Field(max_length=5000)]


ObjectRef = Annotated[int, Field(ge=1, le=2**31 - 1)]


class TaskCreate(TaskBase):
    """A new task, or the whole of a task for PUT: omitted optional fields take their defaults,
    except `list_id`, which a PUT leaves as it is (and a new task takes from your inbox)."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    list_id: ObjectRef | None = Field(
        default=None, description="Default: your inbox (POST), unchanged (PUT)."
    )
    assignee_id: ObjectRef | None = Field(
        default=None, description="A member of the task's list with at least the editor role."
    )


class TaskUpdate(BaseModel):
    """PATCH: only the fields sent change; `null` clears `description`, `due_date` or `assignee_id`."""

    model_config = ConfigDict(extra="forbid")

    # Leaving a field out keeps it; null is refused for these four, hence not in the schema.
    title: Title | SkipJsonSchema[None] = None
    description: Description | None = None
    status: TaskStatus | SkipJsonSchema[None] = None
    priority: TaskPriority | SkipJsonSchema[None] = None
    due_date: UTCInstant | None = None
    list_id: ObjectRef | SkipJsonSchema[None] = None
    assignee_id: ObjectRef | None = None

    @field_validator("title", "status", "priority", "list_id", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return trim(value)


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    list_id: int
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    due_date: datetime | None
    assignee_id: int | None
    completed_at: datetime | None
    created_by: int | None = Field(description="Who made the task; null once that account is deleted.")
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_completed(self) -> bool:
        """`status == "completed"`."""
        return self.status is TaskStatus.completed


class TaskSort(StrEnum):
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"
    due_date_asc = "due_date"
    due_date_desc = "-due_date"
    priority_asc = "priority"
    priority_desc = "-priority"
    title_asc = "title"
    title_desc = "-title"


class TaskListParams(BaseModel):
    """Filters, sort and page of `GET /tasks`."""

    skip: int = Field(default=0, ge=0, le=MAX_SKIP)
    limit: int = Field(default=20, ge=1, le=100)
    status_filter: TaskStatus | None = None
    priority: TaskPriority | None = None
    q: str | None = Field(default=None, max_length=200, description="Search titles and descriptions.")
    sort: TaskSort = TaskSort.created_at_desc
    due_after: UTCInstant | None = Field(default=None, description="Only tasks due at or after this instant.")
    due_before: UTCInstant | None = Field(default=None, description="Only tasks due before this instant.")
    list_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Only the tasks of this list.")
    assignee_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Only tasks assigned to this user."
    )
    overdue: bool | None = Field(
        default=None,
        description="true: due in the past and not completed; false: every other task.",
    )

    @field_validator("q", mode="before")
    @classmethod
    def _blank_search_is_no_search(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value


class TaskPage(PageInfo):
    items: list[TaskPublic]
