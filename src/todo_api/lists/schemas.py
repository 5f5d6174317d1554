"""What clients send and see of lists and their members."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from todo_api.core.pagination import MAX_SKIP, PageInfo
from todo_api.core.types import NOT_BLANK, trim
from todo_api.models import Role

ListName = Annotated[str, Field(min_length=1, max_length=100, pattern=NOT_BLANK, examples=["Groceries"])]
ListDescription = Annotated[str, Field(max_length=2000)]


class ListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ListName
    description: ListDescription | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _trim_name(cls, value: Any) -> Any:
        return trim(value)


class ListUpdate(BaseModel):
    """PATCH: only the fields sent change; `null` clears the description (a null name is a 422)."""

    model_config = ConfigDict(extra="forbid")

    name: ListName | SkipJsonSchema[None] = None
    description: ListDescription | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return trim(value)


class ListPublic(BaseModel):
    id: int
    name: str
    description: str | None
    is_inbox: bool
    owner_id: int
    role: Role = Field(description="Your own role on the list.")
    created_at: datetime
    updated_at: datetime


class ListSort(StrEnum):
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    name_asc = "name"
    name_desc = "-name"


class ListListParams(BaseModel):
    skip: int = Field(default=0, ge=0, le=MAX_SKIP)
    limit: int = Field(default=20, ge=1, le=100)
    sort: ListSort = ListSort.created_at_asc


class ListPage(PageInfo):
    items: list[ListPublic]


class MemberRole(StrEnum):
    """The roles that can be given; ownership moves only by transfer."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=320, description="A username or an e-mail address.")
    role: MemberRole


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: MemberRole


class MemberPublic(BaseModel):
    user_id: int
    username: str
    role: Role
    added_at: datetime


class MemberList(BaseModel):
    items: list[MemberPublic]


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(
        ge=1, le=2**31 - 1, strict=True, description="A current member, who becomes the owner."
    )
