import math
from typing import Any

from todo_api.db import utcnow
from todo_api.errors import TaskNotFound
from todo_api.models import Task, TaskStatus, User
from todo_api.repositories.task import TaskRepository
from todo_api.schemas.task import TaskCreate, TaskListParams, TaskPage, TaskPublic, TaskUpdate


class TaskService:
    def __init__(self, tasks: TaskRepository) -> None:
        self.tasks = tasks

    async def create(self, owner: User, task_in: TaskCreate) -> Task:
        """A new task owned by `owner`."""
        assert owner.id is not None
        now = utcnow()
        task = Task(**task_in.model_dump(), owner_id=owner.id, created_at=now, updated_at=now)
        if task.status == TaskStatus.completed:
            task.completed_at = now
        return await self.tasks.add(task)

    async def list(self, owner: User, params: TaskListParams) -> TaskPage:
        """One page of the owner's tasks, with the totals a client needs to page on."""
        assert owner.id is not None
        items, total = await self.tasks.list_for_owner(owner.id, params)
        return TaskPage(
            items=[TaskPublic.model_validate(task) for task in items],
            total=total,
            skip=params.skip,
            limit=params.limit,
            page=params.skip // params.limit + 1,
            page_size=params.limit,
            pages=math.ceil(total / params.limit),
        )

    async def get(self, owner: User, task_id: int) -> Task:
        """The owner's task; someone else's is as missing as one that never existed."""
        assert owner.id is not None
        task = await self.tasks.get_for_owner(task_id, owner.id)
        if task is None:
            raise TaskNotFound
        return task

    async def replace(self, owner: User, task_id: int, task_in: TaskCreate) -> Task:
        """PUT: every writable field takes the sent value or its default."""
        task = await self.get(owner, task_id)
        return await self._apply(task, task_in.model_dump())

    async def update(self, owner: User, task_id: int, task_in: TaskUpdate) -> Task:
        """PATCH: only the fields sent change."""
        task = await self.get(owner, task_id)
        return await self._apply(task, task_in.model_dump(exclude_unset=True))

    async def complete(self, owner: User, task_id: int) -> Task:
        """Mark the task completed; completing it again keeps the first `completed_at`."""
        task = await self.get(owner, task_id)
        return await self._apply(task, {"status": TaskStatus.completed})

    async def delete(self, owner: User, task_id: int) -> None:
        task = await self.get(owner, task_id)
        await self.tasks.delete(task)

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
