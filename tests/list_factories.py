"""Helpers that make lists, share them and read what a user sees, through the public API."""

from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories import SignedInUser, UserFactory, create_task

# The contract's roles, weakest first (shared/API.md, "Lists and sharing").
ROLES = ("viewer", "editor", "admin", "owner")
LIST_FIELDS = {"id", "name", "description", "is_inbox", "owner_id", "role", "created_at", "updated_at"}
MEMBER_FIELDS = {"user_id", "username", "role", "added_at"}
PAGE_FIELDS = {"items", "total", "skip", "limit", "page", "page_size", "pages"}


async def create_list(
    client: httpx.AsyncClient, user: SignedInUser, name: str = "A list", **fields: Any
) -> dict[str, Any]:
    response = await client.post("/lists", json={"name": name, **fields}, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def add_member(
    client: httpx.AsyncClient, admin: SignedInUser, list_id: int, member: SignedInUser, role: str
) -> dict[str, Any]:
    response = await client.post(
        f"/lists/{list_id}/members", json={"user": member.username, "role": role}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    added: dict[str, Any] = response.json()
    return added


async def inbox_of(client: httpx.AsyncClient, user: SignedInUser) -> dict[str, Any]:
    inboxes = [item for item in await all_lists(client, user) if item["is_inbox"]]
    assert len(inboxes) == 1, inboxes
    return inboxes[0]


async def all_pages(
    client: httpx.AsyncClient, user: SignedInUser, path: str, limit: int = 100, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paged collection, walking its pages."""
    items: list[dict[str, Any]] = []
    skip = 0
    while True:
        response = await client.get(
            path, params={**params, "skip": skip, "limit": limit}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        skip += limit
        if skip >= page["total"]:
            assert len(items) == page["total"], page
            return items


async def all_lists(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> list[dict[str, Any]]:
    return await all_pages(client, user, "/lists", **params)


async def all_tasks(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> list[dict[str, Any]]:
    return await all_pages(client, user, "/tasks", **params)


async def members_of(client: httpx.AsyncClient, user: SignedInUser, list_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/lists/{list_id}/members", headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def roles_of(members: list[dict[str, Any]]) -> dict[int, str]:
    return {member["user_id"]: member["role"] for member in members}


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("request_id", None)
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


@dataclass
class SharedList:
    """A list owned by `owner`, with one admin, one editor and one viewer, a task in it, and an
    `outsider` who is no member of it."""

    list: dict[str, Any]
    task: dict[str, Any]
    owner: SignedInUser
    admin: SignedInUser
    editor: SignedInUser
    viewer: SignedInUser
    outsider: SignedInUser

    @property
    def id(self) -> int:
        list_id: int = self.list["id"]
        return list_id

    def by_role(self, role: str) -> SignedInUser:
        user: SignedInUser = getattr(self, "outsider" if role == "non-member" else role)
        return user


async def shared_list(client: httpx.AsyncClient, users: UserFactory, *people: SignedInUser) -> SharedList:
    """A new shared list; of `people` (owner, admin, editor, viewer, outsider), if given, else of
    five new users."""
    owner, admin, editor, viewer, outsider = people or [await users.create() for _ in range(5)]
    created = await create_list(client, owner, "Household", description="shared")
    for member, role in ((admin, "admin"), (editor, "editor"), (viewer, "viewer")):
        await add_member(client, owner, created["id"], member, role)
    task = await create_task(client, owner, title="Shared task", list_id=created["id"], assignee_id=editor.id)
    return SharedList(created, task, owner, admin, editor, viewer, outsider)
