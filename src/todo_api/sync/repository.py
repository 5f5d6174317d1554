"""Every SQL statement of the sync feed: recording changes at commit, and reading them back."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, event, func, insert, inspect, text
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.changes import PendingChanges, pending, take
from todo_api.models import ListMember, Role, SyncChange, SyncState, Task, TaskList, User
from todo_api.tasks.repository import PUBLIC_COLUMNS

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
            statement = select(ListMember.list_id, ListMember.user_id).where(
                col(ListMember.list_id).in_(list_ids)
            )
            members: dict[int, list[int]] = {}
            for list_id, user_id in (await self.session.exec(statement)).all():
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

    async def last_seq(self) -> int:
        """The newest committed change number (the purge mark if none is left)."""
        newest = (await self.session.exec(select(func.max(col(SyncChange.seq))))).one()
        return int(newest) if newest is not None else await self.purged_through()

    async def purged_through(self) -> int:
        state = (await self.session.exec(select(SyncState.purged_through))).first()
        return int(state or 0)

    async def latest_after(self, user_id: int, seq: int, limit: int) -> Sequence[tuple[int, str, int]]:
        """The objects changed for the user after `seq`, each once with its latest change number,
        in the order of those numbers: (seq, kind, object id)."""
        latest = func.max(col(SyncChange.seq))
        statement = (
            select(latest, SyncChange.kind, SyncChange.object_id)
            .where(col(SyncChange.user_id) == user_id, col(SyncChange.seq) > seq)
            .group_by(col(SyncChange.kind), col(SyncChange.object_id))
            .order_by(latest)
            .limit(limit)
        )
        return [
            (int(row[0] or 0), str(row[1]), int(row[2])) for row in (await self.session.exec(statement)).all()
        ]

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
    ) -> Sequence[Row[Any]]:
        """What a client sees of the tasks not in the trash on lists `user_id` is a member of
        (plain rows: a read needs no ORM object)."""
        member_of = select(ListMember.list_id).where(col(ListMember.user_id) == user_id)
        statement = (
            select(*PUBLIC_COLUMNS)
            .where(col(Task.list_id).in_(member_of.scalar_subquery()), col(Task.deleted_at).is_(None))
            .order_by(col(Task.id))
        )
        statement = (
            statement.where(col(Task.id).in_(list(ids)))
            if ids is not None
            else statement.where(col(Task.id) > after_id)
        )
        if limit is not None:
            statement = statement.limit(limit)
        rows: Sequence[Row[Any]] = (await self.session.exec(statement)).all()
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
