"""Helpers for the trash and sync tests: a client's local copy built only from `GET /sync` answers,
and what `GET /lists` + `GET /tasks` show, to compare it with. The clock the tests set is the one of
`tests/task_factories.py` (re-exported here).
"""

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.factories import SignedInUser, create_task
from tests.task_factories import FakeClock, fake_clock

__all__ = ["FakeClock", "fake_clock"]

Body = dict[str, Any]


# Requests through the public API.


async def create_list(client: httpx.AsyncClient, user: SignedInUser, name: str = "A list") -> Body:
    response = await client.post("/lists", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    created: Body = response.json()
    return created


async def share(
    client: httpx.AsyncClient, admin: SignedInUser, list_id: int, member: SignedInUser, role: str = "editor"
) -> None:
    response = await client.post(
        f"/lists/{list_id}/members", json={"user": member.username, "role": role}, headers=admin.headers
    )
    assert response.status_code == 201, response.text


async def task(client: httpx.AsyncClient, user: SignedInUser, **fields: Any) -> Body:
    return await create_task(client, user, **fields)


async def trash(client: httpx.AsyncClient, user: SignedInUser, task_id: int) -> None:
    response = await client.delete(f"/tasks/{task_id}", headers=user.headers)
    assert response.status_code == 204, response.text


async def restore(client: httpx.AsyncClient, user: SignedInUser, task_id: int) -> Body:
    response = await client.post(f"/trash/{task_id}/restore", headers=user.headers)
    assert response.status_code == 200, response.text
    restored: Body = response.json()
    return restored


async def all_items(client: httpx.AsyncClient, user: SignedInUser, path: str, **params: Any) -> list[Body]:
    """Every item of a paged collection (`/lists`, `/tasks`, `/trash`), page by page."""
    items: list[Body] = []
    skip = 0
    while True:
        response = await client.get(path, params={**params, "skip": skip, "limit": 100}, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        skip += 100
        if skip >= page["total"]:
            assert len(items) == page["total"], page
            return items


async def task_ids(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> set[int]:
    return {item["id"] for item in await all_items(client, user, "/tasks", **params)}


async def trash_ids(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> list[int]:
    """The ids `GET /trash` lists, in its order."""
    return [item["id"] for item in await all_items(client, user, "/trash", **params)]


@dataclass
class View:
    """What a user sees: lists and tasks by id."""

    lists: dict[int, Body] = field(default_factory=dict)
    tasks: dict[int, Body] = field(default_factory=dict)


async def server_view(client: httpx.AsyncClient, user: SignedInUser) -> View:
    """`GET /lists` + `GET /tasks`, every page."""
    lists = await all_items(client, user, "/lists")
    tasks = await all_items(client, user, "/tasks")
    return View({item["id"]: item for item in lists}, {item["id"]: item for item in tasks})


async def sync_once(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> httpx.Response:
    return await client.get("/sync", params=params, headers=user.headers)


async def sync_answer(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> Body:
    response = await sync_once(client, user, **params)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    answer: Body = response.json()
    assert set(answer) == {"full", "cursor", "has_more", "lists", "tasks", "deleted"}, answer
    assert set(answer["deleted"]) == {"lists", "tasks"}, answer
    return answer


def objects_of(answer: Body) -> list[tuple[str, int]]:
    """Every object an answer names, as ("list" | "task", id), deleted ones included."""
    return [
        *(("list", item["id"]) for item in answer["lists"]),
        *(("task", item["id"]) for item in answer["tasks"]),
        *(("list", list_id) for list_id in answer["deleted"]["lists"]),
        *(("task", task_id) for task_id in answer["deleted"]["tasks"]),
    ]


@dataclass
class Walk:
    """The answers of one walk of `has_more` pages."""

    answers: list[Body]

    @property
    def objects(self) -> list[tuple[str, int]]:
        return [named for answer in self.answers for named in objects_of(answer)]

    @property
    def repeated(self) -> list[tuple[str, int]]:
        seen: set[tuple[str, int]] = set()
        twice = []
        for named in self.objects:
            if named in seen:
                twice.append(named)
            seen.add(named)
        return twice

    def changed(self) -> View:
        """The lists and tasks the walk handed over whole (the last state of each)."""
        view = View()
        for answer in self.answers:
            view.lists.update({item["id"]: item for item in answer["lists"]})
            view.tasks.update({item["id"]: item for item in answer["tasks"]})
        return view

    @property
    def deleted_lists(self) -> set[int]:
        return {list_id for answer in self.answers for list_id in answer["deleted"]["lists"]}

    @property
    def deleted_tasks(self) -> set[int]:
        return {task_id for answer in self.answers for task_id in answer["deleted"]["tasks"]}

    @property
    def empty(self) -> bool:
        return not self.objects


@dataclass
class Replica:
    """A client's local copy of what one user sees, built only from `GET /sync` answers."""

    user: SignedInUser
    limit: int = 500
    cursor: str | None = None
    view: View = field(default_factory=View)

    async def pull(
        self, client: httpx.AsyncClient, limit: int | None = None, max_pages: int = 10_000
    ) -> Walk:
        """Sync until `has_more` is false (a full download first, if there is no cursor yet)."""
        limit = limit or self.limit
        answers: list[Body] = []
        full = self.cursor is None
        if full:
            self.view = View()
        while True:
            params: Body = {"limit": limit}
            if self.cursor is not None:
                params["cursor"] = self.cursor
            answer = await sync_answer(client, self.user, **params)
            assert answer["full"] is full, answer
            if full:
                assert answer["deleted"] == {"lists": [], "tasks": []}, answer
            assert len(objects_of(answer)) <= limit, (limit, answer)
            self.apply(answer)
            answers.append(answer)
            assert len(answers) <= max_pages, "has_more never ended"
            if not answer["has_more"]:
                return Walk(answers)

    def apply(self, answer: Body) -> None:
        for item in answer["lists"]:
            self.view.lists[item["id"]] = item
        for item in answer["tasks"]:
            self.view.tasks[item["id"]] = item
        for list_id in answer["deleted"]["lists"]:
            self.view.lists.pop(list_id, None)
        for task_id in answer["deleted"]["tasks"]:
            self.view.tasks.pop(task_id, None)
        self.cursor = answer["cursor"]

    async def assert_matches(self, client: httpx.AsyncClient) -> None:
        """The local copy is exactly what `GET /lists` and `GET /tasks` show."""
        expected = await server_view(client, self.user)
        assert_same_view(self.view, expected, who=self.user.username)


def assert_same_view(local: View, expected: View, who: str = "") -> None:
    missing = {
        "lists": sorted(set(expected.lists) - set(local.lists)),
        "tasks": sorted(set(expected.tasks) - set(local.tasks)),
    }
    extra = {
        "lists": sorted(set(local.lists) - set(expected.lists)),
        "tasks": sorted(set(local.tasks) - set(expected.tasks)),
    }
    assert (missing, extra) == ({"lists": [], "tasks": []}, {"lists": [], "tasks": []}), (
        f"{who}: missing from the local copy {missing}, there but gone {extra}"
    )
    stale_lists = {
        list_id: (local.lists[list_id], item)
        for list_id, item in expected.lists.items()
        if local.lists[list_id] != item
    }
    stale_tasks = {
        task_id: (local.tasks[task_id], item)
        for task_id, item in expected.tasks.items()
        if local.tasks[task_id] != item
    }
    assert not stale_lists, f"{who}: stale lists (local, server): {stale_lists}"
    assert not stale_tasks, f"{who}: stale tasks (local, server): {stale_tasks}"
