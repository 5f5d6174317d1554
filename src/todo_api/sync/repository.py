"""Every SQL statement of the sync feed: recording changes at commit, and reading them back."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, event, func, insert, inspect, text, true
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.changes import PendingChanges, pending, take
from todo_api.core.errors import InvalidToken
from todo_api.core.security import Caller
from todo_api.models import (
    ListMember,
    Role,
    SyncChange,
    SyncState,
    Task,
    TaskList,
    User,
    holds_stamp,
    stamp_values,
)
from todo_api.models.task import PUBLIC_COLUMNS, TaskRow

# Serialises the numbering of change records on PostgreSQL (see SyncChange).
SYNC_LOCK_ID = 0x5C0DE
NOTIFY_CHANNEL = "todo_api_sync"


@event.listens_for(Session, "after_flush")
def _gather(session: Session, _context: Any) -> None:
    """Every task and list the ORM wrote is a change for the members of its list (both lists,
    for a task that moved)."""
    changes: PendingChanges | None = None
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, Task | TaskList) or (obj in session.dirty and not session.is_modified(obj)):
            continue
        changes = changes or pending(session)
        if isinstance(obj, TaskList):
            assert obj.id is not None
            changes.for_members.add((obj.id, "list", obj.id))
            continue
        assert obj.id is not None
        changes.for_members.add((obj.list_id, "task", obj.id))
        for previous in inspect(obj).attrs.list_id.history.deleted or ():
            changes.for_members.add((previous, "task", obj.id))


# The reads of every GET /sync, built once (bound parameters), over the tables' own columns: plain
# Core, no ORM loading.
_changes_table: Table = SyncChange.__table__  # type: ignore[attr-defined]
_state_table: Table = SyncState.__table__  # type: ignore[attr-defined]
_tasks_table: Table = Task.__table__  # type: ignore[attr-defined]
_members_table: Table = ListMember.__table__  # type: ignore[attr-defined]

# By whether the caller's access token is still to be checked (an API token was, when it was found).
_MARKS = {
    checks_stamp: select(
        select(func.max(_changes_table.c.seq)).scalar_subquery(),
        func.coalesce(select(_state_table.c.purged_through).scalar_subquery(), 0),
        holds_stamp() if checks_stamp else true(),
    )
    for checks_stamp in (True, False)
}
_latest = func.max(_changes_table.c.seq)
_LATEST_AFTER = (
    select(_latest, _changes_table.c.kind, _changes_table.c.object_id)
    .where(_changes_table.c.user_id == bindparam("user_id"), _changes_table.c.seq > bindparam("seq"))
    .group_by(_changes_table.c.kind, _changes_table.c.object_id)
    .order_by(_latest)
    .limit(bindparam("limit"))
)
_MEMBERS_OF_LISTS = select(_members_table.c.list_id, _members_table.c.user_id).where(
    _members_table.c.list_id.in_(bindparam("list_ids", expanding=True))
)
_member_of = select(_members_table.c.list_id).where(_members_table.c.user_id == bindparam("user_id"))
_visible_tasks = (
    select(*PUBLIC_COLUMNS)
    .where(_tasks_table.c.list_id.in_(_member_of.scalar_subquery()), _tasks_table.c.deleted_at.is_(None))
    .order_by(_tasks_table.c.id)
)
_TASKS_BY_ID = _visible_tasks.where(_tasks_table.c.id.in_(bindparam("ids", expanding=True)))
_TASKS_AFTER = _visible_tasks.where(_tasks_table.c.id > bindparam("after_id"))


class SyncRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Recording.

    async def members_of(self, list_id: int) -> list[int]:
        statement = select(ListMember.user_id).where(col(ListMember.list_id) == list_id)
        return [int(user_id) for user_id in (await self.session.exec(statement)).all()]

    async def task_ids(self, list_id: int, *, live_only: bool) -> list[int]:
        statement = select(Task.id).where(col(Task.list_id) == list_id)
        if live_only:
            statement = statement.where(col(Task.deleted_at).is_(None))
        return [int(task_id) for task_id in (await self.session.exec(statement)).all() if task_id is not None]

    async def publish(self, now: datetime) -> set[int]:
        """Write this transaction's change records (call it last, just before COMMIT); the users
        they are for."""
        changes = take(self.session)
        if not changes:
            return set()
        is_postgresql = self.session.get_bind().dialect.name == "postgresql"
        if is_postgresql:
            # Held until the commit is visible: records are numbered in the order they commit.
            connection = await self.session.connection()
            await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SYNC_LOCK_ID})
        rows = set(changes.for_users)
        list_ids = {list_id for list_id, _, _ in changes.for_members}
        if list_ids:
            members: dict[int, list[int]] = {}
            found = await self.session.exec(_MEMBERS_OF_LISTS, params={"list_ids": list(list_ids)})
            for list_id, user_id in found.all():
                members.setdefault(list_id, []).append(user_id)
            for list_id, kind, object_id in changes.for_members:
                rows.update((user_id, kind, object_id) for user_id in members.get(list_id, ()))
        if changes.for_users:
            # An account deleted in this transaction has nobody left to tell. (Its memberships went
            # with it, so the members read above are all alive.)
            users = {user_id for user_id, _, _ in rows}
            existing = select(User.id).where(col(User.id).in_(users))
            alive = {
                int(user_id) for user_id in (await self.session.exec(existing)).all() if user_id is not None
            }
            rows = {row for row in rows if row[0] in alive}
        if not rows:
            return set()
        values = [
            {"user_id": user_id, "kind": kind, "object_id": object_id, "created_at": now}
            for user_id, kind, object_id in sorted(rows)
        ]
        await self.session.exec(insert(SyncChange), params=values)
        users = {user_id for user_id, _, _ in rows}
        if is_postgresql:
            payload = ",".join(map(str, sorted(users)))
            connection = await self.session.connection()
            await connection.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": NOTIFY_CHANNEL, "payload": payload if len(payload) < 7000 else "*"},
            )
        return users

    # Reading.

    async def marks(self, caller: Caller) -> tuple[int | None, int]:
        """The newest committed change number (None if no record is left) and the purge mark, in
        one statement that also checks the caller's access token: InvalidToken when it no longer
        holds."""
        statement = _MARKS[caller.stamp is not None]
        newest, purged, valid = (await self.session.exec(statement, params=stamp_values(caller))).one()
        if not valid:
            raise InvalidToken
        return (int(newest) if newest is not None else None), int(purged)

    async def latest_after(self, user_id: int, seq: int, limit: int) -> Sequence[tuple[int, str, int]]:
        """The objects changed for the user after `seq`, each once with its latest change number,
        in the order of those numbers: (seq, kind, object id)."""
        rows = await self.session.exec(_LATEST_AFTER, params={"user_id": user_id, "seq": seq, "limit": limit})
        return [(int(row[0] or 0), str(row[1]), int(row[2])) for row in rows.all()]

    async def lists(
        self, user_id: int, *, ids: Iterable[int] | None = None, after_id: int = 0, limit: int | None = None
    ) -> Sequence[tuple[TaskList, Role]]:
        """The lists `user_id` is a member of (those of `ids`, or by id after `after_id`)."""
        statement = (
            select(TaskList, ListMember.role)
            .join(
                ListMember,
                (col(ListMember.list_id) == col(TaskList.id)) & (col(ListMember.user_id) == user_id),
            )
            .order_by(col(TaskList.id))
        )
        statement = (
            statement.where(col(TaskList.id).in_(list(ids)))
            if ids is not None
            else statement.where(col(TaskList.id) > after_id)
        )
        if limit is not None:
            statement = statement.limit(limit)
        return [(task_list, Role(role)) for task_list, role in (await self.session.exec(statement)).all()]

    async def tasks(
        self, user_id: int, *, ids: Iterable[int] | None = None, after_id: int = 0, limit: int | None = None
    ) -> Sequence[TaskRow]:
        """What a client sees of the tasks not in the trash on lists `user_id` is a member of (those
        of `ids`, or by id after `after_id`): plain rows, a read needs no ORM object."""
        if ids is not None:
            statement, values = _TASKS_BY_ID, {"user_id": user_id, "ids": list(ids)}
        else:
            statement, values = _TASKS_AFTER, {"user_id": user_id, "after_id": after_id}
            if limit is not None:
                statement, values = _TASKS_AFTER.limit(bindparam("limit")), {**values, "limit": limit}
        rows: Sequence[TaskRow] = (await self.session.exec(statement, params=values)).all()
        return rows

    # Retention.

    async def purge(self, cutoff: datetime) -> int:
        """Delete change records older than `cutoff`; cursors from before them expire."""
        through = (
            await self.session.exec(
                select(func.max(col(SyncChange.seq))).where(col(SyncChange.created_at) < cutoff)
            )
        ).one()
        if through is None:
            return 0
        result = await self.session.exec(delete(SyncChange).where(col(SyncChange.seq) <= through))
        state = await self.session.get(SyncState, 1)
        if state is None:
            self.session.add(SyncState(id=1, purged_through=int(through)))
        else:
            state.purged_through = max(state.purged_through, int(through))
        await self.session.flush()
        return int(result.rowcount)
