from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from todo_api.core.db import UTCDateTime


class ApiToken(SQLModel, table=True):
    """A personal API token: stored as the SHA-256 of its secret, with the scopes it may use."""

    __tablename__ = "api_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Written at most once a minute per token, not on every request.
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
