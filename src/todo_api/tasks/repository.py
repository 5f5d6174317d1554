"""Tasks and idempotency keys: every SQL statement of the tasks domain."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.errors import PreconditionFailed
from todo_api.models import IdempotencyKey, Task, TaskPriority, TaskStatus

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
        self, owner_id: int, where: TaskFilter, sort: str, skip: int, limit: int, now: datetime
    ) -> tuple[Sequence[Task], int]:
        """One page of the owner's tasks matching the filter, and how many match in all."""
        conditions: list[ColumnElement[bool]] = [col(Task.owner_id) == owner_id]
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


class IdempotencyKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int, key: str) -> IdempotencyKey | None:
        statement = select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        result = await self.session.exec(statement.execution_options(populate_existing=True))
        return result.first()

    async def claim(self, user_id: int, key: str, request_hash: str, now: datetime) -> bool:
        """Insert the key unless it exists; False when another request holds it.

        On PostgreSQL a concurrent claim waits here until the other transaction ends, so a False
        always means the other request's record (with its response) is committed and readable.
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(IdempotencyKey)
            .values(user_id=user_id, key=key, request_hash=request_hash, created_at=now)
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(col(IdempotencyKey.id))
        )
        result = await self.session.exec(statement)
        return result.first() is not None

    async def save_response(self, user_id: int, key: str, response: dict[str, Any]) -> None:
        await self.session.exec(
            update(IdempotencyKey)
            .where(col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key)
            .values(response=response)
        )

    async def delete(self, record: IdempotencyKey) -> None:
        await self.session.delete(record)
        await self.session.flush()

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Delete every record created before `cutoff`; how many went."""
        statement = delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < cutoff)
        result = await self.session.exec(statement)
        return int(result.rowcount)
