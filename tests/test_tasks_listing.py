"""GET /tasks: the page, its filters, search and every sort key walked across pages."""

import math
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from tests.factories import PRIORITY_RANK, SORT_KEYS, SignedInUser, UserFactory, create_task

PAGE_KEYS = {"items", "total", "skip", "limit", "page", "page_size", "pages"}

# Thirteen tasks with deliberate ties: equal titles up to case, repeated priorities, several equal
# due dates and four without one. Titles are plain letters so every database collation agrees.
SORT_FIXTURE: list[dict[str, Any]] = [
    {"title": "banana", "priority": "medium", "due_date": "2030-03-01T12:00:00Z"},
    {"title": "Apple", "priority": "high", "due_date": None},
    {"title": "cherry", "priority": "low", "due_date": "2030-01-01T00:00:00Z"},
    {"title": "apple", "priority": "medium", "due_date": "2030-03-01T12:00:00Z"},
    {"title": "Banana", "priority": "high", "due_date": None},
    {"title": "date", "priority": "low", "due_date": "2029-12-31T23:59:59Z"},
    {"title": "elderberry", "priority": "medium", "due_date": "2030-03-01T12:00:00Z"},
    {"title": "apple", "priority": "high", "due_date": None},
    {"title": "fig", "priority": "low", "due_date": "2031-06-15T08:30:00Z"},
    {"title": "Cherry", "priority": "medium", "due_date": "2030-01-01T00:00:00Z"},
    {"title": "grape", "priority": "high", "due_date": None},
    {"title": "date", "priority": "medium", "due_date": "2030-02-01T00:00:00Z"},
    {"title": "kiwi", "priority": "low", "due_date": "2031-06-15T08:30:00Z"},
]
# Touched after creation, in this order, so that updated_at order differs from created_at order.
TOUCH_ORDER = [5, 0, 9, 2, 11, 7]


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def sort_value(task: dict[str, Any], field: str) -> Any:
    """The value the service sorts `field` on; None for a missing due date."""
    value = task[field]
    if value is None:
        return None
    if field in ("created_at", "updated_at", "due_date"):
        return timestamp(value)
    if field == "priority":
        return PRIORITY_RANK[value]
    return value.lower()


def expected_order(tasks: list[dict[str, Any]], sort: str) -> list[int]:
    """Ids in the contract's order: key then id, both in the key's direction; null due dates last."""
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    present = [task for task in tasks if sort_value(task, field) is not None]
    missing = [task for task in tasks if sort_value(task, field) is None]
    ordered = sorted(present, key=lambda task: (sort_value(task, field), task["id"]), reverse=descending)
    ordered += sorted(missing, key=lambda task: task["id"], reverse=descending)
    return [task["id"] for task in ordered]


async def list_tasks(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> dict[str, Any]:
    response = await client.get("/tasks", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def create_many(client: httpx.AsyncClient, user: SignedInUser, count: int) -> list[dict[str, Any]]:
    return [await create_task(client, user, title=f"Task {n:02d}") for n in range(count)]


async def build_sort_fixture(client: httpx.AsyncClient, user: SignedInUser) -> list[dict[str, Any]]:
    tasks = [await create_task(client, user, **fields) for fields in SORT_FIXTURE]
    for index in TOUCH_ORDER:
        response = await client.patch(
            f"/tasks/{tasks[index]['id']}", json={"description": f"touched {index}"}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        tasks[index] = response.json()
    return tasks


# --- the page -----------------------------------------------------------------------------------


async def test_empty_list_has_the_page_shape_and_defaults(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()

    response = await client.get("/tasks", headers=user.headers)

    assert response.status_code == 200
    assert response.json() == {
        "items": [],
        "total": 0,
        "skip": 0,
        "limit": 20,
        "page": 1,
        "page_size": 20,
        "pages": 0,
    }


async def test_items_are_full_tasks(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(
        client, user, title="Full", description="d", priority="high", due_date="2030-01-01T00:00:00Z"
    )

    page = await list_tasks(client, user)

    assert set(page) == PAGE_KEYS
    assert page["items"] == [task]
    assert page["total"] == 1
    assert page["pages"] == 1


async def test_default_limit_is_20_and_default_sort_is_newest_first(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    tasks = await create_many(client, user, 25)

    page = await list_tasks(client, user)

    assert page["limit"] == 20
    assert page["page_size"] == 20
    assert page["total"] == 25
    assert page["pages"] == 2
    assert [item["id"] for item in page["items"]] == expected_order(tasks, "-created_at")[:20]
    assert [item["id"] for item in page["items"]] == [task["id"] for task in reversed(tasks)][:20]


async def test_default_sort_equals_explicit_minus_created_at(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    await create_many(client, user, 5)

    assert await list_tasks(client, user) == await list_tasks(client, user, sort="-created_at")


@pytest.mark.parametrize(
    ("skip", "limit", "expected"),
    [
        # expected: (page, pages, number of items) for 25 tasks
        (0, 10, (1, 3, 10)),
        (10, 10, (2, 3, 10)),
        (20, 10, (3, 3, 5)),
        (25, 10, (3, 3, 0)),
        (100, 10, (11, 3, 0)),
        (3, 7, (1, 4, 7)),
        (24, 5, (5, 5, 1)),
        (0, 100, (1, 1, 25)),
        (0, 1, (1, 25, 1)),
    ],
)
async def test_pagination_arithmetic(
    client: httpx.AsyncClient, users: UserFactory, skip: int, limit: int, expected: tuple[int, int, int]
) -> None:
    page, pages, count = expected
    user = await users.create()
    tasks = await create_many(client, user, 25)

    body = await list_tasks(client, user, skip=skip, limit=limit, sort="created_at")

    assert {key: body[key] for key in PAGE_KEYS - {"items"}} == {
        "total": 25,
        "skip": skip,
        "limit": limit,
        "page": page,
        "page_size": limit,
        "pages": pages,
    }
    assert len(body["items"]) == count
    assert [item["id"] for item in body["items"]] == [task["id"] for task in tasks][skip : skip + limit]


async def test_limit_100_is_accepted(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    await create_many(client, user, 3)

    page = await list_tasks(client, user, limit=100)

    assert page["limit"] == 100
    assert page["page_size"] == 100
    assert page["pages"] == 1
    assert len(page["items"]) == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "-1"),
        ("limit", "ten"),
        ("skip", "-1"),
        ("skip", "x"),
        ("status_filter", "done"),
        ("status_filter", "COMPLETED"),
        ("priority", "urgent"),
        ("sort", "id"),
        ("sort", "-status"),
        ("sort", "+title"),
        ("sort", "TITLE"),
    ],
)
async def test_bad_query_parameter_is_422(
    client: httpx.AsyncClient, users: UserFactory, name: str, value: str
) -> None:
    user = await users.create()

    response = await client.get("/tasks", params={name: value}, headers=user.headers)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert isinstance(body["detail"], list)
    assert all({"loc", "msg", "type"} <= error.keys() for error in body["detail"])
    assert ["query", name] in [error["loc"] for error in body["detail"]]


# --- filters and search -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["todo", "in_progress", "completed"])
async def test_status_filter(client: httpx.AsyncClient, users: UserFactory, status: str) -> None:
    user = await users.create()
    tasks = [
        await create_task(client, user, title=f"{s} {n}", status=s)
        for s, n in [
            ("todo", 1),
            ("in_progress", 1),
            ("completed", 1),
            ("todo", 2),
            ("completed", 2),
            ("todo", 3),
        ]
    ]
    expected = [task["id"] for task in tasks if task["status"] == status]

    page = await list_tasks(client, user, status_filter=status, sort="created_at")

    assert [item["id"] for item in page["items"]] == expected
    assert page["total"] == len(expected)
    assert all(item["status"] == status for item in page["items"])


@pytest.mark.parametrize("priority", ["low", "medium", "high"])
async def test_priority_filter(client: httpx.AsyncClient, users: UserFactory, priority: str) -> None:
    user = await users.create()
    tasks = [
        await create_task(client, user, title=f"{p} {n}", priority=p)
        for p, n in [("low", 1), ("high", 1), ("medium", 1), ("high", 2), ("high", 3), ("low", 2)]
    ]
    expected = [task["id"] for task in tasks if task["priority"] == priority]

    page = await list_tasks(client, user, priority=priority, sort="created_at")

    assert [item["id"] for item in page["items"]] == expected
    assert page["total"] == len(expected)


@pytest.mark.parametrize("q", ["milk", "MILK", "Milk", "ilk"])
async def test_q_is_a_case_insensitive_substring_of_title_or_description(
    client: httpx.AsyncClient, users: UserFactory, q: str
) -> None:
    user = await users.create()
    in_title = await create_task(client, user, title="Buy MILK today")
    in_description = await create_task(client, user, title="Shopping", description="eggs, milk, bread")
    await create_task(client, user, title="Walk the dog", description="around the park")
    await create_task(client, user, title="Nothing here")

    page = await list_tasks(client, user, q=q, sort="created_at")

    assert [item["id"] for item in page["items"]] == [in_title["id"], in_description["id"]]
    assert page["total"] == 2


@pytest.mark.parametrize(
    ("q", "matching"),
    [
        ("%", ["100% done"]),
        ("_", ["snake_case"]),
        ("0%", ["100% done"]),
        ("e_c", ["snake_case"]),
        ("\\", ["back\\slash"]),
        ("/", ["a/b"]),
    ],
)
async def test_like_wildcards_in_q_are_literal(
    client: httpx.AsyncClient, users: UserFactory, q: str, matching: list[str]
) -> None:
    user = await users.create()
    for title in ["100% done", "1000 done", "snake_case", "snakeXcase", "back\\slash", "a/b", "plain"]:
        await create_task(client, user, title=title)

    page = await list_tasks(client, user, q=q)

    assert sorted(item["title"] for item in page["items"]) == matching
    assert page["total"] == len(matching)


async def test_percent_in_q_matches_descriptions_literally(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    hit = await create_task(client, user, title="Discount", description="50% off")
    await create_task(client, user, title="Full price", description="no discount")

    page = await list_tasks(client, user, q="%")

    assert [item["id"] for item in page["items"]] == [hit["id"]]


async def test_q_without_match_is_an_empty_page(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    await create_many(client, user, 3)

    page = await list_tasks(client, user, q="zzz")

    assert page["items"] == []
    assert page["total"] == 0
    assert page["pages"] == 0


@pytest.mark.parametrize("blank", ["", "   "])
async def test_a_blank_q_is_no_search(client: httpx.AsyncClient, users: UserFactory, blank: str) -> None:
    """An empty search box lists everything rather than failing."""
    user = await users.create()
    await create_many(client, user, 3)

    page = await list_tasks(client, user, q=blank)

    assert page["total"] == 3


async def test_filters_combine_and_total_counts_the_filtered_set(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    specs = [
        ("Report A", "completed", "high"),
        ("Report B", "completed", "high"),
        ("Report C", "completed", "low"),
        ("Report D", "todo", "high"),
        ("Memo", "completed", "high"),
        ("Report E", "completed", "high"),
        ("report f", "completed", "high"),
    ]
    tasks = [await create_task(client, user, title=t, status=s, priority=p) for t, s, p in specs]
    expected = [
        task["id"]
        for task in tasks
        if task["status"] == "completed" and task["priority"] == "high" and "report" in task["title"].lower()
    ]
    assert len(expected) == 4
    params = {
        "status_filter": "completed",
        "priority": "high",
        "q": "REPORT",
        "sort": "created_at",
        "limit": 3,
    }

    first = await list_tasks(client, user, **params)
    second = await list_tasks(client, user, **params, skip=3)

    assert first["total"] == second["total"] == 4
    assert first["pages"] == second["pages"] == 2
    assert [item["id"] for item in first["items"] + second["items"]] == expected


# --- sorting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", SORT_KEYS)
async def test_every_sort_key_pages_through_the_full_order(
    client: httpx.AsyncClient, users: UserFactory, sort: str
) -> None:
    """Walking every page with limit=4 yields the expected order: no overlap, no gap, ties by id."""
    user = await users.create()
    tasks = await build_sort_fixture(client, user)
    expected = expected_order(tasks, sort)

    seen: list[int] = []
    for skip in range(0, len(tasks) + 4, 4):
        page = await list_tasks(client, user, sort=sort, skip=skip, limit=4)
        assert page["total"] == len(tasks)
        assert page["pages"] == math.ceil(len(tasks) / 4)
        assert page["page"] == skip // 4 + 1
        seen += [item["id"] for item in page["items"]]

    assert seen == expected
    assert len(set(seen)) == len(tasks)


@pytest.mark.parametrize("sort", SORT_KEYS)
async def test_one_page_with_every_task_is_in_the_same_order(
    client: httpx.AsyncClient, users: UserFactory, sort: str
) -> None:
    user = await users.create()
    tasks = await build_sort_fixture(client, user)

    page = await list_tasks(client, user, sort=sort, limit=100)

    assert [item["id"] for item in page["items"]] == expected_order(tasks, sort)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("priority", ["low", "low", "medium", "high", "high"]),
        ("-priority", ["high", "high", "medium", "low", "low"]),
    ],
)
async def test_priority_sorts_by_rank_not_alphabetically(
    client: httpx.AsyncClient, users: UserFactory, sort: str, expected: list[str]
) -> None:
    user = await users.create()
    for priority in ["medium", "high", "low", "high", "low"]:
        await create_task(client, user, priority=priority)

    page = await list_tasks(client, user, sort=sort)

    assert [item["priority"] for item in page["items"]] == expected


@pytest.mark.parametrize("sort", ["due_date", "-due_date"])
async def test_tasks_without_due_date_sort_last_in_both_directions(
    client: httpx.AsyncClient, users: UserFactory, sort: str
) -> None:
    user = await users.create()
    undated_first = await create_task(client, user, title="undated 1")
    early = await create_task(client, user, title="early", due_date="2030-01-01T00:00:00Z")
    undated_second = await create_task(client, user, title="undated 2")
    late = await create_task(client, user, title="late", due_date="2031-01-01T00:00:00Z")

    page = await list_tasks(client, user, sort=sort)

    ids = [item["id"] for item in page["items"]]
    if sort == "due_date":
        assert ids == [early["id"], late["id"], undated_first["id"], undated_second["id"]]
    else:
        assert ids == [late["id"], early["id"], undated_second["id"], undated_first["id"]]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("title", ["apple", "Banana", "cherry"]), ("-title", ["cherry", "Banana", "apple"])],
)
async def test_title_sorts_case_insensitively(
    client: httpx.AsyncClient, users: UserFactory, sort: str, expected: list[str]
) -> None:
    user = await users.create()
    for title in ["cherry", "Banana", "apple"]:
        await create_task(client, user, title=title)

    page = await list_tasks(client, user, sort=sort)

    assert [item["title"] for item in page["items"]] == expected


@pytest.mark.parametrize(("sort", "descending"), [("title", False), ("-title", True)])
async def test_equal_titles_are_ordered_by_id_in_the_sort_direction(
    client: httpx.AsyncClient, users: UserFactory, sort: str, descending: bool
) -> None:
    user = await users.create()
    ids = [(await create_task(client, user, title=title))["id"] for title in ["same", "SAME", "Same"]]

    page = await list_tasks(client, user, sort=sort)

    assert [item["id"] for item in page["items"]] == sorted(ids, reverse=descending)


async def test_updated_at_sort_follows_the_latest_change(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    first, second, third = await create_many(client, user, 3)
    await client.patch(f"/tasks/{first['id']}", json={"title": "changed"}, headers=user.headers)

    page = await list_tasks(client, user, sort="-updated_at")

    assert [item["id"] for item in page["items"]] == [first["id"], third["id"], second["id"]]


# On SQLite a page walks the index of its sort key (models/task.py): its planner sees every sort
# index as equally good and, left alone, reads and sorts every live task of the caller's lists.


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("", "ix_tasks_list_created"),
        ("sort=-priority&status_filter=todo", "ix_tasks_list_priority"),
        ("status_filter=todo", "ix_tasks_list_status_created"),
        ("sort=title", "ix_tasks_list_title"),
        ("sort=due_date", "ix_tasks_list_due"),
        ("sort=-updated_at", "ix_tasks_list_updated"),
        ("sort=position", "ix_tasks_list_position"),
    ],
)
async def test_a_page_walks_its_sort_index_on_sqlite(
    app: FastAPI, backend: str, client: httpx.AsyncClient, users: UserFactory, query: str, index: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the index hint is SQLite's")
    user = await users.create()
    await create_task(client, user, title="one")
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "count(*)" in statement and statement.lstrip().upper().startswith("SELECT TASKS.ID"):
            seen.append((statement, parameters))

    engine = app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = await client.get(f"/tasks?{query}", headers=user.headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1
    assert len(seen) == 1
    statement, parameters = seen[0]
    async with app.state.database.engine.connect() as connection:
        plan = (await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)).all()
    # The outer scan of tasks (the count has a scan of its own, on whatever index covers it).
    outer = [row[3] for row in plan if row[3].startswith("SEARCH tasks USING INDEX")]
    assert outer, plan
    assert outer[0].startswith(f"SEARCH tasks USING INDEX {index} "), plan
