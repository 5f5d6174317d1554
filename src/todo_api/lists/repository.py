"""Every SQL statement of the lists domain: lists, their members, and what membership changes."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, update
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.changes import Event, note_event, pending
from todo_api.core.db import utcnow
from todo_api.core.errors import PreconditionFailed
from todo_api.models import ListMember, Role, Task, TaskList, User

_SORT_COLUMNS: dict[str, Any] = {
    "created_at": col(TaskList.created_at),
    "name": func.lower(col(TaskList.name)),
}


def _order_by(sort: str) -> list[ColumnElement[Any]]:
    """ORDER BY a sort key (`-` first for descending), ties broken by id in the same direction."""
    descending = sort.startswith("-")
    column = _SORT_COLUMNS[sort.lstrip("-")]
    if descending:
        return [column.desc(), col(TaskList.id).desc()]
    return [column.asc(), col(TaskList.id).asc()]


def _as_member(user_id: int) -> ColumnElement[bool]:
    """Join condition: the membership of `user_id` in the list of the row."""
    return (col(ListMember.list_id) == col(TaskList.id)) & (col(ListMember.user_id) == user_id)


# Read by every task created without a list: built once.
_INBOX_ID = select(TaskList.id).where(col(TaskList.owner_id) == bindparam("user_id"), col(TaskList.is_inbox))


class ListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, task_list: TaskList) -> TaskList:
        self.session.add(task_list)
        try:
            await self.session.flush()
        except StaleDataError:
            raise PreconditionFailed from None
        return task_list

    async def add_member(self, member: ListMember) -> ListMember:
        self.session.add(member)
        await self.session.flush()
        return member

    async def get(self, list_id: int) -> TaskList | None:
        return await self.session.get(TaskList, list_id)

    async def get_for_member(
        self, list_id: int, user_id: int, *, for_update: bool = False
    ) -> tuple[TaskList, Role] | None:
        """The list and the caller's role on it; None when it does not exist or they are no member."""
        statement = (
            select(TaskList, ListMember.role)
            .join(ListMember, _as_member(user_id))
            .where(col(TaskList.id) == list_id)
        )
        if for_update:
            statement = statement.with_for_update(of=TaskList)
        row = (await self.session.exec(statement)).first()
        return (row[0], Role(row[1])) if row else None

    async def role_of(self, list_id: int, user_id: int) -> Role | None:
        statement = select(ListMember.role).where(
            col(ListMember.list_id) == list_id, col(ListMember.user_id) == user_id
        )
        role = (await self.session.exec(statement)).first()
        return Role(role) if role is not None else None

    async def inbox_id(self, user_id: int) -> int | None:
        inbox: int | None = (await self.session.exec(_INBOX_ID, params={"user_id": user_id})).first()
        return inbox

    async def page_for_member(
        self, user_id: int, sort: str, skip: int, limit: int
    ) -> tuple[Sequence[tuple[TaskList, Role]], int]:
        """One page of the lists `user_id` is a member of, with their role, and how many there are."""
        count = select(func.count()).select_from(ListMember).where(col(ListMember.user_id) == user_id)
        page = (
            select(TaskList, ListMember.role, count.scalar_subquery().label("total"))
            .join(ListMember, _as_member(user_id))
            .order_by(*_order_by(sort))
            .offset(skip)
            .limit(limit)
        )
        rows = (await self.session.exec(page)).all()
        if rows:
            return [(task_list, Role(role)) for task_list, role, _ in rows], rows[0][2]
        return [], (await self.session.exec(count)).one() if skip else 0

    async def delete(self, task_list: TaskList) -> None:
        """Delete the list; the database deletes its members and tasks with it."""
        await self.session.delete(task_list)
        try:
            await self.session.flush()
        except StaleDataError:
            raise PreconditionFailed from None

    async def members(self, list_id: int) -> Sequence[tuple[ListMember, str]]:
        """The members with their usernames: the owner first, then by username."""
        statement = (
            select(ListMember, User.username)
            .join(User, col(User.id) == col(ListMember.user_id))
            .where(col(ListMember.list_id) == list_id)
            .order_by((col(ListMember.role) == Role.owner).desc(), func.lower(col(User.username)))
        )
        return (await self.session.exec(statement)).all()

    async def get_member(
        self, list_id: int, user_id: int, *, for_update: bool = False
    ) -> tuple[ListMember, str] | None:
        statement = (
            select(ListMember, User.username)
            .join(User, col(User.id) == col(ListMember.user_id))
            .where(col(ListMember.list_id) == list_id, col(ListMember.user_id) == user_id)
        )
        if for_update:
            statement = statement.with_for_update(of=ListMember)
        row = (await self.session.exec(statement)).first()
        return (row[0], row[1]) if row else None

    async def find_user(self, login: str) -> tuple[int, str] | None:
        """The id and username of the user whose username or e-mail is `login`, whatever its case."""
        login = login.strip().lower()
        column = col(User.email) if "@" in login else func.lower(col(User.username))
        row = (await self.session.exec(select(User.id, User.username).where(column == login))).first()
        if row is None or row[0] is None:
            return None
        return row[0], row[1]

    async def set_role(self, list_id: int, user_id: int, role: Role) -> None:
        await self.session.exec(
            update(ListMember)
            .where(col(ListMember.list_id) == list_id, col(ListMember.user_id) == user_id)
            .values(role=role)
        )

    async def remove_member(self, list_id: int, user_id: int) -> None:
        await self.session.exec(
            delete(ListMember).where(col(ListMember.list_id) == list_id, col(ListMember.user_id) == user_id)
        )

    async def unassign_tasks(self, list_id: int, user_id: int, now: datetime) -> None:
        """Tasks of the list assigned to `user_id` become unassigned (a change to each of them)."""
        result = await self.session.exec(
            update(Task)
            .where(col(Task.list_id) == list_id, col(Task.assignee_id) == user_id)
            .values(assignee_id=None, updated_at=now, version=col(Task.version) + 1)
            .returning(col(Task.id), col(Task.deleted_at))
            .execution_options(synchronize_session=False)
        )
        rows = result.all()
        pending(self.session).for_members.update((list_id, "task", task_id) for task_id, _ in rows)
        for task_id, deleted_at in rows:
            if deleted_at is None:  # one in the trash was announced as deleted
                self.note(Event("task.updated", list_id, task_id))

    def note(self, event: Event) -> None:
        """Something happened to the list or its members (for webhooks)."""
        note_event(self.session, event)

    # What the sync feed cannot see from the ORM's writes alone.

    async def note_shown(self, list_id: int, user_id: int) -> None:
        """The list, and every task on it, became visible to `user_id`."""
        changes = pending(self.session).for_users
        changes.add((user_id, "list", list_id))
        changes.update((user_id, "task", task_id) for task_id in await self._task_ids(list_id))

    async def note_hidden(self, list_id: int, user_ids: Sequence[int] | None = None) -> None:
        """The list and its tasks are no longer visible to these users (None: every member now)."""
        if user_ids is None:
            statement = select(ListMember.user_id).where(col(ListMember.list_id) == list_id)
            user_ids = list((await self.session.exec(statement)).all())
        task_ids = await self._task_ids(list_id)
        changes = pending(self.session).for_users
        for user_id in user_ids:
            changes.add((user_id, "list", list_id))
            changes.update((user_id, "task", task_id) for task_id in task_ids)

    def note_role_changed(self, list_id: int, user_id: int) -> None:
        pending(self.session).for_users.add((user_id, "list", list_id))

    async def owned_by(self, user_id: int) -> list[int]:
        statement = select(TaskList.id).where(col(TaskList.owner_id) == user_id)
        return [int(list_id) for list_id in (await self.session.exec(statement)).all() if list_id is not None]

    async def memberships_of(self, user_id: int) -> Sequence[tuple[ListMember, str]]:
        """The lists `user_id` is a member of but does not own, with their username."""
        statement = (
            select(ListMember, User.username)
            .join(User, col(User.id) == col(ListMember.user_id))
            .where(col(ListMember.user_id) == user_id, col(ListMember.role) != Role.owner)
        )
        return (await self.session.exec(statement)).all()

    async def note_user_leaving_tasks(self, user_id: int) -> None:
        """Tasks that name `user_id` (made by or assigned to them) change when the account goes."""
        statement = select(Task.list_id, Task.id, Task.deleted_at).where(
            (col(Task.created_by) == user_id) | (col(Task.assignee_id) == user_id)
        )
        rows = (await self.session.exec(statement)).all()
        pending(self.session).for_members.update(
            (list_id, "task", int(task_id or 0)) for list_id, task_id, _ in rows
        )
        for list_id, task_id, deleted_at in rows:
            if deleted_at is None and task_id is not None:
                self.note(Event("task.updated", list_id, task_id))
        if rows:
            # The database clears those fields (ON DELETE SET NULL) without moving the version: it
            # moves here, so that each such task gets a new ETag.
            await self.session.exec(
                update(Task)
                .where(col(Task.id).in_([task_id for _, task_id, _ in rows]))
                .values(version=col(Task.version) + 1, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    async def _task_ids(self, list_id: int) -> list[int]:
        statement = select(Task.id).where(col(Task.list_id) == list_id, col(Task.deleted_at).is_(None))
        return [int(task_id) for task_id in (await self.session.exec(statement)).all() if task_id is not None]
