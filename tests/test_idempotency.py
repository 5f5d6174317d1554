"""Idempotency-Key on POST /tasks: a retry replays the first answer and creates nothing."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import func, select

from tests.factories import SignedInUser, UserFactory
from tests.live import run_command
from todo_api.core.db import utcnow
from todo_api.models import IdempotencyKey


async def post(
    client: httpx.AsyncClient, user: SignedInUser, key: str, body: dict[str, object]
) -> httpx.Response:
    return await client.post("/tasks", json=body, headers={**user.headers, "Idempotency-Key": key})


async def total(client: httpx.AsyncClient, user: SignedInUser) -> int:
    count: int = (await client.get("/tasks", headers=user.headers)).json()["total"]
    return count


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


async def test_a_retry_replays_the_original_answer(client: httpx.AsyncClient, user: SignedInUser) -> None:
    first = await post(client, user, "key-1", {"title": "Buy milk"})
    retry = await post(client, user, "key-1", {"title": "Buy milk"})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await total(client, user) == 1


async def test_the_same_key_with_another_body_is_422(client: httpx.AsyncClient, user: SignedInUser) -> None:
    await post(client, user, "key-1", {"title": "Buy milk"})
    response = await post(client, user, "key-1", {"title": "Buy bread"})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert await total(client, user) == 1


async def test_the_same_meaning_in_another_json_layout_is_the_same_body(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    first = await client.post(
        "/tasks",
        content=b'{"title": "a", "priority": "high"}',
        headers={**user.headers, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    second = await client.post(
        "/tasks",
        content=b'{"priority":"high","title":"a"}',
        headers={**user.headers, "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert second.status_code == 201
    assert second.json() == first.json()


async def test_the_replay_survives_the_tasks_deletion(client: httpx.AsyncClient, user: SignedInUser) -> None:
    first = await post(client, user, "key-1", {"title": "Buy milk"})
    await client.delete(first.headers["Location"], headers=user.headers)
    retry = await post(client, user, "key-1", {"title": "Buy milk"})
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert await total(client, user) == 0


async def test_keys_belong_to_their_user(
    client: httpx.AsyncClient, users: UserFactory, user: SignedInUser
) -> None:
    other = await users.create()
    mine = await post(client, user, "shared-key", {"title": "Mine"})
    theirs = await post(client, other, "shared-key", {"title": "Theirs"})
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["created_by"] == other.id


async def test_20_concurrent_posts_with_one_key_create_one_task(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    responses = await asyncio.gather(*(post(client, user, "burst", {"title": "Once"}) for _ in range(20)))
    assert [response.status_code for response in responses] == [201] * 20
    assert len({response.text for response in responses}) == 1
    assert sum("Idempotent-Replayed" not in response.headers for response in responses) == 1
    assert await total(client, user) == 1


async def test_a_key_older_than_24_hours_is_forgotten(
    app: FastAPI, client: httpx.AsyncClient, user: SignedInUser
) -> None:
    first = await post(client, user, "old-key", {"title": "x"})
    async with app.state.database.write_session() as session, session.begin():
        await session.exec(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    again = await post(client, user, "old-key", {"title": "a different body is fine now"})
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert await total(client, user) == 2


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\tinside"])
async def test_a_malformed_key_is_422(client: httpx.AsyncClient, user: SignedInUser, key: str) -> None:
    response = await post(client, user, key, {"title": "x"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert await total(client, user) == 0


async def test_a_255_character_key_is_accepted(client: httpx.AsyncClient, user: SignedInUser) -> None:
    assert (await post(client, user, "k" * 255, {"title": "x"})).status_code == 201


async def test_an_invalid_body_stores_no_key(client: httpx.AsyncClient, user: SignedInUser) -> None:
    assert (await post(client, user, "k", {"title": ""})).status_code == 422
    assert (await post(client, user, "k", {"title": "valid now"})).status_code == 201


async def test_the_purge_command_deletes_only_expired_keys(
    app: FastAPI, client: httpx.AsyncClient, user: SignedInUser, database_url: str
) -> None:
    await post(client, user, "fresh", {"title": "a"})
    await post(client, user, "stale", {"title": "b"})
    async with app.state.database.write_session() as session, session.begin():
        await session.exec(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "stale")  # type: ignore[arg-type]
            .values(created_at=utcnow() - timedelta(days=2))
        )
    result = await asyncio.to_thread(run_command, "purge-idempotency", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert '"purged": 1' in result.stdout
    async with app.state.database.read_session() as session:
        keys = (await session.exec(select(IdempotencyKey.key))).all()
        assert list(keys) == ["fresh"]
        assert (await session.exec(select(func.count()).select_from(IdempotencyKey))).one() == 1
