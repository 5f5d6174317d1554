"""GET /sync: the changes since a client's last answer."""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from todo_api.core.http import NO_STORE, client_gone, errors
from todo_api.deps import SyncCaller, SyncServiceDep
from todo_api.sync.schemas import SyncAnswer, SyncParams

router = APIRouter(prefix="/sync", tags=["sync"])
Params = Annotated[SyncParams, Query()]


@router.get("", response_model=SyncAnswer, name="sync", responses=errors(401, 403, 410, 422))
async def sync(
    params: Params, caller: SyncCaller, changes: SyncServiceDep, request: Request, response: Response
) -> SyncAnswer:
    """Everything you can see (no cursor), or what changed since the cursor; `wait` long-polls."""
    response.headers.update(NO_STORE)
    return await changes.sync(caller, params, partial(client_gone, request))
