"""Helpers for the tests of subtasks, order, labels and recurrence: a clock the tests set, and
small wrappers around the public task routes."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import SignedInUser, create_task

# The fields a client may write (shared/API.md, "Tasks"): what a PUT sends.
WRITABLE = (
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "list_id",
    "parent_id",
    "assignee_id",
    "labels",
    "recurrence",
    "timezone",
)
PAGE_FIELDS = {"items", "total", "skip", "limit", "page", "page_size", "pages"}


class FakeClock:
    """What the app takes for "now" while a test runs: it moves only when the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime | str) -> None:
        self.now = at(moment) if isinstance(moment, str) else moment

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@contextmanager
def fake_clock(app: FastAPI, now: datetime) -> Iterator[FakeClock]:
    """`app.state.clock` is a FakeClock until the block ends, then what it was."""
    original = app.state.clock
    clock = FakeClock(now)
    app.state.clock = clock
    try:
        yield clock
    finally:
        app.state.clock = original


def at(text: str) -> datetime:
    """An instant written as ISO 8601 (`2026-03-29T07:00:00Z`), aware and in UTC."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment.astimezone(UTC)


def instant(value: str | None) -> datetime | None:
    """A timestamp from a response body, as an aware datetime (None stays None)."""
    return None if value is None else at(value)


async def create_list(client: httpx.AsyncClient, user: SignedInUser, name: str = "A list") -> int:
    response = await client.post("/lists", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    list_id: int = response.json()["id"]
    return list_id


async def share(
    client: httpx.AsyncClient, owner: SignedInUser, list_id: int, member: SignedInUser, role: str = "editor"
) -> None:
    response = await client.post(
        f"/lists/{list_id}/members", json={"user": member.username, "role": role}, headers=owner.headers
    )
    assert response.status_code == 201, response.text


async def subtask(
    client: httpx.AsyncClient, user: SignedInUser, parent: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    return await create_task(client, user, parent_id=parent["id"], **fields)


async def chain(
    client: httpx.AsyncClient, user: SignedInUser, length: int, **fields: Any
) -> list[dict[str, Any]]:
    """`length` tasks, each a subtask of the one before: the first is top-level."""
    tasks = [await create_task(client, user, title="level 1", **fields)]
    for level in range(2, length + 1):
        tasks.append(await subtask(client, user, tasks[-1], title=f"level {level}"))
    return tasks


async def get(client: httpx.AsyncClient, user: SignedInUser, task_id: int) -> dict[str, Any]:
    response = await client.get(f"/tasks/{task_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def etag(client: httpx.AsyncClient, user: SignedInUser, task_id: int) -> str:
    response = await client.get(f"/tasks/{task_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


async def patch(client: httpx.AsyncClient, user: SignedInUser, task_id: int, **fields: Any) -> httpx.Response:
    return await client.patch(f"/tasks/{task_id}", json=fields, headers=user.headers)


def put_body(task: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The whole of `task` as a PUT sends it, with `changes`."""
    return {**{name: task[name] for name in WRITABLE}, **changes}


async def put(
    client: httpx.AsyncClient, user: SignedInUser, task: dict[str, Any], **changes: Any
) -> httpx.Response:
    return await client.put(f"/tasks/{task['id']}", json=put_body(task, **changes), headers=user.headers)


async def move(client: httpx.AsyncClient, user: SignedInUser, task_id: int, **body: Any) -> httpx.Response:
    return await client.post(f"/tasks/{task_id}/move", json=body, headers=user.headers)


async def complete(client: httpx.AsyncClient, user: SignedInUser, task_id: int) -> httpx.Response:
    return await client.post(f"/tasks/{task_id}/complete", headers=user.headers)


async def complete_by(
    client: httpx.AsyncClient, user: SignedInUser, task: dict[str, Any], how: str
) -> dict[str, Any]:
    """Complete `task` through POST .../complete, PATCH status or PUT; the task answered."""
    if how == "complete":
        response = await complete(client, user, task["id"])
    elif how == "patch":
        response = await patch(client, user, task["id"], status="completed")
    else:
        assert how == "put", how
        response = await put(client, user, await get(client, user, task["id"]), status="completed")
    assert response.status_code == 200, response.text
    answered: dict[str, Any] = response.json()
    return answered


COMPLETE_BY = ("complete", "patch", "put")


async def page(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> dict[str, Any]:
    response = await client.get("/tasks", params={"limit": 100, **params}, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["total"] == len(body["items"]) or body["limit"] < body["total"], body
    return body


async def ids(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> list[int]:
    """The ids `GET /tasks` lists with these parameters, in its order (one page of up to 100)."""
    body = await page(client, user, **params)
    assert body["total"] <= 100, "ids() reads one page only"
    return [item["id"] for item in body["items"]]


async def completions(
    client: httpx.AsyncClient, user: SignedInUser, task_id: int, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/tasks/{task_id}/completions", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_invalid(response: httpx.Response, *loc: str | int) -> None:
    """A 422 in the contract's shape, with a field error whose `loc` starts with `loc`."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error", body
    locs = [tuple(error["loc"]) for error in body["detail"]]
    assert any(found[: len(loc)] == loc for found in locs), (loc, locs)
