"""GET /sync under concurrency (shared/API.md, "Sync: changes since last time"):

- no change is ever missed: a change committed after a reader answered appears in a later answer,
  even when transactions commit in another order than they wrote (one writer's transaction is held
  open by the test while another writer commits and a reader syncs in between);
- `wait` is woken by a change made through another server process on the same database;
- a waiting request holds no database connection: with a pool of two, five waiting requests leave
  other requests answered at once.

Apps of their own (another pool size, a fresh notifier) run on the session's database, whose tables
the `client` fixture empties after each test.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import empty_database, make_settings
from tests.factories import SignedInUser, UserFactory
from tests.live import live_server
from tests.sync_client import Replica, create_list, share, sync_once, task
from todo_api import deps
from todo_api.core.db import utcnow
from todo_api.main import create_app
from todo_api.models import Task
from todo_api.sync.repository import SyncRepository

Body = dict[str, Any]
# A wake in the same process takes milliseconds; through another process (NOTIFY, or SQLite's
# data_version checked twice a second) well under this.
PROMPT_SECONDS = 1.0
ACROSS_PROCESSES_SECONDS = 2.0


@asynccontextmanager
async def app_on(database_url: str, **overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Another app on the (already migrated) database, and a client for it."""
    application = create_app(make_settings(database_url, auto_migrate=False, **overrides))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


async def until_waiting(app: FastAPI, count: int) -> None:
    """Until `count` requests wait on the app's notifier (at most a few seconds)."""
    async with asyncio.timeout(10):
        while app.state.notifier.waiting < count:  # noqa: ASYNC110 - nothing to wait on but polling
            await asyncio.sleep(0.01)


def task_ids_of(*answers: Body) -> set[int]:
    return {item["id"] for answer in answers for item in answer["tasks"]}


# No change is ever missed.


@pytest.mark.parametrize("held", ["numbered", "written"])
async def test_a_change_committed_after_an_answer_arrives_in_a_later_one(
    backend: str, database_url: str, client: httpx.AsyncClient, held: str
) -> None:
    """One writer's transaction is held open while another writer commits and a reader syncs; then
    the first commits, and its change must arrive on the reader's next sync.

    `numbered`: the held transaction has already written its change records (publish(), which gives
    them their numbers) when the other writer comes. Were numbers handed out as records are written,
    the other writer would commit a higher number, the reader would answer past it, and the held
    change, committed later with a lower number, would be skipped for good. `written`: the held
    transaction has changed the task (flushed) but not yet published, as a transaction that started
    first and commits last.
    """
    async with app_on(database_url, db_pool_size=5, db_max_overflow=0) as (app, http):
        alice = await UserFactory(http).create()
        slow = await task(http, alice, title="slow")
        fast = await task(http, alice, title="fast")
        replica = Replica(alice, limit=1)
        await replica.pull(http)

        async with app.state.database.write_session() as session:
            row = await session.get(Task, slow["id"])
            assert row is not None
            row.title, row.updated_at = "changed in the held transaction", utcnow()
            await session.flush()
            repository = SyncRepository(session)
            if held == "numbered":
                assert await repository.publish(utcnow()) == {alice.id}

            other = asyncio.create_task(
                http.patch(f"/tasks/{fast['id']}", json={"title": "another writer"}, headers=alice.headers)
            )
            # Give the other writer time to commit, if it can.
            done, _ = await asyncio.wait({other}, timeout=1.0)
            if backend == "sqlite":
                # SQLite serialises writers: the other one waits for the held transaction.
                assert not done
            # A reader answers in between, without waiting for the held transaction.
            async with asyncio.timeout(5):
                between = await replica.pull(http)
            seen_between = set(between.changed().tasks)
            assert slow["id"] not in seen_between
            if held == "written":
                assert await repository.publish(utcnow()) == {alice.id}
            await session.commit()

        async with asyncio.timeout(20):
            response = await other
        assert response.status_code == 200, response.text
        after = await replica.pull(http)
        await replica.assert_matches(http)
        assert slow["id"] in after.changed().tasks
        assert replica.view.tasks[slow["id"]]["title"] == "changed in the held transaction"
        assert fast["id"] in seen_between | set(after.changed().tasks)
        assert replica.view.tasks[fast["id"]]["title"] == "another writer"


async def test_concurrent_writers_and_a_syncing_reader_miss_nothing(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    people = [await users.create() for _ in range(3)]
    shared = await create_list(client, people[0], "Busy")
    for person in people[1:]:
        await share(client, people[0], shared["id"], person, "editor")
    made = [await task(client, people[n % 3], list_id=shared["id"], title=f"t{n}") for n in range(6)]
    readers = [Replica(person, limit=2) for person in people]
    for reader in readers:
        await reader.pull(client)

    async def write(n: int) -> None:
        person = people[n % 3]
        if n % 4 == 0:
            await task(client, person, list_id=shared["id"], title=f"new {n}")
            return
        target = made[n % len(made)]
        response = await client.patch(
            f"/tasks/{target['id']}", json={"title": f"v{n}"}, headers=person.headers
        )
        assert response.status_code in (200, 412), response.text

    writing = asyncio.gather(*(write(n) for n in range(24)))
    # The readers sync over and over while the writers work.
    while not writing.done():
        for reader in readers:
            await reader.pull(client)
        await asyncio.sleep(0)
    await writing
    for reader in readers:
        await reader.pull(client)
        await reader.assert_matches(client)


# wait, across processes.


@asynccontextmanager
async def servers(tmp_path: Path, database_url: str, count: int) -> AsyncIterator[list[str]]:
    """`count` server processes on one database, started side by side (the first migrates it)."""
    managers = []
    for n in range(count):
        directory = tmp_path / f"server{n}"
        directory.mkdir()
        migrate = "true" if n == 0 else "false"
        managers.append(live_server(directory, DATABASE_URL=database_url, AUTO_MIGRATE=migrate))
    started = await asyncio.gather(
        *(asyncio.to_thread(manager.__enter__) for manager in managers), return_exceptions=True
    )
    running = [manager for manager, url in zip(managers, started, strict=True) if isinstance(url, str)]
    try:
        for url in started:
            if isinstance(url, BaseException):
                raise url
        yield [str(url) for url in started]
    finally:
        await asyncio.gather(*(asyncio.to_thread(manager.__exit__, None, None, None) for manager in running))


async def test_wait_is_woken_by_a_change_made_through_another_process(backend: str, tmp_path: Path) -> None:
    async with (
        empty_database(backend, tmp_path) as database_url,
        servers(tmp_path, database_url, 2) as (one, two),
        httpx.AsyncClient(base_url=one, timeout=30, trust_env=False) as first,
        httpx.AsyncClient(base_url=two, timeout=30, trust_env=False) as second,
    ):
        alice = await UserFactory(first).create()
        bob = await UserFactory(second).create()
        shared = await create_list(second, bob, "Shared")
        await share(second, bob, shared["id"], alice, "viewer")
        for waiter, writer in ((first, second), (second, first)):
            await waits_for_the_other_process(waiter, writer, alice, bob, shared["id"])


async def waits_for_the_other_process(
    waiter: httpx.AsyncClient,
    writer: httpx.AsyncClient,
    user: SignedInUser,
    author: SignedInUser,
    list_id: int,
) -> None:
    replica = Replica(user)
    await replica.pull(waiter)
    waiting = asyncio.create_task(sync_once(waiter, user, cursor=replica.cursor, wait=20))
    # Long enough for the request to reach its wait (a change before that is found at once anyway).
    await asyncio.sleep(0.5)
    assert not waiting.done()
    made = await task(writer, author, list_id=list_id, title="through the other process")
    changed = time.monotonic()
    async with asyncio.timeout(20):
        response = await waiting
    elapsed = time.monotonic() - changed
    assert response.status_code == 200, response.text
    assert task_ids_of(response.json()) == {made["id"]}
    assert elapsed < ACROSS_PROCESSES_SECONDS, elapsed


# A waiting request holds no connection.


async def test_waiting_requests_hold_no_database_connection(
    database_url: str, client: httpx.AsyncClient
) -> None:
    async with app_on(database_url, db_pool_size=2, db_max_overflow=0) as (app, http):
        factory = UserFactory(http)
        alice, bob = await factory.create(), await factory.create()
        shared = await create_list(http, alice, "Shared")
        await share(http, alice, shared["id"], bob, "editor")
        replica = Replica(alice)
        await replica.pull(http)
        pool = app.state.database.engine.pool

        waiting = [
            asyncio.create_task(sync_once(http, alice, cursor=replica.cursor, wait=15)) for _ in range(5)
        ]
        # All five wait, and none holds a connection (a request may subscribe before it has read
        # and let go of its connection: that moment passes, a connection held while waiting never does).
        async with asyncio.timeout(10):
            while app.state.notifier.waiting < 5 or pool.checkedout() != 0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        # Other requests, reads and writes, are answered at once (a pool exhausted by the waiting
        # requests would hold them for its 30 s timeout).
        started = time.monotonic()
        async with asyncio.timeout(5):
            assert (await http.get("/tasks", headers=bob.headers)).status_code == 200
            assert (await http.get("/lists", headers=alice.headers)).status_code == 200
            own = await task(http, bob, title="in Bob's inbox: nothing for Alice")
            assert (await http.get(f"/tasks/{own['id']}", headers=bob.headers)).status_code == 200
            assert (await sync_once(http, bob)).status_code == 200
        assert time.monotonic() - started < 2 * PROMPT_SECONDS
        assert not any(request.done() for request in waiting)
        assert app.state.notifier.waiting == 5

        # A change for Alice wakes all five, each answered through the two connections.
        made = await task(http, bob, list_id=shared["id"])
        changed = time.monotonic()
        async with asyncio.timeout(10):
            responses = await asyncio.gather(*waiting)
        assert time.monotonic() - changed < 2 * PROMPT_SECONDS
        for response in responses:
            assert response.status_code == 200, response.text
            assert task_ids_of(response.json()) == {made["id"]}
        assert pool.checkedout() == 0


async def test_a_change_committed_as_a_wait_begins_still_ends_it(
    backend: str, database_url: str, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_on(database_url) as (app, http):
        alice = await UserFactory(http).create()
        replica = Replica(alice)
        await replica.pull(http)
        notifier = app.state.notifier
        announced = asyncio.Event()
        if backend == "postgresql":
            announce = notifier._announced

            def spy(payload: str) -> None:
                announce(payload)
                announced.set()

            monkeypatch.setattr(notifier, "_announced", spy)
        release = deps.release_connection
        racing: list[Body] = []

        async def release_then_race(session: Any) -> None:
            """The sync request found nothing and lets go of its connection: a change commits now,
            before the request starts to wait (and, on PostgreSQL, its NOTIFY is handled)."""
            await release(session)
            if not racing:
                announced.clear()
                racing.append(await task(http, alice, title="committed as the wait begins"))
                if backend == "postgresql":
                    await asyncio.wait_for(announced.wait(), 5)

        monkeypatch.setattr(deps, "release_connection", release_then_race)
        started = time.monotonic()
        async with asyncio.timeout(10):
            response = await sync_once(http, alice, cursor=replica.cursor, wait=3)
        assert response.status_code == 200, response.text
        assert racing
        assert task_ids_of(response.json()) == {racing[0]["id"]}
        assert time.monotonic() - started < 2 * PROMPT_SECONDS
