"""Many clients writing at once: every write succeeds and every row is there afterwards."""

import asyncio

import httpx

from tests.factories import UserFactory


async def test_64_concurrent_creates_all_succeed(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    async def create(n: int) -> int:
        response = await client.post("/tasks", json={"title": f"task {n}"}, headers=user.headers)
        return response.status_code

    statuses = await asyncio.gather(*(create(n) for n in range(64)))
    assert statuses == [201] * 64
    listing = await client.get("/tasks", params={"limit": 100}, headers=user.headers)
    assert listing.json()["total"] == 64
    assert {task["title"] for task in listing.json()["items"]} == {f"task {n}" for n in range(64)}


async def test_concurrent_registrations_of_one_name_create_one_user(users: UserFactory) -> None:
    responses = await asyncio.gather(
        *(users.register(username="racer", email=f"racer{n}@example.com") for n in range(8))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 7
