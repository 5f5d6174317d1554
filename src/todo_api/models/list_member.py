from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from todo_api.core.db import UTCDateTime, utcnow


class Role(StrEnum):
    """What a member may do on a list; each role allows what the ones before it allow."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"
    owner = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.viewer: 1, Role.editor: 2, Role.admin: 3, Role.owner: 4}


class RoleType(TypeDecorator[Role]):
    """A role stored as its name, and read back as a `Role`."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else Role(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> Role | None:
        return None if value is None else Role(value)


class ListMember(SQLModel, table=True):
    """Who may see a list, and with which role. The owner is a member too, with the role `owner`."""

    __tablename__ = "list_members"

    list_id: int = Field(
        sa_column=Column(Integer, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)
    )
    # Indexed: "every list I am a member of" is in every task query.
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    )
    role: Role = Field(sa_type=RoleType)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
