from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status

from todo_api.core.http import NO_STORE, ValidationErrorResponse, errors, if_none_match_hits
from todo_api.deps import CurrentUser, TaskServiceDep
from todo_api.models import Task
from todo_api.tasks.schemas import TaskCreate, TaskListParams, TaskPage, TaskPublic, TaskUpdate
from todo_api.tasks.service import task_etag

router = APIRouter(prefix="/tasks", tags=["tasks"])

TaskId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The task's id.")]
ListParams = Annotated[TaskListParams, Query()]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Apply the write only if the task's ETag is still this one; otherwise 412.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="Answer 304 with no body if the task's ETag is this one."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7E]+$",
        description="Retry safely: the same key with the same body within 24 hours replays the first answer.",
    ),
]

ETAG_HEADER = {
    "ETag": {
        "description": "The task's version, for If-Match and If-None-Match.",
        "schema": {"type": "string"},
    }
}
TASK_OK: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG_HEADER}}


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
    responses={
        201: {
            "headers": {
                **ETAG_HEADER,
                "Location": {"description": "The new task's URL.", "schema": {"type": "string"}},
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored answer to an earlier request "
                    "with the same key.",
                    "schema": {"type": "string"},
                },
            }
        },
        **errors(401, 413),
        422: {
            "model": ValidationErrorResponse,
            "description": "Validation failed (`validation_error`), or the Idempotency-Key was used "
            'with another body (`idempotency_key_reused`, `loc` `["header", "Idempotency-Key"]`)',
        },
    },
)
async def create_task(
    task_in: TaskCreate,
    user: CurrentUser,
    tasks: TaskServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TaskPublic:
    """Create a task."""
    created = await tasks.create(user, task_in, idempotency_key)
    response.headers["Location"] = f"/tasks/{created.task.id}"
    response.headers["ETag"] = created.etag
    response.headers.update(NO_STORE)
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return created.task


@router.get("", response_model=TaskPage, name="list_tasks", responses=errors(401, 422))
async def list_tasks(
    params: ListParams, user: CurrentUser, tasks: TaskServiceDep, response: Response
) -> TaskPage:
    """List your tasks: filter, search, sort and page."""
    response.headers.update(NO_STORE)
    return await tasks.list(user, params)


@router.get(
    "/{task_id}",
    response_model=TaskPublic,
    name="get_task",
    responses={
        **TASK_OK,
        304: {"description": "Not modified: the If-None-Match ETag is current.", "headers": ETAG_HEADER},
        **errors(401, 404, 422),
    },
)
async def get_task(
    task_id: TaskId,
    user: CurrentUser,
    tasks: TaskServiceDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> TaskPublic | Response:
    """One of your tasks."""
    task = await tasks.get(user, task_id)
    etag = task_etag(task)
    if if_none_match_hits(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag, **NO_STORE})
    return with_etag(response, task)


@router.put(
    "/{task_id}",
    response_model=TaskPublic,
    name="replace_task",
    responses={**TASK_OK, **errors(401, 404, 412, 413, 422)},
)
async def replace_task(
    task_id: TaskId,
    task_in: TaskCreate,
    user: CurrentUser,
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
    responses={**TASK_OK, **errors(401, 404, 412, 413, 422)},
)
async def update_task(
    task_id: TaskId,
    task_in: TaskUpdate,
    user: CurrentUser,
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
    responses={**TASK_OK, **errors(401, 404, 412, 422)},
)
async def complete_task(
    task_id: TaskId,
    user: CurrentUser,
    tasks: TaskServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskPublic:
    """Mark a task completed."""
    return with_etag(response, await tasks.complete(user, task_id, if_match))


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="delete_task",
    responses=errors(401, 404, 412, 422),
)
async def delete_task(
    task_id: TaskId, user: CurrentUser, tasks: TaskServiceDep, if_match: IfMatch = None
) -> None:
    """Delete a task."""
    await tasks.delete(user, task_id, if_match)
