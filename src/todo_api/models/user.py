from datetime import datetime

from sqlalchemy import Index, func
from sqlmodel import Field, SQLModel, col

from todo_api.db import UTCDateTime, utcnow

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"


class UserBase(SQLModel):
    username: str = Field(min_length=3, max_length=32, regex=USERNAME_PATTERN)
    email: str = Field(max_length=320, unique=True)


class User(UserBase, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Bumped when the password changes: access tokens carry it, and older ones stop working.
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


# Usernames are unique whatever their case: "Alice" and "ALICE" are one user.
Index("uq_users_username_lower", func.lower(col(User.username)), unique=True)
