from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from todo_api.core import http
from todo_api.core.http import (
    CREATED,
    NO_STORE,
    NOT_MODIFIED,
    WITH_ETAG,
    IdempotencyKey,
    IfMatch,
    IfNoneMatch,
    ObjectId,
    errors,
    if_none_match_hits,
    not_modified,
)
from todo_api.deps import TaskServiceDep, TasksReadCaller, TasksReader, TasksWriter
from todo_api.models import Task
from todo_api.tasks.schemas import (
    CompletionPage,
    CompletionParams,
    LabelList,
    TaskCreate,
    TaskListParams,
    TaskMove,
    TaskPage,
    TaskPublic,
    TaskUpdate,
    TrashPage,
    TrashParams,
)
from todo_api.tasks.service import public_task, task_etag, version_etag

router = APIRouter(prefix="/tasks", tags=["tasks"])

ListParams = Annotated[TaskListParams, Query()]
CompletionQuery = Annotated[CompletionParams, Query()]
TASK_WRITE = errors(401, 403, 404, 412, 413, 422)


def with_etag(response: Response, task: Task) -> TaskPublic:
    """The task as the client sees it, with its ETag and no-store on the response."""
    response.headers["ETag"] = task_etag(task)
    response.headers.update(NO_STORE)
    return TaskPublic.model_validate(task)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskPublic,
    name="create_task",
    responses={**CREATED, **errors(401, 403, 404, 413)},
)
async def create_task(
    task_in: TaskCreate,
    user: TasksWriter,
    tasks: TaskServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskPublic:
    """Create a task in a list where you are an editor (your inbox by default)."""
    created = await tasks.create(user, task_in, idempotency_key)
    http.created(response, f"/tasks/{created.body['id']}", created.etag, replayed=created.replayed)
    return TaskPublic.model_validate(created.body)


@router.get("", response_model=TaskPage, name="list_tasks", responses=errors(401, 403, 404, 422))
async def list_tasks(
    params: ListParams, caller: TasksReadCaller, tasks: TaskServiceDep, response: Response
) -> TaskPage:
    """The tasks of every list you can see: filter, search, sort and page."""
    response.headers.update(NO_STORE)
    return await tasks.list(caller, params)


@router.get(
    "/{task_id}",
    response_model=TaskPublic,
    name="get_task",
    responses={**WITH_ETAG, **NOT_MODIFIED, **errors(401, 403, 404, 422)},
)
async def get_task(
    task_id: ObjectId,
    caller: TasksReadCaller,
    tasks: TaskServiceDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> TaskPublic | Response:
    """A task on one of your lists."""
    task = await tasks.get(caller, task_id)
    etag = version_etag(task.version, task.created_at)
    if if_none_match_hits(if_none_match, etag):
        return not_modified(etag)
    response.headers["ETag"] = etag
    response.headers.update(NO_STORE)
    return public_task(task)


@router.put(
    "/{task_id}",
    response_model=TaskPublic,
    name="replace_task",
    responses={**WITH_ETAG, **TASK_WRITE},
)
async def replace_task(
    task_id: ObjectId,
    task_in: TaskCreate,
    user: TasksWriter,
    tasks: TaskServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskPublic:
    """Replace a task: fields left out take their defaults."""
    return with_etag(response, await tasks.replace(user, task_id, task_in, if_match))


@router.patch(
    "/{task_id}",
    response_model=TaskPublic,
    name="update_task",
    responses={**WITH_ETAG, **TASK_WRITE},
)
async def update_task(
    task_id: ObjectId,
    task_in: TaskUpdate,
    user: TasksWriter,
    tasks: TaskServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskPublic:
    """Change only the fields sent."""
    return with_etag(response, await tasks.update(user, task_id, task_in, if_match))


@router.post(
    "/{task_id}/complete",
    response_model=TaskPublic,
    name="complete_task",
    responses={**WITH_ETAG, **TASK_WRITE},
)
async def complete_task(
    task_id: ObjectId,
    user: TasksWriter,
    tasks: TaskServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskPublic:
    """Mark a task completed."""
    return with_etag(response, await tasks.complete(user, task_id, if_match))


@router.post(
    "/{task_id}/move",
    response_model=TaskPublic,
    name="move_task",
    responses={**WITH_ETAG, **TASK_WRITE},
)
async def move_task(
    task_id: ObjectId,
    move: TaskMove,
    user: TasksWriter,
    tasks: TaskServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskPublic:
    """Place a task after a sibling (or first), under another parent, or in another list."""
    return with_etag(response, await tasks.move(user, task_id, move, if_match))


@router.get(
    "/{task_id}/completions",
    response_model=CompletionPage,
    name="list_completions",
    responses=errors(401, 403, 404, 422),
)
async def list_completions(
    task_id: ObjectId, params: CompletionQuery, user: TasksReader, tasks: TaskServiceDep, response: Response
) -> CompletionPage:
    """Every time the task was completed, newest first."""
    response.headers.update(NO_STORE)
    return await tasks.completions(user, task_id, params)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="delete_task",
    responses=errors(401, 403, 404, 412, 422),
)
async def delete_task(
    task_id: ObjectId, user: TasksWriter, tasks: TaskServiceDep, if_match: IfMatch = None
) -> None:
    """Move a task, and its subtasks, to the trash."""
    await tasks.delete(user, task_id, if_match)


labels_router = APIRouter(prefix="/labels", tags=["tasks"])


@labels_router.get("", response_model=LabelList, name="list_labels", responses=errors(401, 403))
async def list_labels(user: TasksReader, tasks: TaskServiceDep, response: Response) -> LabelList:
    """Every label on a task you can see, with how many tasks carry it."""
    response.headers.update(NO_STORE)
    return await tasks.labels(user)


trash_router = APIRouter(prefix="/trash", tags=["trash"])
TrashQuery = Annotated[TrashParams, Query()]


@trash_router.get("", response_model=TrashPage, name="list_trash", responses=errors(401, 403, 404, 422))
async def list_trash(
    params: TrashQuery, user: TasksReader, tasks: TaskServiceDep, response: Response
) -> TrashPage:
    """Deleted tasks of the lists you can see, newest deletion first."""
    response.headers.update(NO_STORE)
    return await tasks.trash(user, params)


@trash_router.post(
    "/{task_id}/restore",
    response_model=TaskPublic,
    name="restore_task",
    responses={**WITH_ETAG, **errors(401, 403, 404, 422)},
)
async def restore_task(
    task_id: ObjectId, user: TasksWriter, tasks: TaskServiceDep, response: Response
) -> TaskPublic:
    """Bring a deleted task back, with the subtasks deleted with it."""
    return with_etag(response, await tasks.restore(user, task_id))


@trash_router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="purge_task",
    responses=errors(401, 403, 404, 422),
)
async def purge_task(task_id: ObjectId, user: TasksWriter, tasks: TaskServiceDep) -> None:
    """Delete a task in the trash for good."""
    await tasks.delete_for_good(user, task_id)
