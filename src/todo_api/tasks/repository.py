"""Every SQL statement of the tasks domain."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Table,
    bindparam,
    delete,
    func,
    literal,
    true,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.changes import Event, note_event
from todo_api.core.errors import InvalidToken, PreconditionFailed
from todo_api.core.security import Caller
from todo_api.models import (
    STAMP_HELD,
    ListMember,
    Role,
    Task,
    TaskCompletion,
    TaskLabel,
    TaskPriority,
    TaskStatus,
    holds_stamp,
    stamp_values,
)
from todo_api.models.task import PUBLIC_COLUMNS, TaskRow

# The tables' own columns: a statement made of them is plain Core, with plain rows (an ORM attribute
# anywhere in a statement sends its result through the ORM's loading, even with no entity in it).
_tasks: Table = Task.__table__  # type: ignore[attr-defined]
_members: Table = ListMember.__table__  # type: ignore[attr-defined]
_labels: Table = TaskLabel.__table__  # type: ignore[attr-defined]

_SORT_COLUMNS: dict[str, Any] = {
    "position": _tasks.c.position,
    "created_at": _tasks.c.created_at,
    "updated_at": _tasks.c.updated_at,
    "due_date": _tasks.c.due_date,
    "priority": _tasks.c.priority,
    "title": func.lower(_tasks.c.title),
}


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What a listing is narrowed to; None is "any"."""

    list_id: int | None = None
    assignee_id: int | None = None
    parent_id: int | None = None
    top_level: bool | None = None
    # Label keys (case-folded names): a task must carry every one.
    labels: tuple[str, ...] = ()
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    search: str | None = None
    due_after: datetime | None = None
    due_before: datetime | None = None
    overdue: bool | None = None

    def shape(self) -> tuple[object, ...]:
        """What the filter's SQL looks like: which filters are given, how many labels, and the two
        that change the SQL by their value. Their values are bound parameters (`values`)."""
        given = tuple(getattr(self, name) is not None for name in _BOUND_FILTERS)
        return (*given, len(self.labels), self.top_level, self.overdue)

    def values(self, now: datetime) -> dict[str, object]:
        """The bound parameters of the filter's SQL."""
        values: dict[str, object] = {name: getattr(self, name) for name in _BOUND_FILTERS}
        values.update({f"label_{index}": key for index, key in enumerate(self.labels)}, now=now)
        if self.search is not None:
            values["search"] = f"%{_escape_like(self.search)}%"
        return values


# The filters whose value is a bound parameter of the same name.
_BOUND_FILTERS = (
    "list_id",
    "assignee_id",
    "parent_id",
    "status",
    "priority",
    "search",
    "due_after",
    "due_before",
)


def _escape_like(text: str) -> str:
    """`text` matched literally by LIKE ... ESCAPE '/'."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _order_by(sort: str) -> list[ColumnElement[Any]]:
    """The ORDER BY of a sort key (`-` first for descending); ties fall back to id, in the key's
    direction, so pages are stable."""
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name == "position":
        # By list, then position: each list's tasks in their manual order.
        return [_tasks.c.list_id.asc(), _tasks.c.position.asc(), _tasks.c.id.asc()]
    column = _SORT_COLUMNS[name]
    key = column.desc() if descending else column.asc()
    if name == "due_date":
        key = key.nulls_last()
    tie = _tasks.c.id.desc() if descending else _tasks.c.id.asc()
    return [key, tie]


def _visible_to() -> list[ColumnElement[bool]]:
    """Tasks on the lists the caller (`:caller_id`) is a member of, not in the trash: in the
    statement itself."""
    member_of = select(_members.c.list_id).where(_members.c.user_id == bindparam("caller_id"))
    return [_tasks.c.list_id.in_(member_of.scalar_subquery()), _live()]


def _live() -> ColumnElement[bool]:
    return _tasks.c.deleted_at.is_(None)


def _as_member(user_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """Join condition: the membership of `user_id` in the list of the task."""
    return (_members.c.list_id == _tasks.c.list_id) & (_members.c.user_id == user_id)


def _structure(where: TaskFilter) -> list[ColumnElement[bool]]:
    """The filters on where a task is: list, assignee, parent, labels (bound parameters)."""
    conditions: list[ColumnElement[bool]] = []
    for name in ("list_id", "assignee_id", "parent_id"):
        if getattr(where, name) is not None:
            conditions.append(_tasks.c[name] == bindparam(name))
    if where.top_level is not None:
        top = _tasks.c.parent_id.is_(None)
        conditions.append(top if where.top_level else ~top)
    for index in range(len(where.labels)):
        carrying = select(_labels.c.task_id).where(_labels.c.key == bindparam(f"label_{index}"))
        conditions.append(_tasks.c.id.in_(carrying.scalar_subquery()))
    return conditions


def _matching(where: TaskFilter) -> list[ColumnElement[bool]]:
    """The filters on what a task says: dates, status, priority, text (bound parameters)."""
    conditions: list[ColumnElement[bool]] = []
    if where.due_after is not None:
        conditions.append(_tasks.c.due_date >= bindparam("due_after"))
    if where.due_before is not None:
        conditions.append(_tasks.c.due_date < bindparam("due_before"))
    if where.overdue is not None:
        overdue = (_tasks.c.due_date < bindparam("now")) & (_tasks.c.status != TaskStatus.completed)
        conditions.append(overdue if where.overdue else ~overdue | _tasks.c.due_date.is_(None))
    if where.status is not None:
        conditions.append(_tasks.c.status == bindparam("status"))
    if where.priority is not None:
        conditions.append(_tasks.c.priority == bindparam("priority"))
    if where.search is not None:
        search: BindParameter[str] = bindparam("search")
        conditions.append(
            _tasks.c.title.ilike(search, escape="/") | _tasks.c.description.ilike(search, escape="/")
        )
    return conditions


# The statements of the task listings, built once per filter shape and sort (`_statements`):
# building one costs more than running it. Bounded: a shape with many labels is built each time.
_STATEMENTS: dict[tuple[object, ...], Any] = {}
_MAX_STATEMENTS = 1024


def _statements(key: tuple[object, ...], build: Callable[[], Any]) -> Any:
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = build()
        if len(_STATEMENTS) < _MAX_STATEMENTS:
            _STATEMENTS[key] = statement
    return statement


# The last position among siblings, as `_siblings` reads it (the unique index on siblings serves it).
_LAST_POSITION = select(func.max(_tasks.c.position)).where(
    _tasks.c.list_id == bindparam("list_id"), func.coalesce(_tasks.c.parent_id, 0) == bindparam("parent_key")
)


def _visible_statement(for_update: bool) -> Any:
    """A live task by `:task_id` and the role of `:user_id` on its list (as ORM objects: a write
    follows)."""
    statement = (
        select(Task, ListMember.role)
        .join(ListMember, _as_member(bindparam("user_id")))
        .where(col(Task.id) == bindparam("task_id"), _live())
    )
    return statement.with_for_update(of=Task) if for_update else statement


def _read_statement(checks_stamp: bool) -> Any:
    """A live task by `:task_id` on a list `:caller_id` is a member of, and the token check."""
    return (
        select(*PUBLIC_COLUMNS)
        .join(ListMember, _as_member(bindparam("caller_id")))
        .where(_tasks.c.id == bindparam("task_id"), _live(), *_token_check(checks_stamp))
    )


def _page_statements(where: TaskFilter, sort: str, checks_stamp: bool) -> Any:
    """A page and its total, and the statement for an empty page (token check, total)."""
    conditions = [*_visible_to(), *_structure(where), *_matching(where)]
    count = select(func.count()).select_from(_tasks).where(*conditions).scalar_subquery()
    page = (
        select(*PUBLIC_COLUMNS)
        .add_columns(count.label("total"))
        .where(*conditions, *_token_check(checks_stamp))
        .order_by(*_order_by(sort))
        .offset(bindparam("skip", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .with_hint(_tasks, f"INDEXED BY {_sort_index(where, sort)}", "sqlite")
    )
    empty = select(holds_stamp() if checks_stamp else true(), count)
    return page, empty


# The index that walks a list's live tasks in each sort key's order (models/task.py).
_SORT_INDEXES = {
    "created_at": "ix_tasks_list_created",
    "updated_at": "ix_tasks_list_updated",
    "due_date": "ix_tasks_list_due",
    "priority": "ix_tasks_list_priority",
    "position": "ix_tasks_list_position",
    "title": "ix_tasks_list_title",
}


def _sort_index(where: TaskFilter, sort: str) -> str:
    """The index a page should walk on SQLite. Its planner sees every sort index as equally good
    (each starts with list_id, deleted_at) and, with the caller's lists an IN, picks one that
    cannot give the order: it then reads and sorts every live task of those lists. Walking the
    sort key's index it stops after the page (20,000 tasks: 9.8 -> 0.5 ms)."""
    name = sort.lstrip("-")
    if name == "created_at" and where.status is not None:
        return "ix_tasks_list_status_created"
    return _SORT_INDEXES[name]


def _token_check(checks_stamp: bool) -> list[ColumnElement[bool]]:
    return [holds_stamp()] if checks_stamp else []


# The two reads of one task by id, each built once: for a write (ORM objects, locked or not), and
# for GET (plain rows, with the token check or, for an API token already checked, without).
_VISIBLE = {for_update: _visible_statement(for_update) for for_update in (False, True)}
_READ = {checks_stamp: _read_statement(checks_stamp) for checks_stamp in (False, True)}


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
        values = {"task_id": task_id, "user_id": user_id}
        row = (await self.session.exec(_VISIBLE[for_update], params=values)).first()
        return (row[0], Role(row[1])) if row else None

    async def read_visible(self, task_id: int, caller: Caller) -> TaskRow | None:
        """What a client sees of a task on a list the caller is a member of (`PUBLIC_FIELDS` and
        `version`), or None. One statement, which also checks the caller's access token: InvalidToken
        when it no longer holds. Plain rows, no ORM object: a read changes nothing."""
        checks_stamp = caller.stamp is not None
        values = {**stamp_values(caller), "task_id": task_id}
        row: TaskRow | None = (await self.session.exec(_READ[checks_stamp], params=values)).first()
        if row is None and checks_stamp:
            held = (await self.session.exec(STAMP_HELD, params=values)).first()
            if not held:
                raise InvalidToken
        return row

    async def page_visible(
        self, caller: Caller, where: TaskFilter, sort: str, skip: int, limit: int, now: datetime
    ) -> tuple[Sequence[TaskRow], int]:
        """One page of the tasks on every list the caller is a member of that match the filter, as
        in `read_visible`, and how many match in all.

        A page with rows is one statement: the caller's access token, their memberships, the page
        and the total (an uncorrelated subquery, evaluated once). An empty page takes a second one,
        which tells a revoked token (InvalidToken) from nothing to show, and counts past the end.
        """
        checks_stamp = caller.stamp is not None
        page, empty = _statements(
            ("page", where.shape(), sort, checks_stamp), lambda: _page_statements(where, sort, checks_stamp)
        )
        values = {**stamp_values(caller), **where.values(now), "skip": skip, "limit": limit}
        rows = (await self.session.exec(page, params=values)).all()
        if rows:
            return rows, rows[0].total
        valid, total = (await self.session.exec(empty, params=values)).one()
        if not valid:
            raise InvalidToken
        return [], total

    def note(self, event_type: str, task: Task, **details: Any) -> None:
        """Something happened to the task (for webhooks)."""
        assert task.id is not None
        note_event(self.session, Event(event_type, task.list_id, task.id, **details))

    async def delete(self, task: Task) -> None:
        await self.session.delete(task)
        try:
            await self.session.flush()
        except StaleDataError:
            raise PreconditionFailed from None

    # Subtasks: the tree is at most MAX_DEPTH levels deep, so these recursive queries stay small.

    async def ancestry(self, task_id: int) -> list[int]:
        """The ids from `task_id` up to its top-level ancestor, the task first."""
        start = select(col(Task.id), col(Task.parent_id), literal(1).label("level"))
        up = start.where(col(Task.id) == task_id).cte("ancestry", recursive=True)
        parent = aliased(Task)
        chain = up.union_all(
            select(parent.id, parent.parent_id, up.c.level + 1).where(parent.id == up.c.parent_id)
        )
        rows = (await self.session.exec(select(chain.c.id).order_by(chain.c.level))).all()
        return [int(row) for row in rows]

    async def subtree(self, task_id: int) -> list[tuple[int, int]]:
        """Every task under `task_id` not in the trash, at any depth, as (id, depth): 1 for its direct
        subtasks."""
        start = select(col(Task.id), literal(1).label("depth")).where(col(Task.parent_id) == task_id, _live())
        down = start.cte("subtree", recursive=True)
        child = aliased(Task)
        tree = down.union_all(
            select(child.id, down.c.depth + 1).where(
                child.parent_id == down.c.id, col(child.deleted_at).is_(None)
            )
        )
        rows = (await self.session.exec(select(tree.c.id, tree.c.depth))).all()
        return [(int(row[0]), int(row[1])) for row in rows]

    async def get_many_for_update(self, task_ids: Sequence[int]) -> Sequence[Task]:
        if not task_ids:
            return []
        statement = select(Task).where(col(Task.id).in_(task_ids)).order_by(col(Task.id)).with_for_update()
        return (await self.session.exec(statement)).all()

    # Order among siblings (same list, same parent).

    def _siblings(
        self, list_id: int, parent_id: int | None, exclude: int | None
    ) -> list[ColumnElement[bool]]:
        # coalesce(parent_id, 0), as in the unique index on siblings, so that index serves these.
        conditions = [
            col(Task.list_id) == list_id,
            func.coalesce(col(Task.parent_id), 0) == (parent_id or 0),
        ]
        if exclude is not None:
            conditions.append(col(Task.id) != exclude)
        return conditions

    async def last_position(
        self, list_id: int, parent_id: int | None, exclude: int | None = None
    ) -> str | None:
        if exclude is None:
            # Every task created at the end of its list: built once.
            values = {"list_id": list_id, "parent_key": parent_id or 0}
            last: str | None = (await self.session.exec(_LAST_POSITION, params=values)).one()
            return last
        statement = select(func.max(col(Task.position))).where(*self._siblings(list_id, parent_id, exclude))
        return (await self.session.exec(statement)).one()

    async def first_position(
        self, list_id: int, parent_id: int | None, exclude: int | None = None
    ) -> str | None:
        statement = select(func.min(col(Task.position))).where(*self._siblings(list_id, parent_id, exclude))
        return (await self.session.exec(statement)).one()

    async def position_after(
        self, list_id: int, parent_id: int | None, position: str, exclude: int | None = None
    ) -> str | None:
        """The position of the sibling right after `position`, if there is one."""
        statement = select(func.min(col(Task.position))).where(
            *self._siblings(list_id, parent_id, exclude), col(Task.position) > position
        )
        return (await self.session.exec(statement)).one()

    async def sibling(self, task_id: int, list_id: int, parent_id: int | None) -> Task | None:
        """The task `task_id` if it is a sibling at (list, parent)."""
        statement = select(Task).where(
            col(Task.id) == task_id, _live(), *self._siblings(list_id, parent_id, None)
        )
        return (await self.session.exec(statement)).first()

    # Labels.

    async def set_labels(self, task_id: int, names: Sequence[str]) -> None:
        await self.session.exec(delete(TaskLabel).where(col(TaskLabel.task_id) == task_id))
        for name in names:
            self.session.add(TaskLabel(task_id=task_id, key=name.casefold(), name=name))
        await self.session.flush()

    async def label_counts(self, user_id: int) -> Sequence[tuple[str, int]]:
        """Every label on a task of a list `user_id` is a member of: one spelling and a count, by key."""
        member_of = select(ListMember.list_id).where(col(ListMember.user_id) == user_id)
        statement = (
            select(func.min(col(TaskLabel.name)), func.count())
            .join(Task, col(Task.id) == col(TaskLabel.task_id))
            .where(col(Task.list_id).in_(member_of.scalar_subquery()), _live())
            .group_by(col(TaskLabel.key))
            .order_by(col(TaskLabel.key))
        )
        return [(str(name), int(count)) for name, count in (await self.session.exec(statement)).all()]

    # Completions.

    async def add_completion(self, completion: TaskCompletion) -> None:
        self.session.add(completion)
        await self.session.flush()

    async def completions(self, task_id: int, skip: int, limit: int) -> tuple[Sequence[TaskCompletion], int]:
        """A page of the task's completions, newest first, and how many there are."""
        total = (
            await self.session.exec(
                select(func.count()).select_from(TaskCompletion).where(col(TaskCompletion.task_id) == task_id)
            )
        ).one()
        page = (
            select(TaskCompletion)
            .where(col(TaskCompletion.task_id) == task_id)
            .order_by(col(TaskCompletion.completed_at).desc(), col(TaskCompletion.id).desc())
            .offset(skip)
            .limit(limit)
        )
        return (await self.session.exec(page)).all(), total

    # The trash.

    async def get_trashed(
        self, task_id: int, user_id: int, *, for_update: bool = False
    ) -> tuple[Task, Role] | None:
        """A task deleted itself (a trash item) on a list `user_id` is a member of, with their role."""
        statement = (
            select(Task, ListMember.role)
            .join(ListMember, _as_member(user_id))
            .where(
                col(Task.id) == task_id,
                col(Task.deleted_at).is_not(None),
                col(Task.trashed_with_id).is_(None),
            )
        )
        if for_update:
            statement = statement.with_for_update(of=Task)
        row = (await self.session.exec(statement)).first()
        return (row[0], Role(row[1])) if row else None

    async def trashed_with(self, task_id: int) -> Sequence[Task]:
        """The subtasks that went to the trash with `task_id`."""
        statement = select(Task).where(col(Task.trashed_with_id) == task_id).with_for_update()
        return (await self.session.exec(statement)).all()

    async def is_live(self, task_id: int, list_id: int) -> bool:
        statement = select(Task.id).where(col(Task.id) == task_id, col(Task.list_id) == list_id, _live())
        return (await self.session.exec(statement)).first() is not None

    async def trash_page(
        self, user_id: int, list_id: int | None, skip: int, limit: int
    ) -> tuple[Sequence[Task], int]:
        """Trash items on the lists of `user_id`, newest deletion first, and how many there are."""
        member_of = select(ListMember.list_id).where(col(ListMember.user_id) == user_id)
        conditions: list[ColumnElement[bool]] = [
            col(Task.list_id).in_(member_of.scalar_subquery()),
            col(Task.deleted_at).is_not(None),
            col(Task.trashed_with_id).is_(None),
        ]
        if list_id is not None:
            conditions.append(col(Task.list_id) == list_id)
        total = (await self.session.exec(select(func.count()).select_from(Task).where(*conditions))).one()
        page = (
            select(Task)
            .where(*conditions)
            .order_by(col(Task.deleted_at).desc(), col(Task.id).desc())
            .offset(skip)
            .limit(limit)
        )
        return (await self.session.exec(page)).all(), total

    async def trash_older_than(self, cutoff: datetime) -> Sequence[Task]:
        """The trash items deleted before `cutoff`."""
        statement = select(Task).where(
            col(Task.deleted_at) < cutoff,
            col(Task.trashed_with_id).is_(None),
            col(Task.deleted_at).is_not(None),
        )
        return (await self.session.exec(statement.with_for_update())).all()

    async def trash_items_under(self, task_ids: Sequence[int]) -> Sequence[Task]:
        """Trash items (trashed on their own) whose parent is one of `task_ids`."""
        statement = select(Task).where(
            col(Task.parent_id).in_(task_ids),
            col(Task.id).not_in(task_ids),
            col(Task.deleted_at).is_not(None),
            col(Task.trashed_with_id).is_(None),
        )
        return (await self.session.exec(statement.with_for_update())).all()
