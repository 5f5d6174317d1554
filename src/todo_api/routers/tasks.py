from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from todo_api.deps import CurrentUser, TaskServiceDep
from todo_api.routers.responses import errors
from todo_api.schemas.task import TaskCreate, TaskListParams, TaskPage, TaskPublic, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The task's id.")]
ListParams = Annotated[TaskListParams, Query()]
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskPublic,
    name="create_task",
    responses=errors(401, 413, 422),
)
async def create_task(
    task_in: TaskCreate, user: CurrentUser, tasks: TaskServiceDep, response: Response
) -> TaskPublic:
    """Create a task."""
    task = TaskPublic.model_validate(await tasks.create(user, task_in))
    response.headers["Location"] = f"/tasks/{task.id}"
    response.headers.update(NO_STORE)
    return task


@router.get("", response_model=TaskPage, name="list_tasks", responses=errors(401, 422))
async def list_tasks(
    params: ListParams, user: CurrentUser, tasks: TaskServiceDep, response: Response
) -> TaskPage:
    """List your tasks: filter, search, sort and page."""
    response.headers.update(NO_STORE)
    return await tasks.list(user, params)


@router.get("/{task_id}", response_model=TaskPublic, name="get_task", responses=errors(401, 404, 422))
async def get_task(
    task_id: TaskId, user: CurrentUser, tasks: TaskServiceDep, response: Response
) -> TaskPublic:
    """One of your tasks."""
    response.headers.update(NO_STORE)
    return TaskPublic.model_validate(await tasks.get(user, task_id))


@router.put(
    "/{task_id}", response_model=TaskPublic, name="replace_task", responses=errors(401, 404, 413, 422)
)
async def replace_task(
    task_id: TaskId, task_in: TaskCreate, user: CurrentUser, tasks: TaskServiceDep, response: Response
) -> TaskPublic:
    """Replace a task: fields left out take their defaults."""
    response.headers.update(NO_STORE)
    return TaskPublic.model_validate(await tasks.replace(user, task_id, task_in))


@router.patch(
    "/{task_id}", response_model=TaskPublic, name="update_task", responses=errors(401, 404, 413, 422)
)
async def update_task(
    task_id: TaskId, task_in: TaskUpdate, user: CurrentUser, tasks: TaskServiceDep, response: Response
) -> TaskPublic:
    """Change only the fields sent."""
    response.headers.update(NO_STORE)
    return TaskPublic.model_validate(await tasks.update(user, task_id, task_in))


@router.post(
    "/{task_id}/complete", response_model=TaskPublic, name="complete_task", responses=errors(401, 404, 422)
)
async def complete_task(
    task_id: TaskId, user: CurrentUser, tasks: TaskServiceDep, response: Response
) -> TaskPublic:
    """Mark a task completed."""
    response.headers.update(NO_STORE)
    return TaskPublic.model_validate(await tasks.complete(user, task_id))


@router.delete(
    "/{task_id}", status_code=status.HTTP_204_NO_CONTENT, name="delete_task", responses=errors(401, 404, 422)
)
async def delete_task(task_id: TaskId, user: CurrentUser, tasks: TaskServiceDep) -> None:
    """Delete a task."""
    await tasks.delete(user, task_id)
