from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator
from pydantic.json_schema import SkipJsonSchema

from todo_api.core.pagination import MAX_SKIP, PageInfo
from todo_api.core.types import NOT_BLANK, UTCInstant, trim
from todo_api.models.task import TaskBase, TaskPriority, TaskStatus
from todo_api.tasks import recurrence

Title = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
Description = Annotated[str, Field(max_length=5000)]


ObjectRef = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
MAX_LABELS = 20
LabelName = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^,]*\S[^,]*$")]
Recurrence = Annotated[
    str,
    Field(
        max_length=500,
        description="An RFC 5545 RRULE value (FREQ DAILY, WEEKLY, MONTHLY or YEARLY), such as "
        "`FREQ=WEEKLY;BYDAY=MO,WE`; needs a due_date, the first occurrence.",
        examples=["FREQ=WEEKLY;BYDAY=MO,WE"],
    ),
]
TimeZone = Annotated[
    str, Field(max_length=64, description="An IANA time zone name.", examples=["Europe/Berlin"])
]


def normalise_labels(values: Any) -> Any:
    """Trimmed; of names that differ only in case the first is kept; at most MAX_LABELS of them."""
    if not isinstance(values, list):
        return values
    kept: dict[str, Any] = {}
    for value in values:
        name = trim(value)
        if isinstance(name, str):
            if "," in name:
                raise ValueError("a label cannot hold a comma")
            kept.setdefault(name.casefold() if name else name, name)
        else:
            kept.setdefault(str(id(value)), value)  # not a string: the item's own check refuses it
    if len(kept) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    return list(kept.values())


def _recurrence(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return recurrence.normalise(value)
        except recurrence.InvalidRule as error:
            raise ValueError(str(error)) from None
    return value


def _time_zone(value: Any) -> Any:
    if isinstance(value, str):
        try:
            recurrence.zone(value)
        except recurrence.InvalidRule as error:
            raise ValueError(str(error)) from None
    return value


class TaskCreate(TaskBase):
    """A new task, or the whole of a task for PUT: omitted optional fields take their defaults,
    except `list_id` and `parent_id`, which a PUT leaves as they are."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    title: Title
    list_id: ObjectRef | None = Field(
        default=None,
        description="Default: the parent's list if parent_id is given, else your inbox (POST); "
        "unchanged (PUT).",
    )
    parent_id: ObjectRef | None = Field(
        default=None, description="Makes the task a subtask of another task in the same list."
    )
    assignee_id: ObjectRef | None = Field(
        default=None, description="A member of the task's list with at least the editor role."
    )
    labels: list[LabelName] = Field(
        default_factory=list, description="0 to 20 names, without commas; case-insensitively unique."
    )
    recurrence: Recurrence | None = None
    timezone: TimeZone = "UTC"

    _labels = field_validator("labels", mode="before")(normalise_labels)
    _rule = field_validator("recurrence", mode="before")(_recurrence)
    _zone = field_validator("timezone", mode="before")(_time_zone)


class TaskUpdate(BaseModel):
    """PATCH: only the fields sent change; `null` clears `description`, `due_date`, `assignee_id`,
    `recurrence` or `parent_id`."""

    model_config = ConfigDict(extra="forbid")

    # Leaving a field out keeps it; null is refused for these, hence not in the schema.
    title: Title | SkipJsonSchema[None] = None
    description: Description | None = None
    status: TaskStatus | SkipJsonSchema[None] = None
    priority: TaskPriority | SkipJsonSchema[None] = None
    due_date: UTCInstant | None = None
    list_id: ObjectRef | SkipJsonSchema[None] = None
    parent_id: ObjectRef | None = None
    assignee_id: ObjectRef | None = None
    labels: list[LabelName] | SkipJsonSchema[None] = None
    recurrence: Recurrence | None = None
    timezone: TimeZone | SkipJsonSchema[None] = None

    @field_validator("title", "status", "priority", "list_id", "labels", "timezone", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return trim(value)

    _labels = field_validator("labels", mode="before")(normalise_labels)
    _rule = field_validator("recurrence", mode="before")(_recurrence)
    _zone = field_validator("timezone", mode="before")(_time_zone)


class TaskMove(BaseModel):
    """Where a task goes: after a sibling (or first), under a parent, in a list."""

    model_config = ConfigDict(extra="forbid")

    list_id: ObjectRef | SkipJsonSchema[None] = Field(default=None, description="Absent: unchanged.")
    parent_id: ObjectRef | None = Field(
        default=None, description="Absent: unchanged when the list stays, none when it changes."
    )
    after_id: ObjectRef | None = Field(
        default=None, description="The sibling to follow at the target; null or absent: first."
    )

    @field_validator("list_id", mode="before")
    @classmethod
    def _list_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    list_id: int
    parent_id: int | None
    position: str = Field(description="Where the task stands among its siblings; sorts in byte order.")
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    labels: list[str]
    due_date: datetime | None
    recurrence: str | None
    timezone: str
    assignee_id: int | None
    completed_at: datetime | None
    created_by: int | None = Field(description="Who made the task; null once that account is deleted.")
    created_at: datetime
    updated_at: datetime

    @computed_field(description='`status == "completed"`.')  # type: ignore[prop-decorator]
    @property
    def is_completed(self) -> bool:
        return self.status == TaskStatus.completed


class TrashedTask(TaskPublic):
    """A task in the trash: the task as it was, and when and by whom it was deleted."""

    deleted_at: datetime
    deleted_by: int | None


class TrashPage(PageInfo):
    items: list[TrashedTask]


class TrashParams(BaseModel):
    skip: int = Field(default=0, ge=0, le=MAX_SKIP)
    limit: int = Field(default=20, ge=1, le=100)
    list_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Only this list's trash.")


class Completion(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    completed_at: datetime
    due_date: datetime | None = Field(description="The occurrence that was completed.")
    completed_by: int | None


class CompletionPage(PageInfo):
    items: list[Completion]


class Label(BaseModel):
    name: str
    task_count: int


class LabelList(BaseModel):
    items: list[Label]


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
    position = "position"


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
    parent_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Only the direct subtasks of this task."
    )
    top_level: bool | None = Field(default=None, description="true: only tasks without a parent.")
    label: list[str] = Field(
        default_factory=list, description="Repeatable: only tasks carrying every label given (any case)."
    )

    @field_validator("q", mode="before")
    @classmethod
    def _blank_search_is_no_search(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value


class TaskPage(PageInfo):
    items: list[TaskPublic]


class CompletionParams(BaseModel):
    skip: int = Field(default=0, ge=0, le=MAX_SKIP)
    limit: int = Field(default=20, ge=1, le=100)
