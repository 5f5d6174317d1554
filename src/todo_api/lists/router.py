"""Lists and their members."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

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
from todo_api.deps import ListServiceDep, ListsReader, ListsWriter, refuse_inbox
from todo_api.lists.schemas import (
    ListCreate,
    ListListParams,
    ListPage,
    ListPublic,
    ListUpdate,
    MemberCreate,
    MemberList,
    MemberPublic,
    MemberUpdate,
    Transfer,
)
from todo_api.lists.service import ListView

router = APIRouter(prefix="/lists", tags=["lists"])

ListParams = Annotated[ListListParams, Query()]
# Routes that would delete, share or transfer a list answer 409 for an inbox before anything else.
INBOX_GUARD = [Depends(refuse_inbox)]
INBOX_409 = "An inbox cannot be deleted, shared or transferred (`inbox_protected`)"
MEMBER_409 = "The user is already a member (`already_member`), or the target is the owner (`owner_protected`)"


def with_etag(response: Response, view: ListView) -> ListPublic:
    response.headers["ETag"] = view.etag
    response.headers.update(NO_STORE)
    return view.public()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ListPublic,
    name="create_list",
    responses={**CREATED, **errors(401, 413)},
)
async def create_list(
    list_in: ListCreate,
    user: ListsWriter,
    lists: ListServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ListPublic:
    """Create a list; you become its owner."""
    created = await lists.create(user, list_in, idempotency_key)
    http.created(response, f"/lists/{created.body['id']}", created.etag, replayed=created.replayed)
    return ListPublic.model_validate(created.body)


@router.get("", response_model=ListPage, name="list_lists", responses=errors(401, 403, 422))
async def list_lists(
    params: ListParams, user: ListsReader, lists: ListServiceDep, response: Response
) -> ListPage:
    """Every list you are a member of, a page at a time."""
    response.headers.update(NO_STORE)
    return await lists.page(user, params)


@router.get(
    "/{list_id}",
    response_model=ListPublic,
    name="get_list",
    responses={**WITH_ETAG, **NOT_MODIFIED, **errors(401, 403, 404, 422)},
)
async def get_list(
    list_id: ObjectId,
    user: ListsReader,
    lists: ListServiceDep,
    response: Response,
    if_none_match: IfNoneMatch = None,
) -> ListPublic | Response:
    """A list you are a member of, with your role on it."""
    view = await lists.get(user, list_id)
    if if_none_match_hits(if_none_match, view.etag):
        return not_modified(view.etag)
    return with_etag(response, view)


@router.patch(
    "/{list_id}",
    response_model=ListPublic,
    name="update_list",
    responses={**WITH_ETAG, **errors(401, 403, 404, 412, 413, 422)},
)
async def update_list(
    list_id: ObjectId,
    list_in: ListUpdate,
    user: ListsWriter,
    lists: ListServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> ListPublic:
    """Rename a list or change its description (admin)."""
    return with_etag(response, await lists.update(user, list_id, list_in, if_match))


@router.delete(
    "/{list_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="delete_list",
    dependencies=INBOX_GUARD,
    responses=errors(401, 403, 404, 409, 412, 422, s409=INBOX_409),
)
async def delete_list(
    list_id: ObjectId, user: ListsWriter, lists: ListServiceDep, if_match: IfMatch = None
) -> None:
    """Delete a list and every task in it (owner)."""
    await lists.delete(user, list_id, if_match)


@router.get(
    "/{list_id}/members",
    response_model=MemberList,
    name="list_members",
    responses=errors(401, 403, 404, 422),
)
async def list_members(list_id: ObjectId, user: ListsReader, lists: ListServiceDep) -> MemberList:
    """The members of a list: the owner first, then by username."""
    return await lists.members(user, list_id)


@router.post(
    "/{list_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberPublic,
    name="add_member",
    dependencies=INBOX_GUARD,
    responses=errors(
        401,
        403,
        404,
        409,
        413,
        422,
        s404="No such list (`not_found`), or no user with that username or e-mail (`user_not_found`)",
        s409=f"{MEMBER_409}; {INBOX_409}",
    ),
)
async def add_member(
    list_id: ObjectId, member_in: MemberCreate, user: ListsWriter, lists: ListServiceDep
) -> MemberPublic:
    """Share a list with a user, by username or e-mail (admin)."""
    return await lists.add_member(user, list_id, member_in)


@router.patch(
    "/{list_id}/members/{user_id}",
    response_model=MemberPublic,
    name="update_member",
    responses=errors(
        401, 403, 404, 409, 413, 422, s409="The owner's role moves only by transfer (`owner_protected`)"
    ),
)
async def update_member(
    list_id: ObjectId, user_id: ObjectId, member_in: MemberUpdate, user: ListsWriter, lists: ListServiceDep
) -> MemberPublic:
    """Give a member another role (admin)."""
    return await lists.change_role(user, list_id, user_id, member_in)


@router.delete(
    "/{list_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="remove_member",
    responses=errors(
        401, 403, 404, 409, 422, s409="The owner cannot be removed or leave (`owner_protected`)"
    ),
)
async def remove_member(
    list_id: ObjectId, user_id: ObjectId, user: ListsWriter, lists: ListServiceDep
) -> None:
    """Remove a member (admin), or leave a list (your own id); their tasks there become unassigned."""
    await lists.remove_member(user, list_id, user_id)


@router.post(
    "/{list_id}/transfer",
    response_model=ListPublic,
    name="transfer_list",
    dependencies=INBOX_GUARD,
    responses={**WITH_ETAG, **errors(401, 403, 404, 409, 412, 413, 422, s409=INBOX_409)},
)
async def transfer_list(
    list_id: ObjectId,
    transfer: Transfer,
    user: ListsWriter,
    lists: ListServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> ListPublic:
    """Make another member the owner (owner); you stay on as admin."""
    return with_etag(response, await lists.transfer(user, list_id, transfer, if_match))
