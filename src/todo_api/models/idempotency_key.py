from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from todo_api.core.db import UTCDateTime, utcnow


class IdempotencyKey(SQLModel, table=True):
    """A client's Idempotency-Key for a creating route: the request it came with and the answer it got."""

    __tablename__ = "idempotency_keys"
    # One record per user, route and key: the constraint lets one of two concurrent requests win.
    __table_args__ = (UniqueConstraint("user_id", "route", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    # Which creating route the key was sent to ("tasks", "lists"): the routes' keys are separate.
    route: str = Field(max_length=16)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    # The answer to replay ({"body": ..., "etag": ...}); None only inside the creating transaction.
    response: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
