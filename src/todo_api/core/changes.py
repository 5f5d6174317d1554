"""What a transaction changed, for the sync feed: gathered as it goes, written just before commit.

Repositories note here the changes the ORM cannot see (a visibility change, an UPDATE statement, a
list about to be deleted with its members); the sync domain notes the ORM's own writes and turns
all of it into change records at commit.
"""

from dataclasses import dataclass, field
from typing import Literal, Protocol

Kind = Literal["list", "task"]
_KEY = "todo_api.changes"


class HasInfo(Protocol):
    @property
    def info(self) -> dict[object, object]: ...


@dataclass
class PendingChanges:
    # (list, kind, object id): a change for every member of the list at commit.
    for_members: set[tuple[int, str, int]] = field(default_factory=set)
    # (user, kind, object id): a change for that user (visibility changes; a deleted list's members).
    for_users: set[tuple[int, str, int]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.for_members or self.for_users)


def pending(session: HasInfo) -> PendingChanges:
    """The changes gathered so far in `session`'s transaction."""
    found = session.info.get(_KEY)
    if not isinstance(found, PendingChanges):
        found = PendingChanges()
        session.info[_KEY] = found
    return found


def take(session: HasInfo) -> PendingChanges:
    """The changes gathered, forgotten by the session (they are being written)."""
    found = session.info.pop(_KEY, None)
    return found if isinstance(found, PendingChanges) else PendingChanges()
