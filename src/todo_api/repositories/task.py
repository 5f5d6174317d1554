from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.errors import PreconditionFailed
from todo_api.models import Task, TaskStatus
from todo_api.schemas.task import TaskListParams, TaskSort

_SORT_COLUMNS: dict[str, Any] = {
    "created_at": col(Task.created_at),
    "updated_at": col(Task.updated_at),
    "due_date": col(Task.due_date),
    "priority": col(Task.priority),
    "title": func.lower(col(Task.title)),
}


def _order_by(sort: TaskSort) -> list[ColumnElement[Any]]:
    """The ORDER BY of a sort key; ties fall back to id, in the key's direction, so pages are stable."""
    descending = sort.value.startswith("-")
    column = _SORT_COLUMNS[sort.value.lstrip("-")]
    key = column.desc() if descending else column.asc()
    if sort in (TaskSort.due_date_asc, TaskSort.due_date_desc):
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

    async def get_for_owner(self, task_id: int, owner_id: int, *, for_update: bool = False) -> Task | None:
        """The task, or None when it does not exist or belongs to someone else.

        `for_update` locks the row until the transaction ends, for a read that precedes a write.
        """
        statement = select(Task).where(Task.id == task_id, Task.owner_id == owner_id)
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.exec(statement)
        return result.first()

    async def list_for_owner(
        self, owner_id: int, params: TaskListParams, now: datetime
    ) -> tuple[Sequence[Task], int]:
        """One page of the owner's tasks matching the filters, and how many match in all."""
        conditions: list[ColumnElement[bool]] = [col(Task.owner_id) == owner_id]
        if params.due_after is not None:
            conditions.append(col(Task.due_date) >= params.due_after)
        if params.due_before is not None:
            conditions.append(col(Task.due_date) < params.due_before)
        if params.overdue is not None:
            overdue = (col(Task.due_date) < now) & (col(Task.status) != TaskStatus.completed)
            conditions.append(overdue if params.overdue else ~overdue | col(Task.due_date).is_(None))
        if params.status_filter is not None:
            conditions.append(col(Task.status) == params.status_filter)
        if params.priority is not None:
            conditions.append(col(Task.priority) == params.priority)
        if params.q is not None:
            conditions.append(
                col(Task.title).icontains(params.q, autoescape=True)
                | col(Task.description).icontains(params.q, autoescape=True)
            )
        count = select(func.count()).select_from(Task).where(*conditions)
        # The page and the total in one statement (one round trip, one snapshot). The count is an
        # uncorrelated subquery, evaluated once, not per row.
        page = (
            select(Task, count.correlate(None).scalar_subquery().label("total"))
            .where(*conditions)
            .order_by(*_order_by(params.sort))
            .offset(params.skip)
            .limit(params.limit)
        )
        rows = (await self.session.exec(page)).all()
        if rows:
            return [task for task, _ in rows], rows[0][1]
        if params.skip == 0:
            return [], 0
        # A page past the end has no row to carry the total.
        return [], (await self.session.exec(count)).one()

    async def delete(self, task: Task) -> None:
        await self.session.delete(task)
        try:
            await self.session.flush()
        except StaleDataError:
            raise PreconditionFailed from None
