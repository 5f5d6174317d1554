"""Every SQL statement of the tasks domain."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.errors import PreconditionFailed
from todo_api.models import ListMember, Role, Task, TaskPriority, TaskStatus

_SORT_COLUMNS: dict[str, Any] = {
    "created_at": col(Task.created_at),
    "updated_at": col(Task.updated_at),
    "due_date": col(Task.due_date),
    "priority": col(Task.priority),
    "title": func.lower(col(Task.title)),
}


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What a listing is narrowed to; None is "any"."""

    list_id: int | None = None
    assignee_id: int | None = None
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    search: str | None = None
    due_after: datetime | None = None
    due_before: datetime | None = None
    overdue: bool | None = None


def _order_by(sort: str) -> list[ColumnElement[Any]]:
    """The ORDER BY of a sort key (`-` first for descending); ties fall back to id, in the key's
    direction, so pages are stable."""
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    column = _SORT_COLUMNS[name]
    key = column.desc() if descending else column.asc()
    if name == "due_date":
        key = key.nulls_last()
    tie = col(Task.id).desc() if descending else col(Task.id).asc()
    return [key, tie]


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, task: Task) -> Task:
        self.session.add(task)
        try:
            await self.session.flush()
        except StaleDataError:
            # The UPDATE found the row at another version than the one read: a concurrent write.
            raise PreconditionFailed from None
        return task

    async def get_visible(
        self, task_id: int, user_id: int, *, for_update: bool = False
    ) -> tuple[Task, Role] | None:
        """The task and the caller's role on its list; None when it does not exist or is on a list
        they are no member of (one statement: the membership is part of the read).

        `for_update` locks the row until the transaction ends, for a read that precedes a write.
        """
        statement = (
            select(Task, ListMember.role)
            .join(
                ListMember,
                (col(ListMember.list_id) == col(Task.list_id)) & (col(ListMember.user_id) == user_id),
            )
            .where(col(Task.id) == task_id)
        )
        if for_update:
            statement = statement.with_for_update(of=Task)
        row = (await self.session.exec(statement)).first()
        return (row[0], Role(row[1])) if row else None

    async def list_visible(
        self, user_id: int, where: TaskFilter, sort: str, skip: int, limit: int, now: datetime
    ) -> tuple[Sequence[Task], int]:
        """One page of the tasks on every list `user_id` is a member of that match the filter, and
        how many match in all."""
        member_of = select(ListMember.list_id).where(col(ListMember.user_id) == user_id)
        conditions: list[ColumnElement[bool]] = [col(Task.list_id).in_(member_of.scalar_subquery())]
        if where.list_id is not None:
            conditions.append(col(Task.list_id) == where.list_id)
        if where.assignee_id is not None:
            conditions.append(col(Task.assignee_id) == where.assignee_id)
        if where.due_after is not None:
            conditions.append(col(Task.due_date) >= where.due_after)
        if where.due_before is not None:
            conditions.append(col(Task.due_date) < where.due_before)
        if where.overdue is not None:
            overdue = (col(Task.due_date) < now) & (col(Task.status) != TaskStatus.completed)
            conditions.append(overdue if where.overdue else ~overdue | col(Task.due_date).is_(None))
        if where.status is not None:
            conditions.append(col(Task.status) == where.status)
        if where.priority is not None:
            conditions.append(col(Task.priority) == where.priority)
        if where.search is not None:
            conditions.append(
                col(Task.title).icontains(where.search, autoescape=True)
                | col(Task.description).icontains(where.search, autoescape=True)
            )
        count = select(func.count()).select_from(Task).where(*conditions)
        # The page and the total in one statement (one round trip, one snapshot). The count is an
        # uncorrelated subquery, evaluated once, not per row.
        page = (
            select(Task, count.correlate(None).scalar_subquery().label("total"))
            .where(*conditions)
            .order_by(*_order_by(sort))
            .offset(skip)
            .limit(limit)
        )
        rows = (await self.session.exec(page)).all()
        if rows:
            return [task for task, _ in rows], rows[0][1]
        if skip == 0:
            return [], 0
        # A page past the end has no row to carry the total.
        return [], (await self.session.exec(count)).one()

    async def delete(self, task: Task) -> None:
        await self.session.delete(task)
        try:
            await self.session.flush()
        except StaleDataError:
            raise PreconditionFailed from None
