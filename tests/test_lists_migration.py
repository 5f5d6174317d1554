"""Revision 0005 (lists and members) on the rows a database at 0004 really holds, on both databases.

A database at 0004 gets users (one of them without tasks), their tasks in every status, priority and
kind of due date, and the idempotency keys of their POST /tasks with the answers 0004 stored. After
the upgrade every user has exactly one list, their inbox, holding exactly their tasks unchanged; the
stored answers have the new shape. Then, upgraded on to head, the service works on that database:
a migrated user logs in, sees their tasks and their inbox, and a retry of a POST /tasks sent before
the upgrade replays it. The downgrade from head to 0004 gives every row back as it was. While a
list other than an inbox, or a member other than an owner, exists, the downgrade refuses with a
clear error and leaves the database untouched.

The expectations are written out here (the 0004 answer shape, the request fingerprint, the ETag
formula, the priority ranks) rather than taken from the service's code, so a change there that
breaks a retry across the upgrade fails a test.
"""

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher, Type
from pydantic import TypeAdapter
from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import empty_database, make_settings
from tests.migration_helpers import ALEMBIC_TABLE, alembic_config, normalise, reflect, schema
from todo_api.main import create_app

BEFORE = "0004"
REVISION = "0005"
# How 0004 (and 0005) store a priority: its rank, so that ORDER BY priority sorts low < medium < high.
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}
PRIORITY_NAME = {rank: name for name, rank in PRIORITY_RANK.items()}
# Real argon2id hashes, cheap ones: the migrated users log in.
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
INSTANT: TypeAdapter[datetime] = TypeAdapter(datetime)
MOMENT = datetime(2026, 11, 20, 8, 30, 0, 250000, tzinfo=UTC)
DOWNGRADE_REFUSED = r"cannot downgrade below 0005: there are lists other than inboxes, or members other"

T = TypeVar("T")


# --- the rows of a database at 0004 -------------------------------------------------------------


@dataclass
class SeedUser:
    username: str
    created_at: datetime
    id: int = 0

    @property
    def password(self) -> str:
        return f"{self.username}-Correct-Horse-9"


@dataclass
class SeedKey:
    """An Idempotency-Key a user sent with POST /tasks under 0004, and the body it came with."""

    user: str
    key: str
    body: dict[str, Any]  # as the client sent it, already in its validated form
    age: timedelta  # how long before the test it was sent
    task_id: int = 0


@dataclass
class Seed:
    users: dict[str, SeedUser]
    keys: list[SeedKey]
    # Every row of `tasks` and `idempotency_keys` as 0004 held them, by id.
    tasks: dict[int, dict[str, Any]] = field(default_factory=dict)
    idempotency_keys: dict[int, dict[str, Any]] = field(default_factory=dict)

    def user(self, user_id: int) -> SeedUser:
        return next(user for user in self.users.values() if user.id == user_id)

    def task_ids_of(self, username: str) -> set[int]:
        owner = self.users[username].id
        return {task_id for task_id, task in self.tasks.items() if task["owner_id"] == owner}


def fingerprint(body: dict[str, Any]) -> str:
    """The request hash 0004 stored (and 0005 computes): SHA-256 of the validated fields sent, as
    JSON with sorted keys. The bodies here are sent in their validated form already."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def etag(version: int, created_at: datetime) -> str:
    """A task's ETag under 0004 and 0005: its version and its creation instant in microseconds."""
    return f'"{version}-{int(created_at.timestamp() * 1_000_000):x}"'


def json_instant(value: datetime | None) -> str | None:
    return None if value is None else INSTANT.dump_python(value, mode="json")


# The fields of a task as 0004 showed it, in its answers to POST /tasks among others.
TASK_AT_0004 = (
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "completed_at",
    "created_at",
    "updated_at",
    "owner_id",
    "is_completed",
)


def answer_at_0004(task: dict[str, Any]) -> dict[str, Any]:
    """What 0004 stored as the answer to a POST /tasks: {"task": the task as 0004 showed it, "etag"}."""
    created_at = normalise(task["created_at"])
    shown = {
        "id": task["id"],
        "title": task["title"],
        "description": task["description"],
        "status": task["status"],
        "priority": PRIORITY_NAME[task["priority"]],
        "due_date": json_instant(normalise(task["due_date"])),
        "completed_at": json_instant(normalise(task["completed_at"])),
        "created_at": json_instant(created_at),
        "updated_at": json_instant(normalise(task["updated_at"])),
        "owner_id": task["owner_id"],
        "is_completed": task["status"] == "completed",
    }
    assert tuple(shown) == TASK_AT_0004
    return {"task": shown, "etag": etag(task["version"], created_at)}


def new_task(
    title: str,
    *,
    created: datetime,
    status: str = "todo",
    priority: str = "medium",
    description: str | None = None,
    due: datetime | None = None,
    version: int = 1,
    changed_after: timedelta = timedelta(0),
) -> dict[str, Any]:
    """The columns of a task row at 0004, but its owner."""
    updated = created + changed_after
    return {
        "title": title,
        "description": description,
        "status": status,
        "priority": PRIORITY_RANK[priority],
        "due_date": due,
        "completed_at": updated if status == "completed" else None,
        "created_at": created,
        "updated_at": updated,
        "version": version,
    }


def seed_0004(connection: Connection, now: datetime) -> Seed:
    """Users, tasks and idempotency keys, inserted with SQL into a database at 0004."""
    tables = reflect(connection).tables
    users = {
        "ada": SeedUser("ada", datetime(2026, 10, 1, 9, 15, 30, 123456, tzinfo=UTC)),
        "grace": SeedUser("Grace.Hopper", datetime(2026, 10, 15, 17, 0, 0, tzinfo=UTC)),
        "linus": SeedUser("linus_t", datetime(2026, 11, 1, 6, 45, 12, 500000, tzinfo=UTC)),  # no tasks
    }
    for user in users.values():
        result = connection.execute(
            tables["users"]
            .insert()
            .values(
                username=user.username,
                email=f"{user.username.lower()}@example.com",
                password_hash=HASHER.hash(user.password),
                created_at=user.created_at,
                auth_stamp=secrets.token_hex(16),
            )
        )
        assert result.inserted_primary_key is not None
        user.id = result.inserted_primary_key[0]

    day = timedelta(days=1)
    tasks = {
        "ada": [
            new_task(
                "Write the quarterly report",
                created=MOMENT - 10 * day,
                status="in_progress",
                priority="high",
                description="Numbers from finance first; draft to Grace by Friday.",
                due=MOMENT + 3 * day,
                version=4,
                changed_after=2 * day,
            ),
            new_task("Book the dentist", created=MOMENT - 9 * day, priority="low"),
            new_task(
                "Renew passport",
                created=MOMENT - 30 * day,
                status="completed",
                due=MOMENT - 5 * day,
                version=2,
                changed_after=20 * day,
            ),
            new_task(
                "File taxes",
                created=MOMENT - 40 * day,
                priority="high",
                description="Overdue: the form is in the drawer.",
                due=MOMENT - day,
            ),
        ],
        "grace": [
            new_task("Review pull request #42", created=MOMENT - 2 * day, due=MOMENT + timedelta(hours=5)),
            new_task(
                "Ship release 2.0",
                created=MOMENT - 15 * day,
                status="completed",
                priority="high",
                version=3,
                changed_after=timedelta(hours=7),
            ),
            new_task("Ask for a review", created=MOMENT - 15 * day, status="in_progress", priority="low"),
        ],
    }
    keys = [
        SeedKey(
            "ada",
            "9f1c2a7e-rent",
            {"title": "Pay rent", "priority": "high", "due_date": "2026-12-01T09:00:00Z"},
            age=timedelta(hours=2),
        ),
        SeedKey("ada", "ada-bank-1", {"title": "Call the bank", "priority": "low"}, age=timedelta(hours=30)),
        SeedKey(
            "grace",
            "water-1",
            {"title": "Water the plants", "description": "Balcony first"},
            age=timedelta(hours=1),
        ),
    ]
    for key in keys:
        sent = now - key.age
        fields = dict(key.body)
        priority = fields.pop("priority", "medium")
        due = fields.pop("due_date", None)
        tasks[key.user].append(
            new_task(
                created=sent,
                priority=priority,
                due=due and datetime.fromisoformat(due),
                **fields,
            )
        )

    seed = Seed(users, keys)
    for username, rows in tasks.items():
        for values in rows:
            result = connection.execute(
                tables["tasks"].insert().values(owner_id=users[username].id, **values)
            )
            assert result.inserted_primary_key is not None
            task_id = result.inserted_primary_key[0]
            seed.tasks[task_id] = row_of(connection, "tasks", task_id)
    for key in keys:
        owner = users[key.user].id
        key.task_id = next(
            task_id
            for task_id, task in seed.tasks.items()
            if task["owner_id"] == owner and task["title"] == key.body["title"]
        )
        result = connection.execute(
            tables["idempotency_keys"]
            .insert()
            .values(
                user_id=owner,
                key=key.key,
                request_hash=fingerprint(key.body),
                response=answer_at_0004(seed.tasks[key.task_id]),
                created_at=now - key.age,
            )
        )
        assert result.inserted_primary_key is not None
        key_id = result.inserted_primary_key[0]
        seed.idempotency_keys[key_id] = row_of(connection, "idempotency_keys", key_id)
    return seed


# --- reading the database ---------------------------------------------------------------------


def rows(connection: Connection, table_name: str) -> list[dict[str, Any]]:
    """Every row of a table, by primary key, datetimes as UTC instants."""
    table = reflect(connection).tables[table_name]
    statement = select(table).order_by(*table.primary_key.columns)
    return [
        {name: normalise(value) for name, value in row.items()}
        for row in connection.execute(statement).mappings()
    ]


def row_of(connection: Connection, table_name: str, row_id: int) -> dict[str, Any]:
    (row,) = [row for row in rows(connection, table_name) if row["id"] == row_id]
    return row


def everything(connection: Connection) -> dict[str, Any]:
    """The schema, the revision and every row of every table: what a refused downgrade must keep."""
    tables = sorted(reflect(connection).tables)
    return {"schema": schema(connection), "rows": {name: rows(connection, name) for name in tables}}


async def run(engine: AsyncEngine, work: Callable[[Connection], T]) -> T:
    async with engine.begin() as connection:
        return await connection.run_sync(work)


async def revision_of(engine: AsyncEngine) -> str:
    found = await run(engine, lambda connection: rows(connection, ALEMBIC_TABLE))
    return str(found[0]["version_num"])


def inboxes(connection: Connection) -> dict[int, int]:
    """Each user's inbox: owner id -> list id."""
    return {row["owner_id"]: row["id"] for row in rows(connection, "lists") if row["is_inbox"]}


# --- the checks -------------------------------------------------------------------------------


def check_lists(connection: Connection, seed: Seed) -> dict[int, int]:
    """Every user has exactly one list, their inbox as the account was made, with them its only member."""
    lists = rows(connection, "lists")
    owners = sorted(row["owner_id"] for row in lists)
    assert owners == sorted(user.id for user in seed.users.values()), lists
    for row in lists:
        user = seed.user(row["owner_id"])
        assert row == {
            "id": row["id"],
            "name": "Inbox",
            "description": None,
            "is_inbox": True,
            "owner_id": user.id,
            "created_at": user.created_at,
            "updated_at": user.created_at,
            "version": 1,
        }, f"{user.username}'s list"
    members = rows(connection, "list_members")
    by_list = {row["id"]: row for row in lists}
    assert sorted(member["list_id"] for member in members) == sorted(by_list), members
    for member in members:
        owner = by_list[member["list_id"]]["owner_id"]
        assert (member["user_id"], member["role"]) == (owner, "owner"), member
        assert member["added_at"] == by_list[member["list_id"]]["created_at"], member
    return {row["owner_id"]: row["id"] for row in lists}


def check_tasks_moved(connection: Connection, seed: Seed, inbox: dict[int, int]) -> None:
    """Every task is in its owner's inbox, made by them, unassigned, and otherwise unchanged."""
    tasks = {row["id"]: row for row in rows(connection, "tasks")}
    assert set(tasks) == set(seed.tasks)
    for task_id, before in seed.tasks.items():
        after = dict(tasks[task_id])
        owner = before["owner_id"]
        assert (after.pop("list_id"), after.pop("created_by"), after.pop("assignee_id")) == (
            inbox[owner],
            owner,
            None,
        ), f"task {task_id} of {seed.user(owner).username}"
        unchanged = {name: value for name, value in before.items() if name != "owner_id"}
        assert after == unchanged, f"task {task_id}"


def answer_at_0005(answer: dict[str, Any], inbox: dict[int, int]) -> dict[str, Any]:
    """A stored answer of 0004 in the shape of 0005: "body" for "task"; its list, creator and
    assignee for its owner."""
    body = {name: value for name, value in answer["task"].items() if name != "owner_id"}
    owner = answer["task"]["owner_id"]
    body.update(list_id=inbox[owner], created_by=owner, assignee_id=None)
    return {"body": body, "etag": answer["etag"]}


def check_keys_rewritten(connection: Connection, seed: Seed, inbox: dict[int, int]) -> None:
    """The keys are POST /tasks keys now, and their stored answers have the task's new shape."""
    keys = {row["id"]: row for row in rows(connection, "idempotency_keys")}
    assert set(keys) == set(seed.idempotency_keys)
    for key_id, before in seed.idempotency_keys.items():
        after = dict(keys[key_id])
        assert after.pop("route") == "tasks", before["key"]
        assert after.pop("response") == answer_at_0005(before["response"], inbox), before["key"]
        assert after == {name: value for name, value in before.items() if name != "response"}


def tables_now(connection: Connection) -> set[str]:
    return set(reflect(connection).tables)


# --- the tests --------------------------------------------------------------------------------


@dataclass
class Migrated:
    url: str
    engine: AsyncEngine
    config: Any
    seed: Seed


@pytest.fixture
async def migrated(backend: str, tmp_path: Path) -> AsyncIterator[Migrated]:
    """A database upgraded to 0004, seeded, then upgraded to 0005 (not further: see `to_head`)."""
    async with empty_database(backend, tmp_path) as url:
        config = alembic_config(url)
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            await asyncio.to_thread(command.upgrade, config, BEFORE)
            now = datetime.now(UTC)
            seed = await run(engine, lambda connection: seed_0004(connection, now))
            await asyncio.to_thread(command.upgrade, config, REVISION)
            assert await revision_of(engine) == REVISION
            yield Migrated(url, engine, config, seed)
        finally:
            await engine.dispose()


async def to_head(migrated: Migrated) -> str:
    """Upgrade to the newest revision, the one the service's models are for; which one it is.

    The data of 0005 is checked at 0005; the service, and the downgrades, run from head, so that a
    later revision that loses what 0005 did fails here too.
    """
    await asyncio.to_thread(command.upgrade, migrated.config, "head")
    head = ScriptDirectory.from_config(migrated.config).get_current_head()
    assert head is not None
    assert await revision_of(migrated.engine) == head
    return head


async def sign_in(client: httpx.AsyncClient, user: SeedUser) -> dict[str, str]:
    login = await client.post("/auth/login", data={"username": user.username, "password": user.password})
    assert login.status_code == 200, f"{user.username} cannot log in on the migrated database: {login.text}"
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def check_the_service(migrated: Migrated, inbox: dict[int, int]) -> dict[str, Any]:
    """Log in as each migrated user: their tasks, their inbox, retries across the upgrade.

    Returns the task made through the service (it must survive the downgrade too)."""
    seed = migrated.seed
    application = create_app(make_settings(migrated.url, auto_migrate=False))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {name: await sign_in(client, user) for name, user in seed.users.items()}
            for name, user in seed.users.items():
                mine = inbox[user.id]
                listed = await client.get("/tasks", params={"limit": 100}, headers=headers[name])
                assert listed.status_code == 200, listed.text
                items = {task["id"]: task for task in listed.json()["items"]}
                assert set(items) == seed.task_ids_of(name), name
                for task_id, task in items.items():
                    stored = seed.tasks[task_id]
                    assert task["list_id"] == mine
                    assert (task["created_by"], task["assignee_id"]) == (user.id, None)
                    assert task["title"] == stored["title"]
                    assert task["status"] == stored["status"]
                    assert task["priority"] == PRIORITY_NAME[stored["priority"]]
                    assert task["due_date"] == json_instant(stored["due_date"])
                    assert task["completed_at"] == json_instant(stored["completed_at"])
                    assert task["created_at"] == json_instant(stored["created_at"])
                    assert task["updated_at"] == json_instant(stored["updated_at"])
                    got = await client.get(f"/tasks/{task_id}", headers=headers[name])
                    assert got.headers["ETag"] == etag(stored["version"], stored["created_at"])

                lists = await client.get("/lists", headers=headers[name])
                assert lists.status_code == 200, lists.text
                assert lists.json()["total"] == 1
                (shown,) = lists.json()["items"]
                assert shown == {
                    "id": mine,
                    "name": "Inbox",
                    "description": None,
                    "is_inbox": True,
                    "owner_id": user.id,
                    "role": "owner",
                    "created_at": json_instant(user.created_at),
                    "updated_at": json_instant(user.created_at),
                }
                members = await client.get(f"/lists/{mine}/members", headers=headers[name])
                assert [(m["user_id"], m["username"], m["role"]) for m in members.json()["items"]] == [
                    (user.id, user.username, "owner")
                ]
                # The inbox is theirs alone: every other user gets the 404 of a list that never was.
                for other in seed.users:
                    if other != name:
                        hidden = await client.get(f"/lists/{mine}", headers=headers[other])
                        assert hidden.status_code == 404, (other, hidden.text)
                        for task_id in seed.task_ids_of(name):
                            hidden = await client.get(f"/tasks/{task_id}", headers=headers[other])
                            assert hidden.status_code == 404, (other, hidden.text)

            # A retry sent before the upgrade and repeated after it gets its first answer back.
            for key in seed.keys:
                if key.age >= timedelta(hours=23):
                    continue  # out of the replay window: the service may forget it
                auth = {**headers[key.user], "Idempotency-Key": key.key}
                replay = await client.post("/tasks", json=key.body, headers=auth)
                assert replay.status_code == 201, replay.text
                assert replay.headers.get("Idempotent-Replayed") == "true", key.key
                assert replay.json()["id"] == key.task_id
                assert replay.headers["Location"] == f"/tasks/{key.task_id}"
                current = await client.get(f"/tasks/{key.task_id}", headers=headers[key.user])
                assert replay.json() == current.json()
                assert replay.headers["ETag"] == current.headers["ETag"]
                other_body = {**key.body, "title": key.body["title"] + " (again)"}
                reused = await client.post("/tasks", json=other_body, headers=auth)
                assert reused.status_code == 422, reused.text
                assert reused.json()["code"] == "idempotency_key_reused"

            # New tasks still go to the inbox, with ids after every migrated one.
            ada = seed.users["ada"]
            created = await client.post(
                "/tasks",
                json={"title": "Made after the upgrade", "priority": "high"},
                headers={**headers["ada"], "Idempotency-Key": "after-upgrade"},
            )
            assert created.status_code == 201, created.text
            assert "Idempotent-Replayed" not in created.headers
            task: dict[str, Any] = created.json()
            assert (task["list_id"], task["created_by"]) == (inbox[ada.id], ada.id)
            assert task["id"] > max(seed.tasks)
            total = await client.get("/tasks", headers=headers["ada"])
            assert total.json()["total"] == len(seed.task_ids_of("ada")) + 1
            task["etag"] = created.headers["ETag"]
            return task


async def test_upgrade_moves_every_task_into_its_owners_inbox_and_downgrade_gives_it_back(
    migrated: Migrated,
) -> None:
    seed, engine = migrated.seed, migrated.engine

    inbox = await run(engine, lambda connection: check_lists(connection, seed))
    await run(engine, lambda connection: check_tasks_moved(connection, seed, inbox))
    await run(engine, lambda connection: check_keys_rewritten(connection, seed, inbox))

    await to_head(migrated)
    made = await check_the_service(migrated, inbox)

    await asyncio.to_thread(command.downgrade, migrated.config, BEFORE)
    assert await revision_of(engine) == BEFORE
    assert not {"lists", "list_members"} & await run(engine, tables_now)

    tasks = {row["id"]: row for row in await run(engine, lambda connection: rows(connection, "tasks"))}
    assert set(tasks) == {*seed.tasks, made["id"]}
    for task_id, before in seed.tasks.items():
        assert tasks[task_id] == before, f"task {task_id} after the downgrade"
    assert tasks[made["id"]]["owner_id"] == seed.users["ada"].id
    assert tasks[made["id"]]["title"] == "Made after the upgrade"

    keys = {
        row["key"]: row for row in await run(engine, lambda connection: rows(connection, "idempotency_keys"))
    }
    assert set(keys) == {*(row["key"] for row in seed.idempotency_keys.values()), "after-upgrade"}
    for before in seed.idempotency_keys.values():
        assert keys[before["key"]] == before, f"idempotency key {before['key']} after the downgrade"
    # A key sent after the upgrade: its answer is a task as 0004 showed it, owned by the list's owner.
    answer = keys["after-upgrade"]["response"]
    shown = {name: made[name] for name in TASK_AT_0004 if name != "owner_id"}
    assert answer == {"task": {**shown, "owner_id": seed.users["ada"].id}, "etag": made["etag"]}


def add_a_list(connection: Connection) -> None:
    """ada makes a list of her own and moves a task into it."""
    tables = reflect(connection).tables
    (ada,) = connection.execute(select(tables["users"].c.id).where(tables["users"].c.username == "ada")).one()
    now = datetime.now(UTC)
    result = connection.execute(
        tables["lists"]
        .insert()
        .values(name="Groceries", is_inbox=False, owner_id=ada, created_at=now, updated_at=now, version=1)
    )
    assert result.inserted_primary_key is not None
    (list_id,) = result.inserted_primary_key
    connection.execute(
        tables["list_members"].insert().values(list_id=list_id, user_id=ada, role="owner", added_at=now)
    )
    inbox_of_ada = inboxes(connection)[ada]
    (task_id,) = connection.execute(
        select(tables["tasks"].c.id).where(tables["tasks"].c.list_id == inbox_of_ada).limit(1)
    ).one()
    connection.execute(
        tables["tasks"].update().where(tables["tasks"].c.id == task_id).values(list_id=list_id)
    )


def add_a_member(connection: Connection) -> None:
    """Grace becomes a viewer of ada's inbox. The API never shares an inbox, but the guard of the
    downgrade is for any member who is not an owner, however they got there."""
    tables = reflect(connection).tables
    users = {row["username"]: row["id"] for row in rows(connection, "users")}
    connection.execute(
        tables["list_members"]
        .insert()
        .values(
            list_id=inboxes(connection)[users["ada"]],
            user_id=users["Grace.Hopper"],
            role="viewer",
            added_at=datetime.now(UTC),
        )
    )


@pytest.mark.parametrize("change", [add_a_list, add_a_member], ids=["another-list", "another-member"])
async def test_downgrade_refuses_while_lists_are_shared_or_not_inboxes(
    migrated: Migrated, change: Callable[[Connection], None]
) -> None:
    """0004 has no place for such a list or member: the downgrade fails and changes nothing."""
    engine = migrated.engine
    head = await to_head(migrated)
    await run(engine, change)
    before = await run(engine, everything)

    with pytest.raises(RuntimeError, match=DOWNGRADE_REFUSED):
        await asyncio.to_thread(command.downgrade, migrated.config, BEFORE)

    assert await revision_of(engine) == head
    after = await run(engine, everything)
    assert after == before


async def test_downgrade_forgets_the_keys_of_post_lists(migrated: Migrated) -> None:
    """0004 has no POST /lists: the keys of that route go with the downgrade, those of POST /tasks stay.

    Keys of the two routes are separate (API.md), so a client may well send one key to both.
    """
    seed = migrated.seed
    ada = seed.users["ada"]
    await to_head(migrated)
    application = create_app(make_settings(migrated.url, auto_migrate=False))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = await sign_in(client, ada)
            for key, name in (("trip-1", "Trip"), ("shared-key", "Party")):
                made = await client.post(
                    "/lists", json={"name": name}, headers={**headers, "Idempotency-Key": key}
                )
                assert made.status_code == 201, made.text
                # Deleted again: only inboxes are left, which the downgrade can take back.
                deleted = await client.delete(f"/lists/{made.json()['id']}", headers=headers)
                assert deleted.status_code == 204, deleted.text
            task = await client.post(
                "/tasks", json={"title": "Buy balloons"}, headers={**headers, "Idempotency-Key": "shared-key"}
            )
            assert task.status_code == 201, task.text

    await asyncio.to_thread(command.downgrade, migrated.config, BEFORE)

    keys = {row["key"]: row for row in await run(migrated.engine, lambda c: rows(c, "idempotency_keys"))}
    assert set(keys) == {*(row["key"] for row in seed.idempotency_keys.values()), "shared-key"}
    assert keys["shared-key"]["response"]["task"]["title"] == "Buy balloons"
    assert all(set(row["response"]) == {"task", "etag"} for row in keys.values())
