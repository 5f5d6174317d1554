"""What a transaction changed, for the sync feed and webhooks: gathered as it goes, written just
before commit.

Repositories note here the changes the ORM cannot see (a visibility change, an UPDATE statement, a
list about to be deleted with its members) and the events that happened (a task completed, a member
added); the sync domain notes the ORM's own writes. At commit the sync domain turns the changes into
change records and the webhooks domain turns the events into deliveries.
"""

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Kind = Literal["list", "task"]
_KEY = "todo_api.changes"


class HasInfo(Protocol):
    @property
    def info(self) -> dict[object, object]: ...


@dataclass(frozen=True)
class Event:
    """Something that happened to a list's task, the list itself, or one of its members.

    `object_id` is the task's, the list's or the member's user id. The object is read in its state at
    commit, unless `snapshot` holds it (it is gone by then). `audience` fixes who may hear of it (user
    id -> role) when the list's members at commit would be wrong (a deleted list has none).
    """

    type: str
    list_id: int
    object_id: int
    previous_list_id: int | None = None  # task.moved: the list it left
    snapshot: dict[str, Any] | None = None
    audience: dict[int, str] | None = None


@dataclass
class PendingChanges:
    # (list, kind, object id): a change for every member of the list at commit.
    for_members: set[tuple[int, str, int]] = field(default_factory=set)
    # (user, kind, object id): a change for that user (visibility changes; a deleted list's members).
    for_users: set[tuple[int, str, int]] = field(default_factory=set)
    # What happened, in order, for webhooks.
    events: list[Event] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.for_members or self.for_users or self.events)


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


def note_event(session: HasInfo, event: Event) -> None:
    """Record that `event` happened in `session`'s transaction."""
    pending(session).events.append(event)


def take_events(session: HasInfo) -> list[Event]:
    """The events recorded so far, forgotten by the session (they are being written)."""
    found = session.info.get(_KEY)
    if not isinstance(found, PendingChanges):
        return []
    events, found.events = found.events, []
    return events
