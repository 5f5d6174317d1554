"""A Hypothesis state machine for /tasks: two users, random writes, a plain-Python model.

Each example registers two new users, who create tasks, replace them (PUT), patch them (PATCH),
complete and delete them at random. Some bodies are invalid (a title blank or over 200 characters
after trimming, a null title in a PATCH): those must be a 422 `validation_error` that changes nothing.

After every step, each user's whole `GET /tasks` must equal the model of that user's tasks: the same
ids in the same order (the sort goes round every key from one step to the next, starting with the
default, newest first) and, for every task, the trimmed title, description, status, priority, due
date (as an instant), `is_completed`, `created_by`, and the timestamps the write responses reported.
The write responses themselves obey the timestamp rules: `created_at` never changes, `updated_at` is
never before it and moves on every change, `completed_at` is set when a task enters `completed`,
kept while it stays there and cleared when it leaves. Every timestamp is ISO 8601 in UTC.

Isolation: the other user's task id and a deleted id are a 404 `not_found` for GET, PUT, PATCH,
complete and DELETE, and change nothing; tasks of the other user, and of every earlier example's
users (they share the database), never appear in a listing.

One more rule lists with a random status and priority filter, search, sort and page size, walks
every page and compares each with the model: the filters, the order (the sort key then id, both in
the key's direction; priority by rank; tasks without a due date last in both directions; titles
case-insensitively) and the page arithmetic.

Titles and descriptions mix ASCII letters of both cases with caseless non-ASCII characters
(`ß`, `ø`, CJK, an emoji), plus `%`, `_` and `/` for the search's escaping. Non-ASCII letters that
have case are left out on purpose: SQLite's lower() and LIKE fold ASCII only, so there `q=É` does
not find "éclair" (PostgreSQL does), and the contract does not say how such titles sort.

The session `app` fixture lives on pytest-asyncio's session loop while a state machine is
synchronous, so this test builds its own app on its own empty database inside an `asyncio.Runner`
and sends every request through `runner.run`.
"""

import asyncio
import dataclasses
import math
import string
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import empty_database, make_settings, postgres_admin_url
from tests.factories import PRIORITY_RANK, SORT_KEYS, SignedInUser, UserFactory
from todo_api.main import create_app

Body = dict[str, Any]

USERS = ("alice", "bob")
STATUSES = ("todo", "in_progress", "completed")
PRIORITIES = ("low", "medium", "high")
DEFAULT_SORT = "-created_at"
INVARIANT_SORTS: tuple[str | None, ...] = (None, *SORT_KEYS)  # None: no sort parameter
MAX_TITLE = 200
LISTING_LIMIT = 100  # a user never has more tasks than 8 + stateful_step_count: one page holds all

WHITESPACE = " \t\n\u00a0\u3000"
TEXT_CHARS = string.ascii_letters + string.digits + " %_/-" + "ßø漢字🙂"
SEARCH_CHARS = "aAbB1 %_/ß漢"

MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- the model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fields:
    """A task's writable fields, as the service must store them."""

    title: str
    description: str | None
    status: str
    priority: str
    due_date: datetime | None


@dataclass(frozen=True)
class ModelTask:
    """A task as the model knows it: its fields exactly, its timestamps as the service reported them."""

    id: int
    fields: Fields
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


DEFAULT_FIELDS = Fields(title="", description=None, status="todo", priority="medium", due_date=None)


def title_is_valid(title: object) -> bool:
    return isinstance(title, str) and 1 <= len(title.strip()) <= MAX_TITLE


def body_is_valid(body: Body) -> bool:
    """Whether the service must accept this POST, PUT or PATCH body (the strategies only vary titles)."""
    return "title" not in body or title_is_valid(body["title"])


def expected_fields(before: Fields | None, body: Body) -> Fields:
    """The fields after a write: a POST or PUT body over the defaults, a PATCH body over `before`."""
    changes = dict(body)
    if "title" in changes:
        changes["title"] = changes["title"].strip()
    return dataclasses.replace(before or DEFAULT_FIELDS, **changes)


def encode(body: Body) -> Body:
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in body.items()}


def matches(task: ModelTask, status: str | None, priority: str | None, q: str | None) -> bool:
    """The listing's filters: `q` is a trimmed, case-insensitive substring of title or description."""
    fields = task.fields
    if status is not None and fields.status != status:
        return False
    if priority is not None and fields.priority != priority:
        return False
    needle = (q or "").strip().lower()
    if not needle:
        return True
    return needle in fields.title.lower() or needle in (fields.description or "").lower()


def sort_value(task: ModelTask, key: str) -> Any:
    if key == "created_at":
        return task.created_at
    if key == "updated_at":
        return task.updated_at
    if key == "priority":
        return PRIORITY_RANK[task.fields.priority]
    if key == "title":
        return task.fields.title.lower()
    return task.fields.due_date


def ordered(tasks: Iterable[ModelTask], sort: str) -> list[ModelTask]:
    """The listing's order: the key, then id, both in the key's direction; no due date sorts last."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    keyed = [task for task in tasks if sort_value(task, key) is not None]
    unkeyed = [task for task in tasks if sort_value(task, key) is None]
    first = sorted(keyed, key=lambda task: (sort_value(task, key), task.id), reverse=descending)
    return first + sorted(unkeyed, key=lambda task: task.id, reverse=descending)


# --- reading and checking responses ----------------------------------------------------------------


def utc_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp that the service must have written in UTC."""
    assert value.endswith(("Z", "+00:00")), value
    return datetime.fromisoformat(value)


def optional_timestamp(value: str | None) -> datetime | None:
    return None if value is None else utc_timestamp(value)


def read_task(body: Mapping[str, Any], owner: SignedInUser) -> ModelTask:
    """A task of the API as the model sees it, after the checks that need no model."""
    assert body["created_by"] == owner.id
    assert body["is_completed"] == (body["status"] == "completed")
    task = ModelTask(
        id=body["id"],
        fields=Fields(
            title=body["title"],
            description=body["description"],
            status=body["status"],
            priority=body["priority"],
            due_date=optional_timestamp(body["due_date"]),
        ),
        created_at=utc_timestamp(body["created_at"]),
        updated_at=utc_timestamp(body["updated_at"]),
        completed_at=optional_timestamp(body["completed_at"]),
    )
    assert task.updated_at >= task.created_at
    return task


def check_written(
    body: Mapping[str, Any], owner: SignedInUser, before: ModelTask | None, fields: Fields
) -> ModelTask:
    """The task a write answered: the expected fields and the timestamp rules; it becomes the model's."""
    task = read_task(body, owner)
    assert task.fields == fields
    if before is not None:
        assert task.id == before.id
        assert task.created_at == before.created_at
        if fields != before.fields:
            assert task.updated_at != before.updated_at, "updated_at must move on every change"
    if fields.status != "completed":
        assert task.completed_at is None
    elif before is not None and before.fields.status == "completed":
        assert task.completed_at == before.completed_at, "completing again keeps the first completed_at"
    else:
        assert task.completed_at is not None
        assert task.created_at <= task.completed_at <= task.updated_at
    return task


def check_error(response: httpx.Response, status_code: int, code: str) -> None:
    assert response.status_code == status_code, response.text
    assert response.json()["code"] == code


def check_page(
    body: Mapping[str, Any], owner: SignedInUser, expected: list[ModelTask], skip: int, limit: int
) -> None:
    """One page of `GET /tasks` against the model's whole, ordered result."""
    window = expected[skip : skip + limit]
    assert body["total"] == len(expected)
    assert (body["skip"], body["limit"], body["page"], body["page_size"], body["pages"]) == (
        skip,
        limit,
        skip // limit + 1,
        limit,
        math.ceil(len(expected) / limit),
    )
    assert [item["id"] for item in body["items"]] == [task.id for task in window]
    assert [read_task(item, owner) for item in body["items"]] == window


# --- strategies ------------------------------------------------------------------------------------


def padded(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    padding = st.text(WHITESPACE, max_size=3)
    return st.tuples(padding, core, padding).map("".join)


# A non-blank core between white space of several kinds, which the service trims.
SHORT_TITLES = padded(
    st.tuples(st.sampled_from(TEXT_CHARS.replace(" ", "")), st.text(TEXT_CHARS, max_size=23)).map("".join)
)
TITLE_KINDS: dict[str, st.SearchStrategy[str | None]] = {
    "short": SHORT_TITLES,
    "near the limit": padded(st.text(TEXT_CHARS, min_size=MAX_TITLE - 2, max_size=MAX_TITLE + 2)),
    "blank": st.text(WHITESPACE, max_size=4),
    "null": st.none(),
}


def title_strategy(*rare: str) -> st.SearchStrategy[str | None]:
    """Mostly short titles; each kind in `rare` about one time in ten."""
    return st.sampled_from(["short"] * 8 + list(rare)).flatmap(TITLE_KINDS.__getitem__)


descriptions = st.none() | st.text(TEXT_CHARS + "\n", max_size=30)
utc_offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
due_dates = st.none() | st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=utc_offsets
)
OPTIONAL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "description": descriptions,
    "status": st.sampled_from(STATUSES),
    "priority": st.sampled_from(PRIORITIES),
    "due_date": due_dates,
}
# POST and PUT: a title and any of the rest (omitted ones take their defaults).
full_bodies = st.fixed_dictionaries(
    {"title": title_strategy("near the limit", "blank")}, optional=OPTIONAL_FIELDS
)
# PATCH: any of the fields, null clearing description and due date.
patch_bodies = st.fixed_dictionaries(
    {}, optional={"title": title_strategy("near the limit", "blank", "null"), **OPTIONAL_FIELDS}
)


@dataclass(frozen=True)
class ListQuery:
    status_filter: str | None
    priority: str | None
    q: str | None
    sort: str | None
    limit: int

    def params(self) -> dict[str, str | int]:
        values = dataclasses.asdict(self)
        return {name: value for name, value in values.items() if value is not None}


def sometimes(strategy: st.SearchStrategy[str], one_in: int) -> st.SearchStrategy[str | None]:
    """`strategy` about once in `one_in` draws, else None: filters that leave something to sort."""
    return st.sampled_from([True] + [False] * (one_in - 1)).flatmap(lambda on: strategy if on else st.none())


list_queries = st.builds(
    ListQuery,
    status_filter=sometimes(st.sampled_from(STATUSES), 3),
    priority=sometimes(st.sampled_from(PRIORITIES), 3),
    q=sometimes(st.text(SEARCH_CHARS, min_size=1, max_size=3), 4),
    sort=st.sampled_from((None, *SORT_KEYS)),
    limit=st.integers(1, 8),
)

# Every single-task call, with a valid body where one is needed: on a task that is not yours, a 404.
TASK_CALLS: dict[str, tuple[str, str, Body | None]] = {
    "get": ("GET", "", None),
    "put": ("PUT", "", {"title": "Taken over", "status": "completed"}),
    "patch": ("PATCH", "", {"description": None, "due_date": None}),
    "complete": ("POST", "/complete", None),
    "delete": ("DELETE", "", None),
}


# --- the machine -----------------------------------------------------------------------------------


class Api:
    """Synchronous calls into an app that runs on `runner`'s event loop."""

    def __init__(self, runner: asyncio.Runner, client: httpx.AsyncClient) -> None:
        self.runner = runner
        self.client = client

    def request(
        self,
        method: str,
        path: str,
        user: SignedInUser,
        *,
        json: Body | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        call = self.client.request(method, path, headers=user.headers, json=json, params=params)
        return self.runner.run(call)

    def sign_up(self) -> SignedInUser:
        """A brand-new registered, signed-in user."""
        return self.runner.run(UserFactory(self.client).create())


class TaskMachine(RuleBasedStateMachine):
    api: ClassVar[Api]

    def __init__(self) -> None:
        super().__init__()
        self.users = {name: self.api.sign_up() for name in USERS}
        self.tasks: dict[str, dict[int, ModelTask]] = {name: {} for name in USERS}
        self.deleted: dict[str, set[int]] = {name: set() for name in USERS}
        self.checks = 0

    # helpers

    def has_tasks(self) -> bool:
        return any(self.tasks.values())

    def has_deleted(self) -> bool:
        return any(self.deleted.values())

    def other(self, name: str) -> str:
        return USERS[1 - USERS.index(name)]

    def pick_task(self, data: st.DataObject) -> tuple[str, ModelTask]:
        owner = data.draw(st.sampled_from([name for name in USERS if self.tasks[name]]), label="owner")
        task_id = data.draw(st.sampled_from(sorted(self.tasks[owner])), label="task id")
        return owner, self.tasks[owner][task_id]

    def call(self, name: str, call: str, task_id: int) -> httpx.Response:
        method, suffix, body = TASK_CALLS[call]
        return self.api.request(method, f"/tasks/{task_id}{suffix}", self.users[name], json=body)

    def update(self, owner: str, before: ModelTask, method: str, body: Body) -> None:
        """PUT or PATCH the owner's task: an invalid body is a 422, a valid one changes the model."""
        response = self.api.request(method, f"/tasks/{before.id}", self.users[owner], json=encode(body))
        if not body_is_valid(body):
            check_error(response, 422, "validation_error")
            return
        assert response.status_code == 200, response.text
        fields = expected_fields(None if method == "PUT" else before.fields, body)
        self.tasks[owner][before.id] = check_written(response.json(), self.users[owner], before, fields)

    def listing(self, name: str, params: Mapping[str, str | int]) -> Mapping[str, Any]:
        response = self.api.request("GET", "/tasks", self.users[name], params=params)
        assert response.status_code == 200, response.text
        body: Mapping[str, Any] = response.json()
        return body

    # rules

    @initialize(alice=st.lists(full_bodies, min_size=1, max_size=8), bob=st.lists(full_bodies, max_size=8))
    def start_with_tasks(self, alice: list[Body], bob: list[Body]) -> None:
        for name, bodies in zip(USERS, (alice, bob), strict=True):
            for body in bodies:
                self.create(name, body)

    @rule(name=st.sampled_from(USERS), body=full_bodies)
    def create(self, name: str, body: Body) -> None:
        response = self.api.request("POST", "/tasks", self.users[name], json=encode(body))
        if not body_is_valid(body):
            check_error(response, 422, "validation_error")
            return
        assert response.status_code == 201, response.text
        task = check_written(response.json(), self.users[name], None, expected_fields(None, body))
        assert response.headers["location"] == f"/tasks/{task.id}"
        assert all(task.id not in tasks for tasks in self.tasks.values())
        self.tasks[name][task.id] = task
        self.deleted[name].discard(task.id)  # SQLite may hand out a deleted id again

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), body=full_bodies)
    def replace(self, data: st.DataObject, body: Body) -> None:
        owner, task = self.pick_task(data)
        self.update(owner, task, "PUT", body)

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), body=patch_bodies)
    def patch(self, data: st.DataObject, body: Body) -> None:
        owner, task = self.pick_task(data)
        self.update(owner, task, "PATCH", body)

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        owner, task = self.pick_task(data)
        response = self.call(owner, "complete", task.id)
        assert response.status_code == 200, response.text
        fields = expected_fields(task.fields, {"status": "completed"})
        self.tasks[owner][task.id] = check_written(response.json(), self.users[owner], task, fields)

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        owner, task = self.pick_task(data)
        response = self.call(owner, "delete", task.id)
        assert response.status_code == 204, response.text
        assert response.content == b""
        del self.tasks[owner][task.id]
        self.deleted[owner].add(task.id)

    @precondition(lambda self: self.has_deleted())
    @rule(data=st.data(), call=st.sampled_from(sorted(TASK_CALLS)))
    def touch_deleted(self, data: st.DataObject, call: str) -> None:
        name = data.draw(st.sampled_from([name for name in USERS if self.deleted[name]]), label="user")
        task_id = data.draw(st.sampled_from(sorted(self.deleted[name])), label="deleted id")
        check_error(self.call(name, call, task_id), 404, "not_found")

    @precondition(lambda self: self.has_tasks())
    @rule(data=st.data(), call=st.sampled_from(sorted(TASK_CALLS)))
    def touch_foreign(self, data: st.DataObject, call: str) -> None:
        owner, task = self.pick_task(data)
        check_error(self.call(self.other(owner), call, task.id), 404, "not_found")

    @rule(name=st.sampled_from(USERS), query=list_queries)
    def list_filtered(self, name: str, query: ListQuery) -> None:
        """Walk every page of a filtered, sorted listing; each must be its slice of the model."""
        candidates = self.tasks[name].values()
        chosen = [task for task in candidates if matches(task, query.status_filter, query.priority, query.q)]
        expected = ordered(chosen, query.sort or DEFAULT_SORT)
        skip = 0
        while True:
            page = self.listing(name, {**query.params(), "skip": skip})
            check_page(page, self.users[name], expected, skip, query.limit)
            skip += query.limit
            if skip >= len(expected):
                break

    # after every step

    @invariant()
    def listings_match_model(self) -> None:
        """Each user's whole listing is the model; the sort goes round every key, the default first."""
        sort = INVARIANT_SORTS[self.checks % len(INVARIANT_SORTS)]
        self.checks += 1
        for name in USERS:
            params: dict[str, str | int] = (
                {"limit": LISTING_LIMIT} if sort is None else {"limit": LISTING_LIMIT, "sort": sort}
            )
            page = self.listing(name, params)
            expected = ordered(self.tasks[name].values(), sort or DEFAULT_SORT)
            check_page(page, self.users[name], expected, 0, LISTING_LIMIT)


# --- the test --------------------------------------------------------------------------------------


@asynccontextmanager
async def serving(backend: str, directory: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new app on a new, empty database, with no rate limits on sign-up and login."""
    async with empty_database(backend, directory) as url:
        app = create_app(make_settings(url, login_rate_limit="0", register_rate_limit="0"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client


def test_two_users_against_a_model(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        postgres_admin_url()  # skips here, outside the event loop, when no server is configured
    # Our own loop, not installed as the current one: pytest-asyncio's session loop stays untouched.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        resources = AsyncExitStack()
        try:
            client = runner.run(resources.enter_async_context(serving(backend, tmp_path)))

            class Machine(TaskMachine):
                api = Api(runner, client)

            run_state_machine_as_test(Machine, settings=MACHINE_SETTINGS)
        finally:
            runner.run(resources.aclose())
