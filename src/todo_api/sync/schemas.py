"""What GET /sync answers."""

from pydantic import BaseModel, Field

from todo_api.lists.schemas import ListPublic
from todo_api.tasks.schemas import TaskPublic


class SyncParams(BaseModel):
    cursor: str | None = Field(default=None, max_length=1000, description="The cursor of an earlier answer.")
    limit: int = Field(default=500, ge=1, le=1000, description="At most this many objects in one answer.")
    wait: int = Field(
        default=0, ge=0, le=60, description="With a cursor and nothing new: wait up to this many seconds."
    )


class Deleted(BaseModel):
    lists: list[int] = Field(default_factory=list)
    tasks: list[int] = Field(default_factory=list)


class SyncAnswer(BaseModel):
    full: bool = Field(description="true: everything you can see (no cursor was sent).")
    cursor: str = Field(description="Send it back to get what changed after this answer.")
    has_more: bool = Field(description="true: call again at once with the new cursor.")
    lists: list[ListPublic]
    tasks: list[TaskPublic]
    deleted: Deleted
