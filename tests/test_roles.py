"""Each role against each list, member, task and trash route: who gets what (shared/API.md, "Lists
and sharing", "Tasks", "Trash", and "What you cannot see does not exist").

Every role meets the route in the same fresh state (rebuilt, with the same users, after a write
that was allowed): a list owned by `owner` with an admin, an editor and a
viewer, one more viewer (`member`) that the member routes act on, two tasks in the list and one in
its trash, and an `outsider` who is no member (the one POST /lists/{id}/members tries to add). A
refused request must change nothing; an allowed write must change something; a non-member's 404
must read exactly like the answer for ids that never existed.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task
from tests.list_factories import SharedList, add_member, all_pages, shared_list, without_request_id

ROLES = ("owner", "admin", "editor", "viewer", "non-member")
# What each refusal is called (the 409s of this table are all the owner's protection).
CODES = {403: "forbidden", 404: "not_found", 409: "owner_protected"}
MISSING = 1_000_000


@dataclass
class World:
    shared: SharedList
    member: SignedInUser  # a viewer that the member routes act on, never the caller
    sibling: dict[str, Any]  # a second task in the list, after the first
    trashed: dict[str, Any]  # a third one, in the list's trash


@dataclass(frozen=True)
class Ids:
    """The ids a request aims at: the real ones, or ids that never existed."""

    list: int
    task: int
    sibling: int
    trashed: int


# A request: (method, path, JSON body) for a caller aiming at some ids.
Request = Callable[[World, SignedInUser, Ids], tuple[str, str, Any]]

# route: (request, expected status for owner, admin, editor, viewer, non-member)
TABLE: dict[str, tuple[Request, tuple[int, int, int, int, int]]] = {
    "GET /lists/{id}": (
        lambda w, me, at: ("GET", f"/lists/{at.list}", None),
        (200, 200, 200, 200, 404),
    ),
    "PATCH /lists/{id}": (
        lambda w, me, at: ("PATCH", f"/lists/{at.list}", {"name": "Renamed", "description": None}),
        (200, 200, 403, 403, 404),
    ),
    "DELETE /lists/{id}": (
        lambda w, me, at: ("DELETE", f"/lists/{at.list}", None),
        (204, 403, 403, 403, 404),
    ),
    "GET /lists/{id}/members": (
        lambda w, me, at: ("GET", f"/lists/{at.list}/members", None),
        (200, 200, 200, 200, 404),
    ),
    "POST /lists/{id}/members": (
        lambda w, me, at: (
            "POST",
            f"/lists/{at.list}/members",
            {"user": w.shared.outsider.username, "role": "editor"},
        ),
        (201, 201, 403, 403, 404),
    ),
    "PATCH /lists/{id}/members/{member}": (
        lambda w, me, at: ("PATCH", f"/lists/{at.list}/members/{w.member.id}", {"role": "admin"}),
        (200, 200, 403, 403, 404),
    ),
    "DELETE /lists/{id}/members/{member}": (
        lambda w, me, at: ("DELETE", f"/lists/{at.list}/members/{w.member.id}", None),
        (204, 204, 403, 403, 404),
    ),
    "PATCH /lists/{id}/members/{owner}": (
        lambda w, me, at: ("PATCH", f"/lists/{at.list}/members/{w.shared.owner.id}", {"role": "admin"}),
        (409, 409, 403, 403, 404),
    ),
    "DELETE /lists/{id}/members/{owner}": (
        lambda w, me, at: ("DELETE", f"/lists/{at.list}/members/{w.shared.owner.id}", None),
        (409, 409, 403, 403, 404),
    ),
    "DELETE /lists/{id}/members/{self} (leave)": (
        lambda w, me, at: ("DELETE", f"/lists/{at.list}/members/{me.id}", None),
        (409, 204, 204, 204, 404),
    ),
    "POST /lists/{id}/transfer": (
        lambda w, me, at: ("POST", f"/lists/{at.list}/transfer", {"user_id": w.member.id}),
        (200, 403, 403, 403, 404),
    ),
    "POST /tasks (list_id)": (
        lambda w, me, at: ("POST", "/tasks", {"title": "New", "list_id": at.list}),
        (201, 201, 201, 403, 404),
    ),
    "GET /tasks/{id}": (
        lambda w, me, at: ("GET", f"/tasks/{at.task}", None),
        (200, 200, 200, 200, 404),
    ),
    "PUT /tasks/{id}": (
        lambda w, me, at: ("PUT", f"/tasks/{at.task}", {"title": "Replaced", "priority": "high"}),
        (200, 200, 200, 403, 404),
    ),
    "PATCH /tasks/{id}": (
        lambda w, me, at: ("PATCH", f"/tasks/{at.task}", {"title": "Changed"}),
        (200, 200, 200, 403, 404),
    ),
    "DELETE /tasks/{id}": (
        lambda w, me, at: ("DELETE", f"/tasks/{at.task}", None),
        (204, 204, 204, 403, 404),
    ),
    "POST /tasks/{id}/complete": (
        lambda w, me, at: ("POST", f"/tasks/{at.task}/complete", None),
        (200, 200, 200, 403, 404),
    ),
    "POST /tasks/{id}/move": (
        lambda w, me, at: ("POST", f"/tasks/{at.task}/move", {"after_id": at.sibling}),
        (200, 200, 200, 403, 404),
    ),
    "GET /tasks/{id}/completions": (
        lambda w, me, at: ("GET", f"/tasks/{at.task}/completions", None),
        (200, 200, 200, 200, 404),
    ),
    "GET /tasks?list_id=": (
        lambda w, me, at: ("GET", f"/tasks?list_id={at.list}", None),
        (200, 200, 200, 200, 404),
    ),
    "GET /trash?list_id=": (
        lambda w, me, at: ("GET", f"/trash?list_id={at.list}", None),
        (200, 200, 200, 200, 404),
    ),
    "POST /trash/{id}/restore": (
        lambda w, me, at: ("POST", f"/trash/{at.trashed}/restore", None),
        (200, 200, 200, 403, 404),
    ),
    "DELETE /trash/{id}": (
        lambda w, me, at: ("DELETE", f"/trash/{at.trashed}", None),
        (204, 204, 204, 403, 404),
    ),
}


async def make_world(client: httpx.AsyncClient, users: UserFactory, people: World | None = None) -> World:
    """A fresh list with its members, tasks and trash; with `people`, the same users as theirs
    (a new list for them), which is quicker than signing up six more."""
    if people is None:
        shared = await shared_list(client, users)
        member = await users.create()
    else:
        was = people.shared
        shared = await shared_list(client, users, was.owner, was.admin, was.editor, was.viewer, was.outsider)
        member = people.member
    await add_member(client, shared.owner, shared.id, member, "viewer")
    sibling = await create_task(client, shared.owner, title="Sibling", list_id=shared.id)
    trashed = await create_task(client, shared.owner, title="Trashed", list_id=shared.id)
    deleted = await client.delete(f"/tasks/{trashed['id']}", headers=shared.owner.headers)
    assert deleted.status_code == 204, deleted.text
    return World(shared, member, sibling, trashed)


async def snapshot(client: httpx.AsyncClient, world: World, caller: SignedInUser) -> dict[str, Any]:
    """Everything a request of the table could change, as the owner and the caller see it."""
    shared, owner = world.shared, world.shared.owner
    the_list = await client.get(f"/lists/{shared.id}", headers=owner.headers)
    members = await client.get(f"/lists/{shared.id}/members", headers=owner.headers)
    task = await client.get(f"/tasks/{shared.task['id']}", headers=owner.headers)
    trash = await client.get("/trash", params={"list_id": shared.id}, headers=owner.headers)
    return {
        "list": (the_list.status_code, the_list.text, the_list.headers.get("ETag")),
        "members": (members.status_code, members.text),
        "task": (task.status_code, task.text, task.headers.get("ETag")),
        "trash": (trash.status_code, trash.text),
        # The owner's tasks are the shared list's (and their inbox's); the caller's, those of any
        # list the caller could have written to instead.
        "tasks of the owner": await all_pages(client, owner, "/tasks"),
        "tasks of the caller": await all_pages(client, caller, "/tasks") if caller != owner else None,
    }


@pytest.mark.parametrize("route", TABLE)
async def test_each_role_against_route(client: httpx.AsyncClient, users: UserFactory, route: str) -> None:
    """Every role in turn against one route; a world that an allowed write changed is rebuilt
    (with the same users) before the next role."""
    world = await make_world(client, users)
    for role, expected in zip(ROLES, TABLE[route][1], strict=True):
        if await role_against_route(client, world, route, role, expected):
            world = await make_world(client, users, people=world)


async def role_against_route(
    client: httpx.AsyncClient, world: World, route: str, role: str, expected: int
) -> bool:
    """Check one role's answer; whether the request changed the world."""
    shared = world.shared
    caller = shared.by_role(role)
    request, _ = TABLE[route]
    real = Ids(shared.id, shared.task["id"], world.sibling["id"], world.trashed["id"])
    method, path, body = request(world, caller, real)
    writing = method != "GET"
    before = await snapshot(client, world, caller) if writing else None

    response = await client.request(method, path, json=body, headers=caller.headers)

    assert response.status_code == expected, f"{role}: {response.text}"
    if expected >= 400:
        assert response.json()["code"] == CODES[expected], f"{role}: {response.text}"
        assert isinstance(response.json()["detail"], str)
    if writing:
        after = await snapshot(client, world, caller)
        if expected >= 400:
            assert after == before, f"{method} {path} by the {role} answered {expected} but changed something"
        else:
            assert after != before, f"{method} {path} by the {role} answered {expected} but changed nothing"
    if role == "non-member":
        # Exactly the answer for ids that never existed (but for the request id).
        never = Ids(*(value + MISSING for value in (real.list, real.task, real.sibling, real.trashed)))
        method, path, body = request(world, caller, never)
        missing = await client.request(method, path, json=body, headers=caller.headers)
        assert missing.status_code == 404, missing.text
        assert without_request_id(response) == without_request_id(missing)
    return writing and expected < 400


@pytest.mark.parametrize("role", ["owner", "admin", "editor", "viewer"])
async def test_every_member_reads_the_list_with_their_own_role(
    client: httpx.AsyncClient, users: UserFactory, role: str
) -> None:
    shared = await shared_list(client, users)
    caller = shared.by_role(role)

    one = await client.get(f"/lists/{shared.id}", headers=caller.headers)
    every = await all_pages(client, caller, "/lists")
    tasks = await all_pages(client, caller, "/tasks", list_id=shared.id)

    assert one.json()["role"] == role
    assert {item["id"]: item["role"] for item in every if not item["is_inbox"]} == {shared.id: role}
    assert [item for item in every if item["id"] == shared.id] == [one.json()]
    assert tasks == [shared.task]
    assert (await client.get("/trash", params={"list_id": shared.id}, headers=caller.headers)).json()[
        "items"
    ] == []


async def test_a_non_member_sees_nothing_of_the_list_anywhere(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    outsider = shared.outsider

    lists = await all_pages(client, outsider, "/lists")
    tasks = await all_pages(client, outsider, "/tasks")
    assigned = await all_pages(client, outsider, "/tasks", assignee_id=shared.editor.id)

    assert [item["is_inbox"] for item in lists] == [True]
    assert tasks == []
    assert assigned == []
