"""Subtasks (shared/API.md, "Subtasks, order and recurrence"): in the parent's list, at most 4
levels, no cycles; completing a parent completes its open subtasks; moving or deleting a parent
takes them along; the parent_id and top_level filters."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import SignedInUser, UserFactory, create_task
from tests.task_factories import (
    COMPLETE_BY,
    FakeClock,
    assert_invalid,
    at,
    chain,
    complete,
    complete_by,
    completions,
    create_list,
    fake_clock,
    get,
    ids,
    move,
    patch,
    put,
    share,
    subtask,
)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[FakeClock]:
    with fake_clock(app, datetime(2026, 5, 4, 8, 0, tzinfo=UTC)) as fake:
        yield fake


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


@pytest.fixture
async def other(users: UserFactory) -> SignedInUser:
    return await users.create()


async def parents_of(client: httpx.AsyncClient, user: SignedInUser, tasks: list[dict[str, Any]]) -> list[Any]:
    return [(await get(client, user, task["id"]))["parent_id"] for task in tasks]


# Creating subtasks.


async def test_a_subtask_goes_into_its_parents_list_by_default(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    list_id = await create_list(client, user, "Project")
    parent = await create_task(client, user, list_id=list_id)
    child = await subtask(client, user, parent, title="step")
    assert (child["list_id"], child["parent_id"]) == (list_id, parent["id"])
    assert await get(client, user, child["id"]) == child
    # Naming the parent's list explicitly is the same.
    explicit = await subtask(client, user, parent, list_id=list_id)
    assert (explicit["list_id"], explicit["parent_id"]) == (list_id, parent["id"])


async def test_a_parent_in_another_list_is_refused(client: httpx.AsyncClient, user: SignedInUser) -> None:
    parent = await create_task(client, user, list_id=await create_list(client, user, "One"))
    elsewhere = await create_list(client, user, "Two")
    response = await client.post(
        "/tasks", json={"title": "x", "parent_id": parent["id"], "list_id": elsewhere}, headers=user.headers
    )
    assert_invalid(response, "body", "parent_id")
    assert await ids(client, user) == [parent["id"]]


async def test_a_parent_you_cannot_see_is_refused_like_a_missing_one(
    client: httpx.AsyncClient, user: SignedInUser, other: SignedInUser
) -> None:
    theirs = await create_task(client, other)
    for parent_id in (theirs["id"], theirs["id"] + 1000):
        response = await client.post(
            "/tasks", json={"title": "x", "parent_id": parent_id}, headers=user.headers
        )
        assert_invalid(response, "body", "parent_id")
    mine = await create_task(client, user)
    assert_invalid(await patch(client, user, mine["id"], parent_id=theirs["id"]), "body", "parent_id")
    assert_invalid(await move(client, user, mine["id"], parent_id=theirs["id"]), "body", "parent_id")
    assert await ids(client, user) == [mine["id"]]
    assert await ids(client, other) == [theirs["id"]]


async def test_a_parent_in_another_list_is_refused_by_patch_and_move(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent = await create_task(client, user, list_id=await create_list(client, user, "One"))
    task = await create_task(client, user, list_id=await create_list(client, user, "Two"))
    assert_invalid(await patch(client, user, task["id"], parent_id=parent["id"]), "body", "parent_id")
    assert_invalid(await move(client, user, task["id"], parent_id=parent["id"]), "body", "parent_id")
    assert (await get(client, user, task["id"])) == task


@pytest.mark.parametrize(
    "how",
    ["move", "patch", "put"],
)
async def test_a_task_moved_to_another_list_cannot_keep_its_old_parent(
    client: httpx.AsyncClient, user: SignedInUser, how: str
) -> None:
    """Its parent stays in the old list, so naming it as the parent at the new list is a parent in
    another list."""
    parent = await create_task(client, user, list_id=await create_list(client, user, "One"))
    child = await subtask(client, user, parent)
    elsewhere = await create_list(client, user, "Two")
    if how == "move":
        response = await move(client, user, child["id"], list_id=elsewhere, parent_id=parent["id"])
    elif how == "patch":
        response = await patch(client, user, child["id"], list_id=elsewhere, parent_id=parent["id"])
    else:
        response = await put(client, user, child, list_id=elsewhere)  # parent_id as it is
    assert_invalid(response, "body", "parent_id")
    assert await get(client, user, child["id"]) == child


# Depth: a task, its parent, grandparent and great-grandparent, no deeper.


async def test_four_levels_are_allowed_and_a_fifth_refused(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    levels = await chain(client, user, 4)
    assert [task["parent_id"] for task in levels] == [None] + [task["id"] for task in levels[:-1]]
    response = await client.post(
        "/tasks", json={"title": "5", "parent_id": levels[-1]["id"]}, headers=user.headers
    )
    assert_invalid(response, "body", "parent_id")
    assert sorted(await ids(client, user)) == sorted(task["id"] for task in levels)


@pytest.mark.parametrize("how", ["patch", "move"])
async def test_a_fifth_level_is_refused_when_a_task_is_moved_under_another(
    client: httpx.AsyncClient, user: SignedInUser, how: str
) -> None:
    levels = await chain(client, user, 4)
    lone = await create_task(client, user, title="lone")
    pair = await chain(client, user, 2)  # a task with a subtask: two levels high

    async def reparent(task: dict[str, Any], parent: dict[str, Any]) -> httpx.Response:
        if how == "patch":
            return await patch(client, user, task["id"], parent_id=parent["id"])
        return await move(client, user, task["id"], parent_id=parent["id"])

    assert_invalid(await reparent(lone, levels[3]), "body", "parent_id")
    assert_invalid(await reparent(pair[0], levels[2]), "body", "parent_id")
    assert await parents_of(client, user, [lone, *pair]) == [None, None, pair[0]["id"]]
    # One level less is fine: 3 + 1 and 2 + 2 levels.
    response = await reparent(lone, levels[2])
    assert response.status_code == 200, response.text
    assert response.json()["parent_id"] == levels[2]["id"]
    response = await reparent(pair[0], levels[1])
    assert response.status_code == 200, response.text
    assert await parents_of(client, user, pair) == [levels[1]["id"], pair[0]["id"]]


@pytest.mark.parametrize("how", ["patch", "move"])
async def test_a_task_cannot_go_under_itself_or_its_own_descendants(
    client: httpx.AsyncClient, user: SignedInUser, how: str
) -> None:
    levels = await chain(client, user, 3)
    top, middle, bottom = levels
    for task, parent in ((top, top), (top, middle), (top, bottom), (middle, bottom), (bottom, bottom)):
        if how == "patch":
            response = await patch(client, user, task["id"], parent_id=parent["id"])
        else:
            response = await move(client, user, task["id"], parent_id=parent["id"])
        assert_invalid(response, "body", "parent_id")
    assert await parents_of(client, user, levels) == [None, top["id"], middle["id"]]


async def test_patch_parent_id_null_makes_a_subtask_top_level_and_last(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent = await create_task(client, user)
    child = await subtask(client, user, parent)
    later = await create_task(client, user)
    response = await patch(client, user, child["id"], parent_id=None)
    assert response.status_code == 200, response.text
    assert response.json()["parent_id"] is None
    assert await ids(client, user, top_level="true", sort="position") == [
        parent["id"],
        later["id"],
        child["id"],
    ]


# Completing, reopening.


@pytest.mark.parametrize("how", COMPLETE_BY)
async def test_completing_a_parent_completes_its_open_subtasks_at_every_depth(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock, how: str
) -> None:
    parent, child, grandchild, great = await chain(client, user, 4)
    sibling = await subtask(client, user, parent, status="in_progress")
    clock.set("2026-05-04T09:00:00Z")
    done_earlier = await subtask(client, user, child, title="done earlier")
    assert (await complete(client, user, done_earlier["id"])).status_code == 200
    clock.set("2026-05-04T10:30:00Z")
    answered = await complete_by(client, user, parent, how)
    assert answered["status"] == "completed"
    assert answered["is_completed"] is True
    assert at(answered["completed_at"]) == at("2026-05-04T10:30:00Z")
    for task in (child, grandchild, great, sibling):
        now = await get(client, user, task["id"])
        assert (now["status"], now["is_completed"]) == ("completed", True)
        assert at(now["completed_at"]) == at("2026-05-04T10:30:00Z")
        recorded = await completions(client, user, task["id"])
        assert recorded["total"] == 1
        assert at(recorded["items"][0]["completed_at"]) == at("2026-05-04T10:30:00Z")
        assert recorded["items"][0]["completed_by"] == user.id
    # The one already completed keeps its own completed_at, and is not recorded again.
    earlier = await get(client, user, done_earlier["id"])
    assert at(earlier["completed_at"]) == at("2026-05-04T09:00:00Z")
    recorded = await completions(client, user, done_earlier["id"])
    assert recorded["total"] == 1
    assert at(recorded["items"][0]["completed_at"]) == at("2026-05-04T09:00:00Z")
    assert (await completions(client, user, parent["id"]))["total"] == 1


async def test_completing_a_subtask_leaves_its_parent_and_siblings_open(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent = await create_task(client, user)
    first, second = await subtask(client, user, parent), await subtask(client, user, parent)
    assert (await complete(client, user, first["id"])).status_code == 200
    assert (await get(client, user, parent["id"]))["status"] == "todo"
    assert (await get(client, user, second["id"]))["status"] == "todo"


@pytest.mark.parametrize("reopen", ["todo", "in_progress"])
async def test_reopening_a_parent_leaves_its_subtasks_as_they_are(
    client: httpx.AsyncClient, user: SignedInUser, reopen: str
) -> None:
    parent, child, grandchild = await chain(client, user, 3)
    assert (await complete(client, user, parent["id"])).status_code == 200
    before = [await get(client, user, task["id"]) for task in (child, grandchild)]
    response = await patch(client, user, parent["id"], status=reopen)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["completed_at"]) == (reopen, None)
    assert [await get(client, user, task["id"]) for task in (child, grandchild)] == before
    assert all(task["status"] == "completed" for task in before)


# Moving and deleting parents.


@pytest.mark.parametrize("how", ["patch", "put", "move"])
async def test_moving_a_parent_to_another_list_takes_its_subtasks_along(
    client: httpx.AsyncClient, user: SignedInUser, how: str
) -> None:
    source = await create_list(client, user, "Source")
    target = await create_list(client, user, "Target")
    parent, child, grandchild = await chain(client, user, 3, list_id=source)
    second = await subtask(client, user, parent)
    stays = await create_task(client, user, list_id=source)
    if how == "patch":
        response = await patch(client, user, parent["id"], list_id=target)
    elif how == "put":
        response = await put(client, user, parent, list_id=target)
    else:
        response = await move(client, user, parent["id"], list_id=target)
    assert response.status_code == 200, response.text
    assert (response.json()["list_id"], response.json()["parent_id"]) == (target, None)
    for task, parent_id in ((child, parent["id"]), (grandchild, child["id"]), (second, parent["id"])):
        now = await get(client, user, task["id"])
        assert (now["list_id"], now["parent_id"]) == (target, parent_id)
    assert await ids(client, user, list_id=source) == [stays["id"]]
    assert sorted(await ids(client, user, list_id=target)) == sorted(
        task["id"] for task in (parent, child, grandchild, second)
    )
    assert await ids(client, user, parent_id=parent["id"], sort="position") == [child["id"], second["id"]]


@pytest.mark.parametrize("how", ["patch", "move"])
async def test_moving_a_parent_leaves_no_subtask_assigned_to_a_non_member(
    client: httpx.AsyncClient, user: SignedInUser, users: UserFactory, how: str
) -> None:
    """An assignee is a member of the task's list (shared/API.md, "Tasks"): the move is refused, or
    the subtask loses an assignee who cannot follow it."""
    member = await users.create()
    source = await create_list(client, user, "Shared")
    await share(client, user, source, member, "editor")
    target = await create_list(client, user, "Private")
    parent = await create_task(client, user, list_id=source)
    child = await subtask(client, user, parent, assignee_id=member.id)
    if how == "patch":
        response = await patch(client, user, parent["id"], list_id=target)
    else:
        response = await move(client, user, parent["id"], list_id=target)
    now = await get(client, user, child["id"])
    if response.status_code == 200:
        assert (now["list_id"], now["assignee_id"]) == (target, None)
    else:
        assert response.status_code == 422, response.text
        assert now == child


async def test_a_subtask_moved_to_another_list_leaves_its_parent_and_becomes_top_level(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    source = await create_list(client, user, "Source")
    target = await create_list(client, user, "Target")
    parent, child, grandchild = await chain(client, user, 3, list_id=source)
    response = await patch(client, user, child["id"], list_id=target)
    assert response.status_code == 200, response.text
    assert (response.json()["list_id"], response.json()["parent_id"]) == (target, None)
    assert (await get(client, user, grandchild["id"]))["list_id"] == target
    assert await ids(client, user, parent_id=parent["id"]) == []
    # Under a parent in the new list, in one request.
    new_parent = await create_task(client, user, list_id=source)
    response = await patch(client, user, child["id"], list_id=source, parent_id=new_parent["id"])
    assert response.status_code == 200, response.text
    assert (response.json()["list_id"], response.json()["parent_id"]) == (source, new_parent["id"])
    assert (await get(client, user, grandchild["id"]))["list_id"] == source


async def test_deleting_a_parent_deletes_its_subtasks_at_every_depth(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent, child, grandchild = await chain(client, user, 3)
    second = await subtask(client, user, parent)
    unrelated = await create_task(client, user)
    response = await client.delete(f"/tasks/{parent['id']}", headers=user.headers)
    assert response.status_code == 204, response.text
    for task in (parent, child, grandchild, second):
        response = await client.get(f"/tasks/{task['id']}", headers=user.headers)
        assert response.status_code == 404, response.text
        assert (await patch(client, user, task["id"], title="x")).status_code == 404
    assert await ids(client, user) == [unrelated["id"]]


async def test_deleting_a_subtask_leaves_its_parent(client: httpx.AsyncClient, user: SignedInUser) -> None:
    parent, child, grandchild = await chain(client, user, 3)
    assert (await client.delete(f"/tasks/{child['id']}", headers=user.headers)).status_code == 204
    assert (await client.get(f"/tasks/{grandchild['id']}", headers=user.headers)).status_code == 404
    assert await get(client, user, parent["id"]) == parent


# Listing.


async def test_parent_id_lists_the_direct_subtasks_only(
    client: httpx.AsyncClient, user: SignedInUser, other: SignedInUser
) -> None:
    parent, child, grandchild = await chain(client, user, 3)
    second = await subtask(client, user, parent)
    await create_task(client, user)
    assert sorted(await ids(client, user, parent_id=parent["id"])) == sorted([child["id"], second["id"]])
    assert await ids(client, user, parent_id=child["id"]) == [grandchild["id"]]
    assert await ids(client, user, parent_id=grandchild["id"]) == []
    response = await client.get(
        "/tasks", params={"parent_id": parent["id"], "limit": 1}, headers=user.headers
    )
    assert (response.json()["total"], response.json()["pages"]) == (2, 2)
    # Someone else's task, and one that never existed, are both 404.
    for parent_id in (parent["id"], parent["id"] + 1000):
        response = await client.get("/tasks", params={"parent_id": parent_id}, headers=other.headers)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"


async def test_top_level_lists_only_tasks_without_a_parent(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    first = await create_task(client, user)
    child = await subtask(client, user, first)
    await subtask(client, user, child)
    second = await create_task(client, user, status="completed")
    assert sorted(await ids(client, user, top_level="true")) == sorted([first["id"], second["id"]])
    body = (
        await client.get(
            "/tasks", params={"top_level": "true", "status_filter": "todo"}, headers=user.headers
        )
    ).json()
    assert ([item["id"] for item in body["items"]], body["total"]) == ([first["id"]], 1)
    assert len(await ids(client, user)) == 4
