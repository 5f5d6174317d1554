"""The trash (shared/API.md, "Trash", and the trash rules of "Tasks"): DELETE /tasks/{id} moves a task
and its subtasks there; a trashed task is gone from every other route; GET /trash lists the tasks
deleted themselves, newest deletion first; restore brings them back (under the old parent if it is
still there), DELETE /trash/{id} deletes for good; a list's deletion skips the trash; the purge after
TRASH_RETENTION_DAYS (with the app's clock set by the test, never by sleeping)."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import SignedInUser, UserFactory
from tests.live import run_command
from tests.sync_client import (
    FakeClock,
    all_items,
    create_list,
    fake_clock,
    restore,
    share,
    task,
    task_ids,
    trash,
    trash_ids,
)
from todo_api.idempotency.repository import IdempotencyKeyRepository
from todo_api.idempotency.service import IdempotencyService
from todo_api.lists.repository import ListRepository
from todo_api.lists.service import ListService
from todo_api.tasks.repository import TaskRepository
from todo_api.tasks.service import TaskService

Body = dict[str, Any]
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[FakeClock]:
    with fake_clock(app, START) as fake:
        yield fake


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


def instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment.astimezone(UTC)


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found", response.text


async def family(client: httpx.AsyncClient, user: SignedInUser, **fields: Any) -> tuple[Body, Body, Body]:
    """A task with a subtask and a sub-subtask."""
    parent = await task(client, user, title="parent", **fields)
    child = await task(client, user, title="child", parent_id=parent["id"])
    grandchild = await task(client, user, title="grandchild", parent_id=child["id"])
    return parent, child, grandchild


async def get(client: httpx.AsyncClient, user: SignedInUser, task_id: int) -> Body:
    response = await client.get(f"/tasks/{task_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    found: Body = response.json()
    return found


async def trash_page(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> Body:
    response = await client.get("/trash", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    page: Body = response.json()
    return page


# Deleting moves to the trash.


async def test_delete_moves_a_task_and_its_subtasks_to_the_trash(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent, child, grandchild = await family(client, user)
    other = await task(client, user, title="stays")

    response = await client.delete(f"/tasks/{parent['id']}", headers=user.headers)
    assert response.status_code == 204, response.text
    assert_not_found(await client.delete(f"/tasks/{parent['id']}", headers=user.headers))

    assert await task_ids(client, user) == {other["id"]}
    page = (await client.get("/tasks", headers=user.headers)).json()
    assert page["total"] == 1
    assert (await client.get("/tasks", params={"q": "child"}, headers=user.headers)).json()["total"] == 0
    for gone in (parent, child, grandchild):
        assert_not_found(await client.get(f"/tasks/{gone['id']}", headers=user.headers))
    # Only the task deleted itself is a trash item; its subtasks are not, and are 404 under /trash.
    assert await trash_ids(client, user) == [parent["id"]]
    for subtask in (child, grandchild):
        assert_not_found(await client.post(f"/trash/{subtask['id']}/restore", headers=user.headers))
        assert_not_found(await client.delete(f"/trash/{subtask['id']}", headers=user.headers))
    # A live task is no trash item either.
    assert_not_found(await client.post(f"/trash/{other['id']}/restore", headers=user.headers))
    assert_not_found(await client.delete(f"/trash/{other['id']}", headers=user.headers))


async def test_a_trash_item_is_the_task_with_when_and_by_whom(
    client: httpx.AsyncClient, users: UserFactory, clock: FakeClock
) -> None:
    owner, editor = await users.create(), await users.create()
    shared = await create_list(client, owner, "Shared")
    await share(client, owner, shared["id"], editor, "editor")
    created = await task(client, owner, title="Report", list_id=shared["id"], labels=["work"])
    before = await get(client, owner, created["id"])

    clock.advance(hours=2)
    await trash(client, editor, created["id"])

    page = await trash_page(client, owner)
    assert (page["total"], page["page"], page["pages"]) == (1, 1, 1), page
    (item,) = page["items"]
    assert instant(item.pop("deleted_at")) == START + timedelta(hours=2)
    assert item.pop("deleted_by") == editor.id
    # The task as it was, bar updated_at, which moves on every change.
    assert instant(item.pop("updated_at")) >= instant(before.pop("updated_at"))
    assert item == before


async def test_trashed_tasks_are_404_to_every_task_route(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    gone = await task(client, user, title="gone")
    sibling = await task(client, user, title="sibling")
    etag = (await client.get(f"/tasks/{gone['id']}", headers=user.headers)).headers["ETag"]
    await trash(client, user, gone["id"])
    task_url = f"/tasks/{gone['id']}"

    for response in (
        await client.get(task_url, headers=user.headers),
        await client.get(task_url, headers={**user.headers, "If-None-Match": etag}),
        await client.patch(task_url, json={"title": "back?"}, headers=user.headers),
        await client.put(task_url, json={"title": "back?"}, headers=user.headers),
        await client.post(f"{task_url}/complete", headers=user.headers),
        await client.post(f"{task_url}/move", json={}, headers=user.headers),
        await client.post(f"{task_url}/move", json={"after_id": sibling["id"]}, headers=user.headers),
        await client.get(f"{task_url}/completions", headers=user.headers),
        await client.delete(task_url, headers=user.headers),
        await client.delete(task_url, headers={**user.headers, "If-Match": etag}),
        await client.get("/tasks", params={"parent_id": gone["id"]}, headers=user.headers),
    ):
        assert_not_found(response)

    # Nor can it be a parent, or a sibling to place another task after.
    response = await client.post("/tasks", json={"title": "x", "parent_id": gone["id"]}, headers=user.headers)
    assert response.status_code == 422, response.text
    response = await client.patch(
        f"/tasks/{sibling['id']}", json={"parent_id": gone["id"]}, headers=user.headers
    )
    assert response.status_code == 422, response.text
    response = await client.post(
        f"/tasks/{sibling['id']}/move", json={"after_id": gone["id"]}, headers=user.headers
    )
    assert response.status_code == 422, response.text
    assert await task_ids(client, user) == {sibling["id"]}


async def test_trashed_tasks_leave_totals_and_labels(client: httpx.AsyncClient, users: UserFactory) -> None:
    owner, viewer = await users.create(), await users.create()
    shared = await create_list(client, owner, "Shared")
    await share(client, owner, shared["id"], viewer, "viewer")
    first = await task(client, owner, list_id=shared["id"], labels=["Work", "home"])
    second = await task(client, owner, list_id=shared["id"], labels=["work"], parent_id=first["id"])
    await task(client, owner, list_id=shared["id"], labels=["home"])

    async def labels(user: SignedInUser) -> dict[str, int]:
        response = await client.get("/labels", headers=user.headers)
        assert response.status_code == 200, response.text
        return {item["name"].casefold(): item["task_count"] for item in response.json()["items"]}

    async def total(user: SignedInUser, **params: Any) -> int:
        response = await client.get("/tasks", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        count: int = response.json()["total"]
        return count

    for who in (owner, viewer):
        assert await labels(who) == {"home": 2, "work": 2}
        assert await total(who, list_id=shared["id"]) == 3
    await trash(client, owner, second["id"])
    for who in (owner, viewer):
        assert await labels(who) == {"home": 2, "work": 1}
        assert await total(who, list_id=shared["id"]) == 2
        assert await total(who, label="work") == 1
    # The parent takes... nothing more now: its subtask is already in the trash on its own.
    await trash(client, owner, first["id"])
    for who in (owner, viewer):
        assert await labels(who) == {"home": 1}
        assert await total(who, list_id=shared["id"]) == 1
        assert await total(who, top_level="true") == 1


# GET /trash.


async def test_trash_pages_newest_deletion_first(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    made = [await task(client, user, title=f"task {n}") for n in range(5)]
    # Deleted in this order, two of them at the same instant (ties: the later id first).
    order = [made[2], made[0], made[4], made[1]]
    for n, item in enumerate(order):
        if n != 3:
            clock.advance(minutes=1)
        await trash(client, user, item["id"])

    listed = await trash_ids(client, user)
    # made[4] and made[1] went at the same instant: either may come first, but pages must agree.
    assert set(listed[:2]) == {made[4]["id"], made[1]["id"]}
    assert listed[2:] == [made[0]["id"], made[2]["id"]]
    expected = listed
    first = await trash_page(client, user, limit=3)
    second = await trash_page(client, user, limit=3, skip=3)
    assert [item["id"] for item in first["items"] + second["items"]] == expected
    assert (first["total"], first["pages"], first["page"], first["page_size"]) == (4, 2, 1, 3)
    assert (second["total"], second["page"]) == (4, 2)
    deleted = [instant(item["deleted_at"]) for item in first["items"] + second["items"]]
    assert deleted == sorted(deleted, reverse=True)
    for response in (
        await client.get("/trash", params={"limit": 0}, headers=user.headers),
        await client.get("/trash", params={"limit": 101}, headers=user.headers),
        await client.get("/trash", params={"skip": -1}, headers=user.headers),
    ):
        assert response.status_code == 422, response.text


async def test_trash_shows_the_lists_you_can_see_and_filters_by_list(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    owner, viewer, outsider = await users.create(), await users.create(), await users.create()
    shared = await create_list(client, owner, "Shared")
    private = await create_list(client, owner, "Private")
    await share(client, owner, shared["id"], viewer, "viewer")
    in_shared = await task(client, owner, list_id=shared["id"])
    in_private = await task(client, owner, list_id=private["id"])
    outsiders = await task(client, outsider)
    for item, who in ((in_shared, owner), (in_private, owner), (outsiders, outsider)):
        await trash(client, who, item["id"])

    assert set(await trash_ids(client, owner)) == {in_shared["id"], in_private["id"]}
    assert await trash_ids(client, owner, list_id=shared["id"]) == [in_shared["id"]]
    assert await trash_ids(client, owner, list_id=private["id"]) == [in_private["id"]]
    assert await trash_ids(client, viewer) == [in_shared["id"]]
    assert await trash_ids(client, viewer, list_id=shared["id"]) == [in_shared["id"]]
    assert await trash_ids(client, outsider) == [outsiders["id"]]
    # A list you cannot see is a 404, like one that does not exist.
    for who, list_id in ((viewer, private["id"]), (outsider, shared["id"]), (owner, 2**31 - 1)):
        assert_not_found(await client.get("/trash", params={"list_id": list_id}, headers=who.headers))
    # Nor can anyone reach a trash item of a list they cannot see.
    assert_not_found(await client.post(f"/trash/{in_private['id']}/restore", headers=viewer.headers))
    assert_not_found(await client.delete(f"/trash/{outsiders['id']}", headers=owner.headers))
    # Leaving the list takes its trash out of sight too.
    response = await client.delete(f"/lists/{shared['id']}/members/{viewer.id}", headers=viewer.headers)
    assert response.status_code == 204, response.text
    assert await trash_ids(client, viewer) == []


# Restoring.


@pytest.mark.parametrize("role", ["editor", "viewer", "non-member"])
async def test_restore_needs_the_editor_role(
    client: httpx.AsyncClient, users: UserFactory, role: str
) -> None:
    owner, member = await users.create(), await users.create()
    shared = await create_list(client, owner, "Shared")
    if role != "non-member":
        await share(client, owner, shared["id"], member, role)
    item = await task(client, owner, list_id=shared["id"])
    await trash(client, owner, item["id"])

    restoring = await client.post(f"/trash/{item['id']}/restore", headers=member.headers)
    deleting = await client.delete(f"/trash/{item['id']}", headers=member.headers)
    if role == "editor":
        assert restoring.status_code == 200, restoring.text
        # It is back, so it is no trash item to delete any more.
        assert_not_found(deleting)
        assert await task_ids(client, owner) == {item["id"]}
        return
    expected = (403, "forbidden") if role == "viewer" else (404, "not_found")
    for response in (restoring, deleting):
        assert (response.status_code, response.json()["code"]) == expected, response.text
    # Nothing changed.
    assert await trash_ids(client, owner) == [item["id"]]
    assert await task_ids(client, owner) == set()


async def test_restore_brings_back_the_subtasks_that_went_with_it(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    project = await create_list(client, user, "Project")
    top = await task(client, user, title="top", list_id=project["id"])
    parent, child, grandchild = await family(client, user, list_id=project["id"], parent_id=top["id"])
    before = {item["id"]: await get(client, user, item["id"]) for item in (parent, child, grandchild)}
    clock.advance(minutes=5)
    await trash(client, user, parent["id"])
    clock.advance(minutes=5)

    response = await client.post(f"/trash/{parent['id']}/restore", headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    restored = response.json()
    assert (
        response.headers["ETag"]
        == (await client.get(f"/tasks/{parent['id']}", headers=user.headers)).headers["ETag"]
    )
    assert restored == await get(client, user, parent["id"])
    # The same list, the same parent (still there), the same place; everything but updated_at as it was.
    for task_id, was in before.items():
        now = await get(client, user, task_id)
        assert instant(now.pop("updated_at")) == START + timedelta(minutes=10)
        was.pop("updated_at")
        assert now == was
    assert await task_ids(client, user) == {top["id"], parent["id"], child["id"], grandchild["id"]}
    assert await trash_ids(client, user) == []
    assert_not_found(await client.post(f"/trash/{parent['id']}/restore", headers=user.headers))


async def test_restore_under_a_parent_that_is_still_there(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent, child, grandchild = await family(client, user)
    await trash(client, user, child["id"])
    assert await trash_ids(client, user) == [child["id"]]

    restored = await restore(client, user, child["id"])
    assert (restored["parent_id"], restored["list_id"]) == (parent["id"], parent["list_id"])
    assert (await get(client, user, grandchild["id"]))["parent_id"] == child["id"]
    assert await task_ids(client, user, parent_id=parent["id"]) == {child["id"]}


async def test_restore_under_a_trashed_parent_goes_to_the_top_level(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    project = await create_list(client, user, "Project")
    parent, child, grandchild = await family(client, user, list_id=project["id"])
    sibling = await task(client, user, title="sibling", parent_id=parent["id"])
    # The child is trashed on its own first, then its parent (with the sibling).
    await trash(client, user, child["id"])
    await trash(client, user, parent["id"])
    assert await trash_ids(client, user) == [parent["id"], child["id"]]

    restored = await restore(client, user, child["id"])
    assert restored["parent_id"] is None
    assert restored["list_id"] == project["id"]
    # It came back with its own subtask, and sits at the top level of its list.
    assert (await get(client, user, grandchild["id"]))["parent_id"] == child["id"]
    assert await task_ids(client, user, list_id=project["id"], top_level="true") == {child["id"]}
    positions = await all_items(client, user, "/tasks", sort="position", list_id=project["id"])
    assert [item["id"] for item in positions if item["parent_id"] is None] == [child["id"]]

    # The parent comes back with the sibling that went with it, not with the child, which stays put.
    await restore(client, user, parent["id"])
    assert await task_ids(client, user, parent_id=parent["id"]) == {sibling["id"]}
    assert (await get(client, user, child["id"]))["parent_id"] is None
    assert await task_ids(client, user, list_id=project["id"], top_level="true") == {
        child["id"],
        parent["id"],
    }
    ordered = await all_items(
        client, user, "/tasks", sort="position", list_id=project["id"], top_level="true"
    )
    assert len({item["position"] for item in ordered}) == 2


async def test_a_subtask_trashed_on_its_own_stays_when_its_parent_comes_back(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent, child, _ = await family(client, user)
    await trash(client, user, child["id"])
    await trash(client, user, parent["id"])
    await restore(client, user, parent["id"])
    assert await trash_ids(client, user) == [child["id"]]
    assert_not_found(await client.get(f"/tasks/{child['id']}", headers=user.headers))
    # Restored now, it goes back under its parent, which is there again.
    assert (await restore(client, user, child["id"]))["parent_id"] == parent["id"]


async def test_restore_after_the_parent_was_deleted_for_good_goes_to_the_top_level(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    parent = await task(client, user, title="parent")
    child = await task(client, user, title="child", parent_id=parent["id"])
    await trash(client, user, child["id"])
    await trash(client, user, parent["id"])
    response = await client.delete(f"/trash/{parent['id']}", headers=user.headers)
    assert response.status_code == 204, response.text
    # The child was a trash item of its own: deleting its parent for good must leave it there.
    assert await trash_ids(client, user) == [child["id"]]
    restored = await restore(client, user, child["id"])
    assert restored["parent_id"] is None


# Deleting for good.


async def test_delete_for_good(client: httpx.AsyncClient, user: SignedInUser) -> None:
    parent, child, grandchild = await family(client, user)
    kept = await task(client, user, title="kept in the trash")
    await trash(client, user, parent["id"])
    await trash(client, user, kept["id"])

    response = await client.delete(f"/trash/{parent['id']}", headers=user.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_not_found(await client.delete(f"/trash/{parent['id']}", headers=user.headers))
    assert await trash_ids(client, user) == [kept["id"]]
    for gone in (parent, child, grandchild):
        assert_not_found(await client.post(f"/trash/{gone['id']}/restore", headers=user.headers))
        assert_not_found(await client.get(f"/tasks/{gone['id']}", headers=user.headers))
    # The rest of the trash is untouched.
    assert (await restore(client, user, kept["id"]))["id"] == kept["id"]


async def test_deleting_a_list_skips_the_trash(client: httpx.AsyncClient, users: UserFactory) -> None:
    owner, editor = await users.create(), await users.create()
    doomed = await create_list(client, owner, "Doomed")
    await share(client, owner, doomed["id"], editor, "editor")
    live = await task(client, owner, list_id=doomed["id"])
    parent = await task(client, owner, list_id=doomed["id"])
    await task(client, owner, list_id=doomed["id"], parent_id=parent["id"])
    trashed = await task(client, editor, list_id=doomed["id"])
    await trash(client, editor, trashed["id"])
    elsewhere = await task(client, owner)
    await trash(client, owner, elsewhere["id"])

    response = await client.delete(f"/lists/{doomed['id']}", headers=owner.headers)
    assert response.status_code == 204, response.text
    assert await trash_ids(client, owner) == [elsewhere["id"]]
    assert await trash_ids(client, editor) == []
    for gone in (live, parent, trashed):
        for who in (owner, editor):
            assert_not_found(await client.get(f"/tasks/{gone['id']}", headers=who.headers))
            assert_not_found(await client.post(f"/trash/{gone['id']}/restore", headers=who.headers))


# The purge after TRASH_RETENTION_DAYS.


async def purge_trash(app: FastAPI, retention_days: int) -> int:
    """What `todo-api purge-trash` runs: the tasks service's purge, in a transaction of its own, on the
    app's clock."""
    async with app.state.database.write_session() as session:
        idempotency = IdempotencyService(IdempotencyKeyRepository(session))
        lists = ListService(ListRepository(session), idempotency)
        tasks = TaskService(TaskRepository(session), lists, idempotency, app.state.clock)
        purged = await tasks.purge_trash(retention_days)
        await session.commit()
    return purged


async def test_the_purge_deletes_what_was_trashed_longer_ago_than_the_retention(
    app: FastAPI, client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    old_parent, old_child, _ = await family(client, user)
    recent = await task(client, user, title="recent")
    live = await task(client, user, title="live")
    await trash(client, user, old_parent["id"])
    clock.advance(days=20)
    await trash(client, user, recent["id"])

    clock.advance(days=10, seconds=-1)  # 30 days less a second after the first deletion: nothing yet
    assert await purge_trash(app, 30) == 0
    assert await trash_ids(client, user) == [recent["id"], old_parent["id"]]

    clock.advance(seconds=2)
    assert await purge_trash(app, 30) >= 1
    assert await trash_ids(client, user) == [recent["id"]]
    for gone in (old_parent, old_child):
        assert_not_found(await client.post(f"/trash/{gone['id']}/restore", headers=user.headers))
    assert await task_ids(client, user) == {live["id"]}
    # Once it too is 30 days in the trash, it goes; live tasks never do.
    clock.advance(days=20)
    assert await purge_trash(app, 30) == 1
    assert await trash_ids(client, user) == []
    assert await task_ids(client, user) == {live["id"]}


async def test_todo_api_purge_trash_deletes_what_is_older_than_the_retention(
    app: FastAPI, client: httpx.AsyncClient, user: SignedInUser, database_url: str
) -> None:
    # The command runs on the real clock: these two were trashed 31 and 29 days before now.
    now = datetime.now(UTC)
    old, recent = await task(client, user, title="old"), await task(client, user, title="recent")
    with fake_clock(app, now - timedelta(days=31)):
        await trash(client, user, old["id"])
    with fake_clock(app, now - timedelta(days=29)):
        await trash(client, user, recent["id"])

    result = await asyncio.to_thread(run_command, "purge-trash", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert await trash_ids(client, user) == [recent["id"]]
