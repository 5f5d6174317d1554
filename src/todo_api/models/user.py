from datetime import datetime

from sqlalchemy import ColumnElement, Index, Table, bindparam, exists, func
from sqlmodel import Field, SQLModel, col, select

from todo_api.core.db import UTCDateTime, utcnow
from todo_api.core.security import Caller, new_auth_stamp

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"


class UserBase(SQLModel):
    username: str = Field(min_length=3, max_length=32, regex=USERNAME_PATTERN)
    email: str = Field(max_length=320, unique=True)


class User(UserBase, table=True):
    __tablename__ = "users"
    # AUTOINCREMENT: SQLite would otherwise give a deleted user's id to the next account.
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Random, carried in access tokens and checked: a new one on a password change ends every
    # earlier token, and no other account (whatever its id) ever has this one.
    auth_stamp: str = Field(default_factory=new_auth_stamp, max_length=32)


# Usernames are unique whatever their case: "Alice" and "ALICE" are one user.
Index("uq_users_username_lower", func.lower(col(User.username)), unique=True)


def holds_stamp() -> ColumnElement[bool]:
    """In SQL: the account `:caller_id` still has the stamp `:caller_stamp` of an access token (a
    password change or the account's deletion revokes it), for a read that checks the token in
    its own statement."""
    users: Table = User.__table__  # type: ignore[attr-defined]
    return exists().where(
        users.c.id == bindparam("caller_id"), users.c.auth_stamp == bindparam("caller_stamp")
    )


def stamp_values(caller: Caller) -> dict[str, object]:
    """The bound parameters of `holds_stamp()` for a caller."""
    return {"caller_id": caller.user_id, "caller_stamp": caller.stamp}


# The check on its own, for a read whose own statement found nothing and for the routes that do not
# fold it into theirs: built once.
STAMP_HELD = select(holds_stamp())
