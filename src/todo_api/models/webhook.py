from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from todo_api.core.db import UTCDateTime


class Webhook(SQLModel, table=True):
    """Where a user wants to be told about changes: a URL, the events, optionally one list.

    `list_id` has no foreign key: a list-scoped webhook outlives its list (deactivated, with the
    list's `list.deleted` delivery still to send) instead of vanishing with it.
    """

    __tablename__ = "webhooks"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=100)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    list_id: int | None = Field(default=None, index=True)
    active: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # The first failed attempt since the last success; three days of that disables the webhook.
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook: the body as it will be sent, and how its attempts went.

    The outbox: written in the transaction of the change itself. A deliverer claims a due row by
    pushing `next_attempt_at` past the attempt (a lease), sends, then records the outcome.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id", "webhook_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(
        sa_column=Column(Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False)
    )
    event_id: str = Field(sa_column=Column(String(40), nullable=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))  # pending, succeeded, failed
    attempts: int = 0
    response_status: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
