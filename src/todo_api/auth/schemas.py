from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from todo_api.core.types import NOT_BLANK, Email, trim
from todo_api.models.user import USERNAME_PATTERN

Password = Annotated[str, Field(min_length=8, max_length=128)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=32, pattern=USERNAME_PATTERN, examples=["alice"])
    email: Email = Field(examples=["alice@example.com"])
    password: Password = Field(examples=["correct horse battery staple"])


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Exchange it at /auth/refresh; each use returns a new one.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=128)
    new_password: Password


class Scope(StrEnum):
    """What a personal API token may do."""

    tasks_read = "tasks:read"
    tasks_write = "tasks:write"
    lists_read = "lists:read"
    lists_write = "lists:write"
    sync = "sync"
    webhooks = "webhooks"


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK, examples=["home automation"])
    scopes: list[Scope] = Field(examples=[["tasks:read"]])
    expires_in_days: int | None = Field(
        default=None, ge=1, le=365, description="Absent or null: never expires."
    )

    @field_validator("name", mode="before")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        return trim(value)


class ApiTokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="May lag by up to a minute.")


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="The secret: shown once, now; the service keeps only its hash.")


class ApiTokenList(BaseModel):
    items: list[ApiTokenPublic]
