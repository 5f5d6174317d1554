from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from todo_api.core.pagination import MAX_SKIP, PageInfo

MAX_URL_LENGTH = 2000


class EventType(StrEnum):
    """What a webhook can be told about; `*` is all of them."""

    task_created = "task.created"
    task_updated = "task.updated"
    task_completed = "task.completed"
    task_moved = "task.moved"
    task_deleted = "task.deleted"
    task_restored = "task.restored"
    list_updated = "list.updated"
    list_deleted = "list.deleted"
    member_added = "member.added"
    member_updated = "member.updated"
    member_removed = "member.removed"
    all = "*"


Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="An http:// or https:// URL on a public address.",
        examples=["https://example.com/hooks/todo"],
    ),
]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]


def _distinct(events: list[EventType] | None) -> list[EventType] | None:
    return None if events is None else list(dict.fromkeys(events))


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    events: Events
    list_id: int | None = Field(default=None, description="Only this list's events; absent: all your lists.")

    _distinct_events = field_validator("events")(_distinct)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: Events | None = None
    active: bool | None = Field(default=None, description="true resumes a disabled webhook.")

    _distinct_events = field_validator("events")(_distinct)


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    list_id: int | None
    active: bool
    disabled_reason: str | None
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret (whsec_...): shown only in this answer.")


class WebhookList(BaseModel):
    items: list[WebhookPublic]


class DeliveryStatus(StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: str = Field(description="The webhook-id header: the same on every attempt and redelivery.")
    type: str
    status: DeliveryStatus
    attempts: int
    response_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None


class DeliveryParams(BaseModel):
    skip: int = Field(default=0, ge=0, le=MAX_SKIP)
    limit: int = Field(default=20, ge=1, le=100)


class DeliveryPage(PageInfo):
    items: list[DeliveryPublic]
