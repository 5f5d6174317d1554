import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from todo_api.core.db import utcnow
from todo_api.core.errors import IdempotencyKeyReused, PreconditionFailed, TaskNotFound
from todo_api.core.http import if_match_allows
from todo_api.core.pagination import page_info
from todo_api.models import Task, TaskStatus, User
from todo_api.tasks.repository import IdempotencyKeyRepository, TaskFilter, TaskRepository
from todo_api.tasks.schemas import TaskCreate, TaskListParams, TaskPage, TaskPublic, TaskUpdate

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class TaskCreated:
    task: TaskPublic
    etag: str
    replayed: bool


def request_fingerprint(task_in: TaskCreate) -> str:
    """What makes two create requests "the same body": the fields sent, as validated."""
    canonical = json.dumps(task_in.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def task_etag(task: Task) -> str:
    """A strong ETag: the task's version, plus its creation instant so a reused id never collides."""
    created = int(task.created_at.timestamp() * 1_000_000)
    return f'"{task.version}-{created:x}"'


class TaskService:
    def __init__(self, tasks: TaskRepository, idempotency_keys: IdempotencyKeyRepository) -> None:
        self.tasks = tasks
        self.idempotency_keys = idempotency_keys

    async def create(
        self, owner: User, task_in: TaskCreate, idempotency_key: str | None = None
    ) -> TaskCreated:
        """A new task owned by `owner`; with an idempotency key, a retry gets the first answer back."""
        assert owner.id is not None
        if idempotency_key is None:
            return await self._insert(owner, task_in)
        fingerprint = request_fingerprint(task_in)
        record = await self.idempotency_keys.get(owner.id, idempotency_key)
        if record is not None and record.created_at < utcnow() - IDEMPOTENCY_WINDOW:
            await self.idempotency_keys.delete(record)
            record = None
        if record is None and await self.idempotency_keys.claim(
            owner.id, idempotency_key, fingerprint, utcnow()
        ):
            created = await self._insert(owner, task_in)
            answer = {"task": created.task.model_dump(mode="json"), "etag": created.etag}
            await self.idempotency_keys.save_response(owner.id, idempotency_key, answer)
            return created
        # Another request holds the key: it committed before our claim returned.
        record = record or await self.idempotency_keys.get(owner.id, idempotency_key)
        assert record is not None
        assert record.response is not None
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused
        task = TaskPublic.model_validate(record.response["task"])
        return TaskCreated(task=task, etag=record.response["etag"], replayed=True)

    async def list(self, owner: User, params: TaskListParams) -> TaskPage:
        """One page of the owner's tasks, with the totals a client needs to page on."""
        assert owner.id is not None
        where = TaskFilter(
            status=params.status_filter,
            priority=params.priority,
            search=params.q,
            due_after=params.due_after,
            due_before=params.due_before,
            overdue=params.overdue,
        )
        items, total = await self.tasks.list_for_owner(
            owner.id, where, params.sort.value, params.skip, params.limit, utcnow()
        )
        return TaskPage(
            items=[TaskPublic.model_validate(task) for task in items],
            **page_info(total, params.skip, params.limit),
        )

    async def get(self, owner: User, task_id: int) -> Task:
        """The owner's task; someone else's is as missing as one that never existed."""
        return await self._get(owner, task_id)

    async def replace(self, owner: User, task_id: int, task_in: TaskCreate, if_match: str | None) -> Task:
        """PUT: every writable field takes the sent value or its default."""
        task = await self._get_for_write(owner, task_id, if_match)
        return await self._apply(task, task_in.model_dump())

    async def update(self, owner: User, task_id: int, task_in: TaskUpdate, if_match: str | None) -> Task:
        """PATCH: only the fields sent change."""
        task = await self._get_for_write(owner, task_id, if_match)
        return await self._apply(task, task_in.model_dump(exclude_unset=True))

    async def complete(self, owner: User, task_id: int, if_match: str | None) -> Task:
        """Mark the task completed; completing it again keeps the first `completed_at`."""
        task = await self._get_for_write(owner, task_id, if_match)
        return await self._apply(task, {"status": TaskStatus.completed})

    async def delete(self, owner: User, task_id: int, if_match: str | None) -> None:
        task = await self._get_for_write(owner, task_id, if_match)
        await self.tasks.delete(task)

    async def _insert(self, owner: User, task_in: TaskCreate) -> TaskCreated:
        assert owner.id is not None
        now = utcnow()
        task = Task(**task_in.model_dump(), owner_id=owner.id, created_at=now, updated_at=now)
        if task.status == TaskStatus.completed:
            task.completed_at = now
        await self.tasks.add(task)
        return TaskCreated(task=TaskPublic.model_validate(task), etag=task_etag(task), replayed=False)

    async def _get(self, owner: User, task_id: int, *, for_update: bool = False) -> Task:
        assert owner.id is not None
        task = await self.tasks.get_for_owner(task_id, owner.id, for_update=for_update)
        if task is None:
            raise TaskNotFound
        return task

    async def _get_for_write(self, owner: User, task_id: int, if_match: str | None) -> Task:
        """The task, locked for this transaction, if the client's If-Match (if any) still holds."""
        task = await self._get(owner, task_id, for_update=True)
        if not if_match_allows(if_match, task_etag(task)):
            raise PreconditionFailed
        return task

    async def _apply(self, task: Task, changes: dict[str, Any]) -> Task:
        changed = {name: value for name, value in changes.items() if getattr(task, name) != value}
        if not changed:
            return task
        now = utcnow()
        if "status" in changed:
            if changed["status"] == TaskStatus.completed:
                task.completed_at = now
            elif task.status == TaskStatus.completed:
                task.completed_at = None
        for name, value in changed.items():
            setattr(task, name, value)
        task.updated_at = now
        await self.tasks.add(task)
        return task
