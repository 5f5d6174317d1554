"""Tasks: created, read, changed and deleted by the members of their list, as their role allows."""

from typing import Any

from todo_api.core.db import utcnow
from todo_api.core.errors import Forbidden, InvalidField, PreconditionFailed, TaskNotFound
from todo_api.core.http import if_match_allows
from todo_api.core.pagination import page_info
from todo_api.idempotency.service import Answer, IdempotencyService, fingerprint
from todo_api.lists.service import ListService
from todo_api.models import Role, Task, TaskStatus, User
from todo_api.tasks.repository import TaskFilter, TaskRepository
from todo_api.tasks.schemas import TaskCreate, TaskListParams, TaskPage, TaskPublic, TaskUpdate


def task_etag(task: Task) -> str:
    """A strong ETag: the task's version, plus its creation instant so a reused id never collides."""
    created = int(task.created_at.timestamp() * 1_000_000)
    return f'"{task.version}-{created:x}"'


class TaskService:
    def __init__(self, tasks: TaskRepository, lists: ListService, idempotency: IdempotencyService) -> None:
        self.tasks = tasks
        self.lists = lists
        self.idempotency = idempotency

    async def create(self, user: User, task_in: TaskCreate, idempotency_key: str | None = None) -> Answer:
        """A new task in a list where the user is an editor (their inbox by default); with an
        idempotency key, a retry gets the first answer back."""
        assert user.id is not None
        creator = user.id

        async def insert() -> Answer:
            task = await self._insert(creator, task_in)
            return Answer(body=TaskPublic.model_validate(task).model_dump(mode="json"), etag=task_etag(task))

        request = fingerprint(task_in.model_dump(mode="json", exclude_unset=True))
        return await self.idempotency.once(creator, "tasks", idempotency_key, request, insert)

    async def list(self, user: User, params: TaskListParams) -> TaskPage:
        """One page of the tasks on the user's lists, with the totals a client needs to page on."""
        assert user.id is not None
        if params.list_id is not None:
            await self.lists.require_role(user.id, params.list_id, Role.viewer)
        where = TaskFilter(
            list_id=params.list_id,
            assignee_id=params.assignee_id,
            status=params.status_filter,
            priority=params.priority,
            search=params.q,
            due_after=params.due_after,
            due_before=params.due_before,
            overdue=params.overdue,
        )
        items, total = await self.tasks.list_visible(
            user.id, where, params.sort.value, params.skip, params.limit, utcnow()
        )
        return TaskPage(
            items=[TaskPublic.model_validate(task) for task in items],
            **page_info(total, params.skip, params.limit),
        )

    async def get(self, user: User, task_id: int) -> Task:
        """A task on one of the user's lists; any other is as missing as one that never existed."""
        assert user.id is not None
        found = await self.tasks.get_visible(task_id, user.id)
        if found is None:
            raise TaskNotFound
        return found[0]

    async def replace(self, user: User, task_id: int, task_in: TaskCreate, if_match: str | None) -> Task:
        """PUT: every writable field takes the sent value or its default; the list stays unless sent."""
        task = await self._get_for_write(user, task_id, if_match)
        changes = task_in.model_dump()
        if task_in.list_id is None:
            del changes["list_id"]
        return await self._apply(user, task, changes)

    async def update(self, user: User, task_id: int, task_in: TaskUpdate, if_match: str | None) -> Task:
        """PATCH: only the fields sent change."""
        task = await self._get_for_write(user, task_id, if_match)
        return await self._apply(user, task, task_in.model_dump(exclude_unset=True))

    async def complete(self, user: User, task_id: int, if_match: str | None) -> Task:
        """Mark the task completed; completing it again keeps the first `completed_at`."""
        task = await self._get_for_write(user, task_id, if_match)
        return await self._apply(user, task, {"status": TaskStatus.completed})

    async def delete(self, user: User, task_id: int, if_match: str | None) -> None:
        task = await self._get_for_write(user, task_id, if_match)
        await self.tasks.delete(task)

    async def _insert(self, creator: int, task_in: TaskCreate) -> Task:
        list_id = task_in.list_id or await self.lists.inbox_id(creator)
        await self.lists.require_role(creator, list_id, Role.editor)
        await self._check_assignee(list_id, task_in.assignee_id)
        now = utcnow()
        fields = task_in.model_dump(exclude={"list_id"})
        task = Task(**fields, list_id=list_id, created_by=creator, created_at=now, updated_at=now)
        if task.status == TaskStatus.completed:
            task.completed_at = now
        return await self.tasks.add(task)

    async def _get_for_write(self, user: User, task_id: int, if_match: str | None) -> Task:
        """The task, locked for this transaction, if the user's role allows writing it and the
        client's If-Match (if any) still holds: 404, then 403, then 412."""
        assert user.id is not None
        found = await self.tasks.get_visible(task_id, user.id, for_update=True)
        if found is None:
            raise TaskNotFound
        task, role = found
        if not role.allows(Role.editor):
            raise Forbidden
        etag = task_etag(task)
        if not if_match_allows(if_match, etag):
            raise PreconditionFailed(etag)
        return task

    async def _apply(self, user: User, task: Task, changes: dict[str, Any]) -> Task:
        changed = {name: value for name, value in changes.items() if getattr(task, name) != value}
        if not changed:
            return task
        assert user.id is not None
        if "list_id" in changed:
            # Moving a task out of a list and into another needs the editor role on both.
            await self.lists.require_role(user.id, changed["list_id"], Role.editor)
        if "list_id" in changed or "assignee_id" in changed:
            await self._check_assignee(
                changed.get("list_id", task.list_id), changed.get("assignee_id", task.assignee_id)
            )
        now = utcnow()
        if "status" in changed:
            if changed["status"] == TaskStatus.completed:
                task.completed_at = now
            elif task.status == TaskStatus.completed:
                task.completed_at = None
        for name, value in changed.items():
            setattr(task, name, value)
        task.updated_at = now
        return await self.tasks.add(task)

    async def _check_assignee(self, list_id: int, assignee_id: int | None) -> None:
        """An assignee must be a member of the task's list who may edit its tasks."""
        if assignee_id is None:
            return
        role = await self.lists.role_of(assignee_id, list_id)
        if role is None or not role.allows(Role.editor):
            raise InvalidField(
                ("body", "assignee_id"),
                "the assignee must be a member of the task's list with the editor role or more",
            )
