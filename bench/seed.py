"""Users and tasks for the run: through the public API, or rows inserted directly for the big user."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import httpx
from fractional_indexing import generate_n_keys_between
from sqlalchemy import Column, DateTime, Integer, MetaData, SmallInteger, String, Table, insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.errors import HarnessError

PASSWORD = "bench-password-0123"  # noqa: S105 - a throwaway account on a throwaway database
STATUSES = ("todo", "in_progress", "completed")
PRIORITIES = ("low", "medium", "high")
WORDS = ("Write", "Review", "Plan", "Call", "Fix", "Ship", "Read", "Clean", "Buy", "Book", "Test", "Draft")
INSERT_CHUNK = 2_000
T = TypeVar("T")


@dataclass
class BenchUser:
    username: str
    password: str
    token: str
    task_ids: list[int]  # every task the user made: half in their inbox, half in the list they share
    sync_cursor: str = ""  # a GET /sync cursor SYNC_CHANGES changes behind (see prepare_sync)
    shared_list_id: int = 0  # a list of theirs the next user is an editor of (see share_lists)
    inbox_task_ids: list[int] = field(default_factory=list)  # the tasks only they can see


SYNC_CHANGES = 20


# Below uvicorn's 5 s keep-alive timeout: the client drops an idle connection before the server does,
# rather than racing it (a POST sent as the server closes fails with ReadError and is not retried).
KEEPALIVE_EXPIRY_SECONDS = 2.0


def client(base_url: str, connections: int = 64) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
    )
    return httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits)


def expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise HarnessError(f"{what}: expected {status}, got {response.status_code}: {response.text[:300]}")
    return response


async def create_user(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> BenchUser:
    """Register and log in; the user with a bearer token and no tasks yet."""
    body = {"username": username, "email": f"{username}@bench.example.com", "password": password}
    expect(await http.post("/auth/register", json=body), 201, f"register {username}")
    response = await http.post("/auth/login", data={"username": username, "password": password})
    token = expect(response, 200, f"login {username}").json()["access_token"]
    return BenchUser(username, password, token, [])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def task_body(number: int, salt: int = 0) -> dict[str, Any]:
    """The `number`-th task of a user: statuses, priorities, due dates and titles all vary."""
    due = datetime.now(UTC) + timedelta(days=number % 60 - 20, hours=salt)
    return {
        "title": f"{WORDS[(number + salt) % len(WORDS)]} item {number} of batch {salt}",
        "description": None if number % 2 else f"Details for item {number}",
        "status": STATUSES[number % 3],
        "priority": PRIORITIES[(number // 3 + salt) % 3],
        "due_date": None if number % 4 == 0 else due.isoformat(),
    }


async def bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs concurrently, at most `limit` at a time, results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


async def create_task(http: httpx.AsyncClient, user: BenchUser, number: int, salt: int) -> None:
    """Even-numbered tasks go to the user's inbox, odd ones to the list they share (if any)."""
    body = task_body(number, salt)
    shared = bool(user.shared_list_id) and number % 2 == 1
    if shared:
        body["list_id"] = user.shared_list_id
    response = await http.post("/tasks", json=body, headers=auth(user.token))
    task_id = expect(response, 201, f"create a task for {user.username}").json()["id"]
    user.task_ids.append(task_id)
    if not shared:
        user.inbox_task_ids.append(task_id)


async def share_lists(http: httpx.AsyncClient, users: list[BenchUser]) -> None:
    """Each user makes a list and makes the next user (in a ring) an editor of it: every user's
    `GET /tasks` then shows their own tasks and half of another user's, as the fast-path issue asks."""
    for index, user in enumerate(users):
        response = await http.post(
            "/lists", json={"name": f"Shared by {user.username}"}, headers=auth(user.token)
        )
        user.shared_list_id = expect(response, 201, f"a list of {user.username}").json()["id"]
        member = users[(index + 1) % len(users)]
        if member is user:
            continue
        response = await http.post(
            f"/lists/{user.shared_list_id}/members",
            json={"user": member.username, "role": "editor"},
            headers=auth(user.token),
        )
        expect(response, 201, f"share {user.username}'s list with {member.username}")


async def create_tasks(users: list[BenchUser], count: int, http: httpx.AsyncClient, limit: int) -> None:
    """`count` tasks for each user, at most `limit` requests at a time."""
    jobs = [
        partial(create_task, http, user, number, salt)
        for number in range(count)
        for salt, user in enumerate(users)
    ]
    await bounded(limit, jobs)


@dataclass
class Seeded:
    users: list[BenchUser]  # with their tasks: list, filtered list, get and patch run as them
    creators: list[BenchUser]  # as many more, for create, so that it never grows the others' lists
    seconds: float


async def seed(base_url: str, users: int, tasks_per_user: int, concurrency: int) -> Seeded:
    """`users` users with `tasks_per_user` tasks each, half of them in a list shared with the next
    user, and `users` creators, all through the public API."""
    began = time.monotonic()
    async with client(base_url, concurrency) as http:
        names = [f"bench_user_{index:02d}" for index in range(users)]
        names += [f"bench_creator_{index:02d}" for index in range(users)]
        created = await bounded(concurrency, [partial(create_user, http, name) for name in names])
        await share_lists(http, created[:users])
        await create_tasks(created[:users], tasks_per_user, http, concurrency)
    return Seeded(created[:users], created[users:], time.monotonic() - began)


TASKS = Table(
    "tasks",
    MetaData(),
    # The columns of migrations/versions (0001, 0003, 0005); priority is stored as its rank 1..3.
    Column("id", Integer, primary_key=True),
    Column("list_id", Integer, nullable=False),
    Column("created_by", Integer),
    Column("position", String(1024), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", String(5000)),
    Column("status", String(16), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("due_date", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)


def task_row(owner_id: int, list_id: int, position: str, number: int, created_at: datetime) -> dict[str, Any]:
    """A row as the API would store `task_body(number)` in `list_id`, created at `created_at` (UTC)."""
    body = task_body(number)
    due = body["due_date"]
    return {
        "list_id": list_id,
        "created_by": owner_id,
        "position": position,
        "title": body["title"],
        "description": body["description"],
        "status": body["status"],
        "priority": PRIORITIES.index(body["priority"]) + 1,
        "due_date": None if due is None else datetime.fromisoformat(due),
        "completed_at": created_at if body["status"] == "completed" else None,
        "created_at": created_at,
        "updated_at": created_at,
        "version": 1,
    }


async def insert_tasks(database_url: str, owner_id: int, count: int) -> None:
    """`count` task rows in the inbox of `owner_id`, inserted with SQL through the service's DATABASE_URL.

    They are older than the tasks made through the API (one a second, ending an hour ago), so the
    newest page stays the same; PostgreSQL's statistics are refreshed (ANALYZE, as autovacuum would
    within a minute), SQLite has none to refresh.
    """
    engine = create_async_engine(database_url)
    start = datetime.now(UTC) - timedelta(hours=1, seconds=count)
    try:
        async with engine.begin() as connection:
            inbox = (
                await connection.execute(
                    text("SELECT id FROM lists WHERE owner_id = :owner AND is_inbox"), {"owner": owner_id}
                )
            ).scalar_one()
            # Top-level positions before those of the tasks made through the API (all top-level).
            first = (
                await connection.execute(
                    text("SELECT min(position) FROM tasks WHERE list_id = :inbox AND parent_id IS NULL"),
                    {"inbox": inbox},
                )
            ).scalar_one()
            positions = generate_n_keys_between(None, first, count)
            rows = [
                task_row(owner_id, inbox, positions[number], number, start + timedelta(seconds=number))
                for number in range(count)
            ]
            for offset in range(0, count, INSERT_CHUNK):
                await connection.execute(insert(TASKS), rows[offset : offset + INSERT_CHUNK])
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                await connection.execute(text("ANALYZE tasks"))
                await connection.commit()
    finally:
        await engine.dispose()


async def _cursor_with_changes(http: httpx.AsyncClient, user: BenchUser) -> None:
    """Walk a full sync to its cursor, then change SYNC_CHANGES of the user's tasks after it."""
    params: dict[str, str | int] = {"limit": 1000}
    while True:
        page = expect(
            await http.get("/sync", params=params, headers=auth(user.token)), 200, "GET /sync"
        ).json()
        params = {"limit": 1000, "cursor": page["cursor"]}
        if not page["has_more"]:
            break
    # Tasks of their inbox: a change in their shared list would also be news for the next user.
    for task_id in user.inbox_task_ids[:SYNC_CHANGES]:
        response = await http.patch(
            f"/tasks/{task_id}", json={"description": "changed for sync"}, headers=auth(user.token)
        )
        expect(response, 200, f"change task {task_id} for the sync scenario")
    user.sync_cursor = str(params["cursor"])
    response = await http.get("/sync", params={"cursor": user.sync_cursor}, headers=auth(user.token))
    changed = len(expect(response, 200, "GET /sync with the scenario's cursor").json()["tasks"])
    if changed != min(SYNC_CHANGES, len(user.inbox_task_ids)):
        raise HarnessError(f"the sync scenario's cursor answers {changed} tasks, not {SYNC_CHANGES}")


async def prepare_sync(base_url: str, users: list[BenchUser], concurrency: int) -> None:
    """Give each user a cursor that GET /sync answers with SYNC_CHANGES changed tasks."""
    async with client(base_url, concurrency) as http:
        await bounded(concurrency, [partial(_cursor_with_changes, http, user) for user in users])
