"""A user sees and touches only their own tasks; someone else's task is as missing as no task."""

from typing import Any

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task

OPERATIONS = [
    ("GET", "", None),
    ("PUT", "", {"title": "Taken over", "status": "completed"}),
    ("PATCH", "", {"title": "Taken over"}),
    ("PATCH", "", {"description": None, "due_date": None}),
    ("DELETE", "", None),
    ("POST", "/complete", None),
]


async def request_task(
    client: httpx.AsyncClient, user: SignedInUser, method: str, path: str, body: Any
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=user.headers)


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("request_id", None)
    return body


@pytest.mark.parametrize(("method", "suffix", "body"), OPERATIONS)
async def test_another_users_task_is_404_like_a_missing_one(
    client: httpx.AsyncClient, users: UserFactory, method: str, suffix: str, body: Any
) -> None:
    alice = await users.create()
    bob = await users.create()
    task = await create_task(
        client, alice, title="Alice's", description="private", due_date="2030-01-01T00:00:00Z"
    )

    foreign = await request_task(client, bob, method, f"/tasks/{task['id']}{suffix}", body)
    missing = await request_task(client, bob, method, f"/tasks/{task['id'] + 1000}{suffix}", body)

    assert foreign.status_code == 404, foreign.text
    assert foreign.json()["code"] == "not_found"
    assert isinstance(foreign.json()["detail"], str)
    assert missing.status_code == 404
    assert without_request_id(foreign) == without_request_id(missing)
    assert set(foreign.json()) == set(missing.json())


@pytest.mark.parametrize(("method", "suffix", "body"), OPERATIONS)
async def test_another_user_cannot_change_the_task(
    client: httpx.AsyncClient, users: UserFactory, method: str, suffix: str, body: Any
) -> None:
    alice = await users.create()
    bob = await users.create()
    task = await create_task(
        client, alice, title="Alice's", description="private", due_date="2030-01-01T00:00:00Z"
    )

    await request_task(client, bob, method, f"/tasks/{task['id']}{suffix}", body)

    response = await client.get(f"/tasks/{task['id']}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == task
    assert (await client.get("/tasks", headers=alice.headers)).json()["items"] == [task]


async def test_owner_can_still_act_after_a_foreign_attempt(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    bob = await users.create()
    task = await create_task(client, alice)
    await client.delete(f"/tasks/{task['id']}", headers=bob.headers)

    response = await client.post(f"/tasks/{task['id']}/complete", headers=alice.headers)

    assert response.status_code == 200
    assert response.json()["created_by"] == alice.id
    assert response.json()["is_completed"] is True


async def test_a_list_holds_only_the_callers_tasks(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    bob = await users.create()
    alices = [await create_task(client, alice, title=f"Alice {n}") for n in range(3)]
    bobs = [await create_task(client, bob, title=f"Bob {n}") for n in range(2)]

    alice_page = (await client.get("/tasks", headers=alice.headers)).json()
    bob_page = (await client.get("/tasks", headers=bob.headers)).json()

    assert {item["id"] for item in alice_page["items"]} == {task["id"] for task in alices}
    assert alice_page["total"] == 3
    assert {item["id"] for item in bob_page["items"]} == {task["id"] for task in bobs}
    assert bob_page["total"] == 2
    assert bob_page["pages"] == 1
    assert all(item["created_by"] == bob.id for item in bob_page["items"])


async def test_a_user_without_tasks_sees_an_empty_list(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    bob = await users.create()
    for n in range(3):
        await create_task(client, alice, title=f"Alice {n}")

    page = (await client.get("/tasks", headers=bob.headers)).json()

    assert page["items"] == []
    assert page["total"] == 0
    assert page["pages"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"q": "shared"},
        {"status_filter": "completed"},
        {"priority": "high"},
        {"sort": "title", "limit": 1},
        {"sort": "-due_date", "skip": 0, "limit": 100},
    ],
)
async def test_filters_and_totals_never_count_other_users_tasks(
    client: httpx.AsyncClient, users: UserFactory, params: dict[str, Any]
) -> None:
    alice = await users.create()
    bob = await users.create()
    for n in range(4):
        await create_task(
            client,
            alice,
            title=f"shared {n}",
            status="completed",
            priority="high",
            due_date="2030-01-01T00:00:00Z",
        )
    own = await create_task(
        client,
        bob,
        title="shared by Bob",
        status="completed",
        priority="high",
        due_date="2031-01-01T00:00:00Z",
    )

    page = (await client.get("/tasks", params=params, headers=bob.headers)).json()

    assert [item["id"] for item in page["items"]] == [own["id"]]
    assert page["total"] == 1
    assert page["pages"] == 1


async def test_a_new_task_belongs_to_its_creator(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    bob = await users.create()

    alices = await create_task(client, alice)
    bobs = await create_task(client, bob)

    assert alices["created_by"] == alice.id
    assert bobs["created_by"] == bob.id
    assert (await client.get(f"/tasks/{bobs['id']}", headers=alice.headers)).status_code == 404
