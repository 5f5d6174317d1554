"""A Hypothesis state machine for lists, members, roles and tasks: three users against a plain-Python model.

Each example registers three new users (alice, bob, carol), each with the inbox the account comes with.
It starts with a few tasks in each inbox and one list shared at random, then runs random steps:

- lists: create (a blank or too long name is a 422), rename (PATCH, admin), read (GET the list and its
  members), delete (owner; its tasks go with it), transfer (owner; to yourself a no-op 200, to someone
  who is no member a 422 on `body.user_id`; the old owner stays on as admin);
- members: add by username or e-mail in any case (admin; a role of `owner` is a 422, someone already
  there a 409 `already_member`, nobody by that name a 404 `user_not_found`), change a role (admin; the
  owner's is a 409 `owner_protected`), remove a member or leave (admin, or yourself; the owner cannot:
  409 `owner_protected`). The inbox cannot be deleted, shared or transferred: 409 `inbox_protected`,
  before anything else about the request (a body that would be a 422 included);
- tasks: create in a chosen list (the inbox when `list_id` is omitted or null), PUT, PATCH (moving with
  `list_id`, a null `list_id` being a 422), assign (`assignee_id`), complete, delete; with invalid titles
  now and then, which are a 422 `validation_error` that changes nothing, whatever else is wrong;
- a listing with random filters (`list_id` of any list, `assignee_id`, status, priority, search), sort
  and page size, every page of it.

A step draws what it acts on from everything of the example, then who acts: mostly a list that is not
an inbox (else an inbox, or a deleted one) or a task in one, and mostly a member whose role allows the
request (else a member whose role does not, or any user, who may be no member); member routes mostly
name a member who is not the owner, an assignee first. So the model predicts the status and code of
every request: 404 `not_found` for what the caller cannot see (never 403), 403 `forbidden` for a role
too small (viewer < editor < admin < owner), and the effects: unassignment when an assignee is removed or
leaves (a change of those tasks, so their `updated_at` moves), a deleted list's tasks gone, the roles after
a transfer. An assignee must be a member with the editor role or more: anyone else is a 422 on
`body.assignee_id` and changes nothing.

Our choices where the contract is silent: transferring a list to yourself is a no-op 200; demoting an
assignee to viewer leaves the assignment; moving a task to a list where its assignee is not an editor or
more is a 422 on `body.assignee_id`; an `assignee_id` or `list_id` that a write sends unchanged is not
checked again (so a PUT restating a task whose assignee was demoted succeeds); `GET /lists` sorts by
`created_at` then id by default; a change of membership may or may not move the list's `updated_at`, but
never backwards (a rename or a transfer must move it, a no-op must not).

After every step, for each user: every page of `GET /lists` (the sort going round the keys, the page size
now and then small) equals the model's lists with the user's role; every page of `GET /tasks` with a sort
key and filters chosen at random (seeded by the step, so a failure replays), `list_id` among the user's
lists and `assignee_id` among the users, equals the model's tasks: the same ids in the same order and, for
every task, the trimmed title, description, status, priority, due date (as an instant), list, assignee,
`is_completed`, `created_by`, and the timestamps the write responses reported. And for one user in
turn, an id they cannot see (another user's list or task, or a deleted one) is a 404 `not_found` to
`GET /lists/{id}`, `GET /lists/{id}/members`, `GET /tasks?list_id=` or `GET /tasks/{id}`.

The write responses themselves obey the timestamp rules: `created_at` never changes, `updated_at` is
never before it and moves on every change, `completed_at` is set when a task enters `completed`, kept
while it stays there and cleared when it leaves. Every timestamp is ISO 8601 in UTC. Users, lists and
tasks of earlier examples share the database and must never show.

Titles, names and descriptions mix ASCII letters of both cases with caseless non-ASCII characters
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
import random
import string
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
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

USERS = ("alice", "bob", "carol")
ROLES = ("viewer", "editor", "admin", "owner")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
GIVEN_ROLES = ("viewer", "editor", "admin")  # what a member body may say; `owner` there is a 422
STATUSES = ("todo", "in_progress", "completed")
PRIORITIES = ("low", "medium", "high")
DEFAULT_SORT = "-created_at"
LIST_SORTS: tuple[str | None, ...] = (None, "created_at", "-created_at", "name", "-name")
DEFAULT_LIST_SORT = "created_at"
INBOX_NAME = "Inbox"
MAX_TITLE = 200
MAX_LIST_NAME = 100
# An example never has more tasks than 3 * 3 + 4 + stateful_step_count, nor more lists than 4 + the
# steps: one page of this size holds them all, smaller pages are walked now and then.
LISTING_LIMIT = 100
UNKNOWN_LOGIN = "no-such-user"  # UserFactory names its users userN: nobody is called this

WHITESPACE = " \t\n\u00a0\u3000"
TEXT_CHARS = string.ascii_letters + string.digits + " %_/-" + "ßø漢字🙂"
SEARCH_CHARS = "aAbB1 %_/ß漢"

# A step costs about eight requests (the rule, then for each user a page of lists and one of tasks,
# and one probe): 10 examples of 20 steps take about as long on a 2-core machine as the two-user
# machine's 25 of 20 did with its three requests a step, well under a minute per database.
MACHINE_SETTINGS = settings(
    max_examples=10,
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
    list_id: int
    assignee_id: int | None


@dataclass(frozen=True)
class ModelTask:
    """A task as the model knows it: its fields exactly, its timestamps as the service reported them."""

    id: int
    fields: Fields
    created_by: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class ListView:
    """What a member sees of a list, but for `updated_at` (ModelList.updated_at)."""

    id: int
    name: str
    description: str | None
    is_inbox: bool
    owner_id: int
    role: str
    created_at: datetime


@dataclass
class ModelList:
    """A list and its members (user id: role, the owner's being `owner`)."""

    id: int
    name: str
    description: str | None
    is_inbox: bool
    owner_id: int
    members: dict[int, str]
    created_at: datetime
    updated_at: datetime
    # False after a change of membership: the contract does not say whether it moves `updated_at`,
    # so the next listing tells (not earlier than before), and from then on it must stay put.
    updated_at_exact: bool = True

    def view(self, user_id: int) -> ListView:
        return ListView(
            id=self.id,
            name=self.name,
            description=self.description,
            is_inbox=self.is_inbox,
            owner_id=self.owner_id,
            role=self.members[user_id],
            created_at=self.created_at,
        )


@dataclass(frozen=True)
class Refusal:
    """An error the model predicts: the status, the `code`, and for some 422s the field at fault."""

    status: int
    code: str
    loc: tuple[str, ...] | None = None


NOT_FOUND = Refusal(404, "not_found")
FORBIDDEN = Refusal(403, "forbidden")
INVALID = Refusal(422, "validation_error")
BAD_ASSIGNEE = Refusal(422, "validation_error", ("body", "assignee_id"))
NOT_A_MEMBER = Refusal(422, "validation_error", ("body", "user_id"))
INBOX_PROTECTED = Refusal(409, "inbox_protected")
OWNER_PROTECTED = Refusal(409, "owner_protected")
ALREADY_MEMBER = Refusal(409, "already_member")
USER_NOT_FOUND = Refusal(404, "user_not_found")

TASK_DEFAULTS: Body = {"description": None, "status": "todo", "priority": "medium", "due_date": None}


def allows(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[needed]


def title_is_valid(title: object) -> bool:
    return isinstance(title, str) and 1 <= len(title.strip()) <= MAX_TITLE


def name_is_valid(name: object) -> bool:
    return isinstance(name, str) and 1 <= len(name.strip()) <= MAX_LIST_NAME


def task_body_is_valid(method: str, body: Body) -> bool:
    """Whether the schema takes this body (the strategies vary titles, and a PATCH's list_id may be null)."""
    if "title" in body and not title_is_valid(body["title"]):
        return False
    return not (method == "PATCH" and "list_id" in body and body["list_id"] is None)


def expected_fields(method: str, before: Fields | None, body: Body, list_id: int) -> Fields:
    """The fields after a valid write: a POST or PUT body over the defaults in `list_id` (no assignee
    unless sent), a PATCH body over `before` (its `list_id` argument is ignored)."""
    changes = {name: value for name, value in body.items() if name != "list_id"}
    if "title" in changes:
        changes["title"] = changes["title"].strip()
    if method == "PATCH":
        assert before is not None
        if "list_id" in body:
            changes["list_id"] = body["list_id"]
        return dataclasses.replace(before, **changes)
    defaults = {**TASK_DEFAULTS, "assignee_id": None, "list_id": list_id}
    return Fields(**{**defaults, **changes})


def encode(body: Body) -> Body:
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in body.items()}


@dataclass(frozen=True)
class TaskQuery:
    """The filters, sort and page size of one `GET /tasks` walk."""

    status_filter: str | None = None
    priority: str | None = None
    q: str | None = None
    list_id: int | None = None
    assignee_id: int | None = None
    sort: str | None = None
    limit: int = LISTING_LIMIT

    def params(self) -> dict[str, str | int]:
        values = dataclasses.asdict(self)
        return {name: value for name, value in values.items() if value is not None}

    def matches(self, task: ModelTask) -> bool:
        """`q` is a trimmed, case-insensitive substring of title or description."""
        fields = task.fields
        if self.status_filter is not None and fields.status != self.status_filter:
            return False
        if self.priority is not None and fields.priority != self.priority:
            return False
        if self.list_id is not None and fields.list_id != self.list_id:
            return False
        if self.assignee_id is not None and fields.assignee_id != self.assignee_id:
            return False
        needle = (self.q or "").strip().lower()
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


def ordered_lists(lists: Iterable[ModelList], sort: str) -> list[ModelList]:
    """`GET /lists`: by creation or case-insensitive name, then id, both in the key's direction."""
    descending = sort.startswith("-")
    if sort.lstrip("-") == "name":
        return sorted(lists, key=lambda item: (item.name.lower(), item.id), reverse=descending)
    return sorted(lists, key=lambda item: (item.created_at, item.id), reverse=descending)


# --- reading and checking responses ----------------------------------------------------------------


def utc_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp that the service must have written in UTC."""
    assert value.endswith(("Z", "+00:00")), value
    return datetime.fromisoformat(value)


def optional_timestamp(value: str | None) -> datetime | None:
    return None if value is None else utc_timestamp(value)


def read_task(body: Mapping[str, Any]) -> ModelTask:
    """A task of the API as the model sees it, after the checks that need no model."""
    assert body["is_completed"] == (body["status"] == "completed")
    task = ModelTask(
        id=body["id"],
        fields=Fields(
            title=body["title"],
            description=body["description"],
            status=body["status"],
            priority=body["priority"],
            due_date=optional_timestamp(body["due_date"]),
            list_id=body["list_id"],
            assignee_id=body["assignee_id"],
        ),
        created_by=body["created_by"],
        created_at=utc_timestamp(body["created_at"]),
        updated_at=utc_timestamp(body["updated_at"]),
        completed_at=optional_timestamp(body["completed_at"]),
    )
    assert task.updated_at >= task.created_at
    return task


def read_list(body: Mapping[str, Any]) -> tuple[ListView, datetime]:
    """A list of the API as a member sees it, and its `updated_at`."""
    view = ListView(
        id=body["id"],
        name=body["name"],
        description=body["description"],
        is_inbox=body["is_inbox"],
        owner_id=body["owner_id"],
        role=body["role"],
        created_at=utc_timestamp(body["created_at"]),
    )
    updated_at = utc_timestamp(body["updated_at"])
    assert updated_at >= view.created_at
    return view, updated_at


def check_written(
    body: Mapping[str, Any], creator: int, before: ModelTask | None, fields: Fields
) -> ModelTask:
    """The task a write answered: the expected fields and the timestamp rules; it becomes the model's."""
    task = read_task(body)
    assert task.fields == fields
    assert task.created_by == creator
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


def check_refused(response: httpx.Response, refusal: Refusal) -> None:
    assert response.status_code == refusal.status, (refusal, response.text)
    body = response.json()
    assert body["code"] == refusal.code, (refusal, response.text)
    if refusal.status == 422:
        assert isinstance(body["detail"], list), body
    if refusal.loc is not None:
        assert [error["loc"] for error in body["detail"]] == [list(refusal.loc)], body


def check_page(body: Mapping[str, Any], total: int, skip: int, limit: int) -> None:
    """The page arithmetic of one page of a listing of `total` items."""
    assert body["total"] == total
    assert (body["skip"], body["limit"], body["page"], body["page_size"], body["pages"]) == (
        skip,
        limit,
        skip // limit + 1,
        limit,
        math.ceil(total / limit),
    )


# --- strategies ------------------------------------------------------------------------------------


def padded(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    padding = st.text(WHITESPACE, max_size=3)
    return st.tuples(padding, core, padding).map("".join)


def short_texts(max_size: int) -> st.SearchStrategy[str]:
    """A non-blank core between white space of several kinds, which the service trims."""
    first = st.sampled_from(TEXT_CHARS.replace(" ", ""))
    return padded(st.tuples(first, st.text(TEXT_CHARS, max_size=max_size)).map("".join))


def kinds(table: Mapping[str, st.SearchStrategy[str | None]], *rare: str) -> st.SearchStrategy[str | None]:
    """Mostly the kind "short"; each kind in `rare` about one time in ten."""
    return st.sampled_from(["short"] * 8 + list(rare)).flatmap(table.__getitem__)


TITLE_KINDS: dict[str, st.SearchStrategy[str | None]] = {
    "short": short_texts(23),
    "near the limit": padded(st.text(TEXT_CHARS, min_size=MAX_TITLE - 2, max_size=MAX_TITLE + 2)),
    "blank": st.text(WHITESPACE, max_size=4),
    "null": st.none(),
}
NAME_KINDS: dict[str, st.SearchStrategy[str | None]] = {
    "short": short_texts(11),
    "near the limit": padded(st.text(TEXT_CHARS, min_size=MAX_LIST_NAME - 1, max_size=MAX_LIST_NAME + 1)),
    "blank": st.text(WHITESPACE, max_size=4),
    "null": st.none(),
}

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
# POST and PUT: a title and any of the rest (omitted ones take their defaults); list and assignee
# are drawn by the rules, from the example's state.
full_bodies = st.fixed_dictionaries(
    {"title": kinds(TITLE_KINDS, "near the limit", "blank")}, optional=OPTIONAL_FIELDS
)
# PATCH: any of the fields, null clearing description and due date.
patch_bodies = st.fixed_dictionaries(
    {}, optional={"title": kinds(TITLE_KINDS, "near the limit", "blank", "null"), **OPTIONAL_FIELDS}
)
list_names = kinds(NAME_KINDS, "near the limit", "blank")
# PATCH /lists: a name (null is a 422), a description (null clears it), both or neither.
list_patches = st.fixed_dictionaries(
    {}, optional={"name": kinds(NAME_KINDS, "near the limit", "blank", "null"), "description": descriptions}
)
# How a member body names the user: `user` is the username or the e-mail, in any case.
LOGINS: dict[str, Callable[[SignedInUser], str]] = {
    "username": lambda user: user.username,
    "USERNAME": lambda user: user.username.upper(),
    "email": lambda user: user.email,
    "Email": lambda user: user.email.capitalize(),
}


def sometimes(strategy: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """`strategy` about once in `one_in` draws, else None: filters that leave something to sort."""
    return st.sampled_from([True] + [False] * (one_in - 1)).flatmap(lambda on: strategy if on else st.none())


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


class ListsMachine(RuleBasedStateMachine):
    api: ClassVar[Api]

    def __init__(self) -> None:
        super().__init__()
        self.users = {name: self.api.sign_up() for name in USERS}
        self.lists: dict[int, ModelList] = {}
        self.tasks: dict[int, ModelTask] = {}
        # Every id this example has seen, deleted ones included: what a step may name.
        self.list_ids: set[int] = set()
        self.task_ids: set[int] = set()
        self.checks = 0
        for name in USERS:
            self.learn_inbox(name)

    # the model's questions

    def uid(self, name: str) -> int:
        return self.users[name].id

    def role(self, user_id: int, list_id: int) -> str | None:
        """The user's role on the list; None when it is not theirs to see (or gone)."""
        found = self.lists.get(list_id)
        return None if found is None else found.members.get(user_id)

    def refusal(self, user_id: int, list_id: int, needed: str) -> Refusal | None:
        """404 for a list the user cannot see, 403 for one where their role is too small."""
        role = self.role(user_id, list_id)
        if role is None:
            return NOT_FOUND
        return None if allows(role, needed) else FORBIDDEN

    def is_own_inbox(self, user_id: int, list_id: int) -> bool:
        found = self.lists.get(list_id)
        return found is not None and found.is_inbox and found.owner_id == user_id

    def inbox(self, user_id: int) -> int:
        (found,) = [item.id for item in self.lists.values() if item.is_inbox and item.owner_id == user_id]
        return found

    def can_be_assigned(self, assignee_id: int | None, list_id: int) -> bool:
        return assignee_id is None or allows(self.role(assignee_id, list_id), "editor")

    def list_of(self, task_id: int) -> int | None:
        task = self.tasks.get(task_id)
        return None if task is None else task.fields.list_id

    def visible_lists(self, user_id: int) -> list[ModelList]:
        return [item for item in self.lists.values() if user_id in item.members]

    def visible_tasks(self, user_id: int) -> list[ModelTask]:
        return [task for task in self.tasks.values() if self.role(user_id, task.fields.list_id) is not None]

    # drawing what a step acts on

    def pick(self, data: st.DataObject, pools: Sequence[tuple[int, Iterable[int]]], label: str) -> int:
        """An id from one of the `(weight, ids)` pools, each chosen `weight` times as often as a pool of
        weight 1 among those that are not empty; shrinking goes to the first pool, and its newest id."""
        choices = [index for index, (weight, ids) in enumerate(pools) if ids for _ in range(weight)]
        chosen = data.draw(st.sampled_from(choices), label=f"{label}: pool")
        return data.draw(st.sampled_from(sorted(pools[chosen][1], reverse=True)), label=label)

    def pick_list(self, data: st.DataObject, actor: str) -> int:
        """A list as the actor would name it: mostly one they can see that is not an inbox, else their
        inbox, or one they cannot see (another user's, or deleted)."""
        visible = self.visible_lists(self.uid(actor))
        shared = [item.id for item in visible if not item.is_inbox]
        inbox = [item.id for item in visible if item.is_inbox]
        other = self.list_ids - {item.id for item in visible}
        return self.pick(data, [(4, shared), (2, inbox), (1, other)], "list id")

    def pick_any_list(self, data: st.DataObject) -> int:
        """Any list of the example: mostly one that is not an inbox, else an inbox, or a deleted list."""
        shared = [item.id for item in self.lists.values() if not item.is_inbox]
        inboxes = [item.id for item in self.lists.values() if item.is_inbox]
        return self.pick(data, [(4, shared), (1, inboxes), (1, self.list_ids - set(self.lists))], "list id")

    def pick_any_task(self, data: st.DataObject) -> int:
        """Any task of the example: mostly one in a list that is not an inbox, else in an inbox, or a
        deleted one (by itself or with its list)."""
        shared = [task.id for task in self.tasks.values() if not self.lists[task.fields.list_id].is_inbox]
        inboxes = [task.id for task in self.tasks.values() if self.lists[task.fields.list_id].is_inbox]
        return self.pick(data, [(4, shared), (2, inboxes), (1, self.task_ids - set(self.tasks))], "task id")

    def pick_actor(self, data: st.DataObject, list_id: int | None, needed: str) -> str:
        """Who acts on the list: mostly a member whose role allows `needed`, else a member whose role
        does not, or any user (who may be no member: a 404)."""
        roles = {} if list_id not in self.lists else self.lists[list_id].members
        able = [user_id for user_id, role in roles.items() if allows(role, needed)]
        unable = [user_id for user_id, role in roles.items() if not allows(role, needed)]
        everyone = [self.uid(name) for name in USERS]
        user_id = self.pick(data, [(3, able), (1, unable), (1, everyone)], f"actor ({needed} needed)")
        return next(name for name in USERS if self.uid(name) == user_id)

    def pick_member(self, data: st.DataObject, list_id: int, label: str) -> int:
        """Whom a member route names: mostly a member who is not the owner, an assignee of one of the
        list's tasks first; else any user (the owner, or no member)."""
        roles = {} if list_id not in self.lists else self.lists[list_id].members
        members = [user_id for user_id, role in roles.items() if role != "owner"]
        assigned = {task.fields.assignee_id for task in self.tasks.values() if task.fields.list_id == list_id}
        assignees = [user_id for user_id in members if user_id in assigned]
        everyone = [self.uid(name) for name in USERS]
        return self.pick(data, [(2, assignees), (2, members), (1, everyone)], label)

    def pick_assignee(self, data: st.DataObject, list_id: int | None) -> int:
        """Mostly a member of the list with the editor role or more, else any user."""
        roles = {} if list_id not in self.lists else self.lists[list_id].members
        editors = [user_id for user_id, role in roles.items() if allows(role, "editor")]
        return self.pick(data, [(3, editors), (1, [self.uid(name) for name in USERS])], "assignee")

    def placement(self, data: st.DataObject, actor: str, list_id: int | None, *, patch: bool) -> Body:
        """Maybe a `list_id` (null: the default, or a 422 in a PATCH) and maybe an `assignee_id` (mostly
        an editor of the list the task goes to: `list_id` unless one is drawn)."""
        body: Body = {}
        ways = ["omit"] * 5 + ["list"] * 2 + ["null"] * (1 if patch else 2)
        where = data.draw(st.sampled_from(ways), label="list_id")
        if where == "list":
            body["list_id"] = self.pick_list(data, actor)
        elif where == "null":
            body["list_id"] = None
        who = data.draw(st.sampled_from(["omit", "omit", "null", "user"]), label="assignee_id")
        if who == "user":
            goes_to = body.get("list_id") or list_id
            body["assignee_id"] = self.pick_assignee(data, goes_to)
        elif who == "null":
            body["assignee_id"] = None
        return body

    # requests, each checked against the model

    def request(
        self,
        method: str,
        path: str,
        actor: str,
        *,
        json: Body | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        return self.api.request(method, path, self.users[actor], json=json, params=params)

    def walk(self, actor: str, path: str, params: Mapping[str, str | int], total: int) -> list[Any]:
        """Every item of every page of a listing the model says has `total` items, pages checked."""
        limit = int(params.get("limit", 20))
        items: list[Any] = []
        skip = 0
        while True:
            response = self.request("GET", path, actor, params={**params, "skip": skip})
            assert response.status_code == 200, response.text
            page = response.json()
            check_page(page, total, skip, limit)
            assert len(page["items"]) == min(limit, max(total - skip, 0))
            items.extend(page["items"])
            skip += limit
            if skip >= total:
                return items

    def learn_inbox(self, name: str) -> None:
        """The inbox a new account comes with: the only list it sees, owned, named Inbox."""
        user = self.users[name]
        (item,) = self.walk(name, "/lists", {"limit": LISTING_LIMIT}, 1)
        view, updated_at = read_list(item)
        assert (view.name, view.description, view.is_inbox, view.owner_id, view.role) == (
            INBOX_NAME,
            None,
            True,
            user.id,
            "owner",
        )
        inbox = ModelList(
            id=view.id,
            name=view.name,
            description=None,
            is_inbox=True,
            owner_id=user.id,
            members={user.id: "owner"},
            created_at=view.created_at,
            updated_at=updated_at,
        )
        assert inbox.id not in self.list_ids
        self.lists[inbox.id] = inbox
        self.list_ids.add(inbox.id)

    def adopt_list(self, model: ModelList, body: Mapping[str, Any], actor_id: int, *, changed: bool) -> None:
        """A list a write answered: the model's, as the actor sees it, its `updated_at` moved or not."""
        view, updated_at = read_list(body)
        assert view == model.view(actor_id), (view, model)
        if changed:
            assert updated_at > model.updated_at, "updated_at must move on every change"
        elif model.updated_at_exact:
            assert updated_at == model.updated_at, "a write that changes nothing leaves updated_at"
        else:
            assert updated_at >= model.updated_at
        model.updated_at = updated_at
        model.updated_at_exact = True

    def do_create_list(self, actor: str, name: str | None, description: str | None) -> int | None:
        """POST /lists; the new list's id."""
        body: Body = {"name": name} if description is None else {"name": name, "description": description}
        response = self.request("POST", "/lists", actor, json=body)
        if not name_is_valid(name):
            check_refused(response, INVALID)
            return None
        assert isinstance(name, str)
        assert response.status_code == 201, response.text
        view, updated_at = read_list(response.json())
        assert response.headers["location"] == f"/lists/{view.id}"
        assert view.id not in self.list_ids, "a new list never takes an id seen before"
        actor_id = self.uid(actor)
        model = ModelList(
            id=view.id,
            name=name.strip(),
            description=description,
            is_inbox=False,
            owner_id=actor_id,
            members={actor_id: "owner"},
            created_at=view.created_at,
            updated_at=updated_at,
        )
        assert view == model.view(actor_id)
        assert updated_at == view.created_at
        self.lists[model.id] = model
        self.list_ids.add(model.id)
        return model.id

    def do_add_member(self, actor: str, list_id: int, target: str | None, login: str, role: str) -> None:
        """`target` None: a username or e-mail that nobody has."""
        actor_id = self.uid(actor)
        user = UNKNOWN_LOGIN if target is None else LOGINS[login](self.users[target])
        if target is None and "mail" in login:
            user = f"{UNKNOWN_LOGIN}@example.com"
        target_id = None if target is None else self.uid(target)
        refusal = (
            INBOX_PROTECTED
            if self.is_own_inbox(actor_id, list_id)
            else INVALID
            if role not in GIVEN_ROLES
            else self.refusal(actor_id, list_id, "admin")
            or (USER_NOT_FOUND if target_id is None else None)
            or (ALREADY_MEMBER if self.role(target_id or 0, list_id) is not None else None)
        )
        response = self.request("POST", f"/lists/{list_id}/members", actor, json={"user": user, "role": role})
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert target is not None
        assert target_id is not None
        assert response.status_code == 201, response.text
        member = response.json()
        assert (member["user_id"], member["username"], member["role"]) == (
            target_id,
            self.users[target].username,
            role,
        )
        utc_timestamp(member["added_at"])
        model = self.lists[list_id]
        model.members[target_id] = role
        model.updated_at_exact = False

    def do_create_task(self, actor: str, body: Body) -> None:
        actor_id = self.uid(actor)
        list_id = body.get("list_id") or self.inbox(actor_id)
        assignee_id = body.get("assignee_id")
        refusal = (
            self.refusal(actor_id, list_id, "editor")
            or (None if self.can_be_assigned(assignee_id, list_id) else BAD_ASSIGNEE)
            if task_body_is_valid("POST", body)
            else INVALID
        )
        response = self.request("POST", "/tasks", actor, json=encode(body))
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert response.status_code == 201, response.text
        fields = expected_fields("POST", None, body, list_id)
        task = check_written(response.json(), actor_id, None, fields)
        assert response.headers["location"] == f"/tasks/{task.id}"
        assert task.id not in self.task_ids, "a new task never takes an id seen before"
        self.tasks[task.id] = task
        self.task_ids.add(task.id)

    def do_write_task(self, actor: str, task_id: int, method: str, body: Body) -> None:
        """PUT or PATCH a task; the model says what must come of it."""
        actor_id = self.uid(actor)
        before = self.tasks.get(task_id)
        refusal: Refusal | None = None
        fields: Fields | None = None
        if not task_body_is_valid(method, body):
            refusal = INVALID
        elif before is None:
            refusal = NOT_FOUND
        else:
            refusal = self.refusal(actor_id, before.fields.list_id, "editor")
        if refusal is None:
            assert before is not None
            fields = expected_fields(
                method, before.fields, body, body.get("list_id") or before.fields.list_id
            )
            moved = fields.list_id != before.fields.list_id
            if moved:
                refusal = self.refusal(actor_id, fields.list_id, "editor")
            if refusal is None and (moved or fields.assignee_id != before.fields.assignee_id):
                refusal = None if self.can_be_assigned(fields.assignee_id, fields.list_id) else BAD_ASSIGNEE
        response = self.request(method, f"/tasks/{task_id}", actor, json=encode(body))
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert before is not None
        assert fields is not None
        assert response.status_code == 200, response.text
        self.tasks[task_id] = check_written(response.json(), before.created_by, before, fields)

    def unassigned(self, list_id: int, user_id: int) -> None:
        """After `user_id` left the list or was removed: its tasks assigned to them are unassigned, a
        change of each (read back by the owner, who is always there)."""
        model = self.lists[list_id]
        owner = next(name for name in USERS if self.uid(name) == model.owner_id)
        for before in [task for task in self.tasks.values() if task.fields.list_id == list_id]:
            if before.fields.assignee_id != user_id:
                continue
            response = self.request("GET", f"/tasks/{before.id}", owner)
            assert response.status_code == 200, response.text
            after = read_task(response.json())
            assert after.fields == dataclasses.replace(before.fields, assignee_id=None)
            assert (after.created_by, after.created_at, after.completed_at) == (
                before.created_by,
                before.created_at,
                before.completed_at,
            )
            assert after.updated_at != before.updated_at, "unassigning is a change: updated_at moves"
            self.tasks[before.id] = after

    # rules

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        """A few tasks in each inbox; one list that its owner shares at random, with a few tasks."""
        for name in USERS:
            for body in data.draw(st.lists(full_bodies, max_size=3), label=f"{name}'s inbox"):
                self.do_create_task(name, body)
        owner = data.draw(st.sampled_from(USERS), label="owner of the shared list")
        list_id = self.do_create_list(owner, "Shared", None)
        assert list_id is not None
        for name in USERS:
            role = data.draw(st.sampled_from([None, *GIVEN_ROLES]), label=f"{name}'s role")
            if name != owner and role is not None:
                self.do_add_member(owner, list_id, name, "username", role)
        for body in data.draw(st.lists(full_bodies, max_size=4), label="shared tasks"):
            actor = data.draw(st.sampled_from(USERS), label="creator")
            assignee = data.draw(st.sampled_from([None, *USERS]), label="assignee")
            extra = {} if assignee is None else {"assignee_id": self.uid(assignee)}
            self.do_create_task(actor, {**body, "list_id": list_id, **extra})

    @rule(actor=st.sampled_from(USERS), name=list_names, description=descriptions)
    def create_list(self, actor: str, name: str | None, description: str | None) -> None:
        self.do_create_list(actor, name, description)

    @rule(data=st.data(), body=list_patches)
    def rename_list(self, data: st.DataObject, body: Body) -> None:
        """PATCH /lists/{id} (admin); an inbox may be renamed."""
        list_id = self.pick_any_list(data)
        actor = self.pick_actor(data, list_id, "admin")
        actor_id = self.uid(actor)
        valid = "name" not in body or name_is_valid(body["name"])
        refusal = self.refusal(actor_id, list_id, "admin") if valid else INVALID
        response = self.request("PATCH", f"/lists/{list_id}", actor, json=body)
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert response.status_code == 200, response.text
        model = self.lists[list_id]
        before = (model.name, model.description)
        if "name" in body:
            model.name = body["name"].strip()
        if "description" in body:
            model.description = body["description"]
        self.adopt_list(model, response.json(), actor_id, changed=(model.name, model.description) != before)

    @rule(data=st.data())
    def read_list(self, data: st.DataObject) -> None:
        """GET a list and its members: the owner first, then by username (viewer)."""
        list_id = self.pick_any_list(data)
        actor = self.pick_actor(data, list_id, "viewer")
        actor_id = self.uid(actor)
        refusal = self.refusal(actor_id, list_id, "viewer")
        got = self.request("GET", f"/lists/{list_id}", actor)
        members = self.request("GET", f"/lists/{list_id}/members", actor)
        if refusal is not None:
            check_refused(got, refusal)
            check_refused(members, refusal)
            return
        assert got.status_code == 200, got.text
        model = self.lists[list_id]
        view, _ = read_list(got.json())
        assert view == model.view(actor_id)
        assert members.status_code == 200, members.text
        names = {self.uid(name): self.users[name].username for name in USERS}
        expected = sorted(
            model.members.items(), key=lambda item: (item[1] != "owner", names[item[0]].lower())
        )
        items = members.json()["items"]
        assert [(item["user_id"], item["username"], item["role"]) for item in items] == [
            (user_id, names[user_id], role) for user_id, role in expected
        ]
        for item in items:
            utc_timestamp(item["added_at"])

    @rule(
        data=st.data(),
        login=st.sampled_from(sorted(LOGINS)),
        role=st.sampled_from([*GIVEN_ROLES, *GIVEN_ROLES, "owner"]),
        unknown=st.integers(0, 7).map(lambda n: n == 7),
    )
    def add_member(self, data: st.DataObject, login: str, role: str, unknown: bool) -> None:
        """POST a member (admin), named by username or e-mail: mostly one who is not there yet;
        `unknown`: a name nobody has."""
        list_id = self.pick_any_list(data)
        actor = self.pick_actor(data, list_id, "admin")
        user: str | None = None
        if not unknown:
            roles = {} if list_id not in self.lists else self.lists[list_id].members
            everyone = [self.uid(name) for name in USERS]
            strangers = [user_id for user_id in everyone if user_id not in roles]
            user_id = self.pick(data, [(3, strangers), (1, everyone)], "new member")
            user = next(name for name in USERS if self.uid(name) == user_id)
        self.do_add_member(actor, list_id, user, login, role)

    @rule(data=st.data(), role=st.sampled_from([*GIVEN_ROLES, "owner"]))
    def change_role(self, data: st.DataObject, role: str) -> None:
        """PATCH a member's role (admin): not the owner's, and only a member's."""
        list_id = self.pick_any_list(data)
        actor = self.pick_actor(data, list_id, "admin")
        target_id = self.pick_member(data, list_id, "member")
        actor_id = self.uid(actor)
        target_role = self.role(target_id, list_id)
        refusal = (
            INVALID
            if role not in GIVEN_ROLES
            else self.refusal(actor_id, list_id, "admin")
            or (NOT_FOUND if target_role is None else None)
            or (OWNER_PROTECTED if target_role == "owner" else None)
        )
        response = self.request("PATCH", f"/lists/{list_id}/members/{target_id}", actor, json={"role": role})
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert response.status_code == 200, response.text
        member = response.json()
        assert (member["user_id"], member["role"]) == (target_id, role)
        model = self.lists[list_id]
        model.members[target_id] = role  # an assignee demoted to viewer stays assigned
        model.updated_at_exact = False

    @rule(data=st.data(), leave=st.booleans())
    def remove_member(self, data: st.DataObject, leave: bool) -> None:
        """DELETE a member (admin), or yourself (`leave`); never the owner; their tasks unassigned."""
        list_id = self.pick_any_list(data)
        actor = self.pick_actor(data, list_id, "viewer" if leave else "admin")
        actor_id = self.uid(actor)
        target_id = actor_id if leave else self.pick_member(data, list_id, "member")
        leaving = target_id == actor_id
        target_role = self.role(target_id, list_id)
        refusal = (
            self.refusal(actor_id, list_id, "viewer" if leaving else "admin")
            or (NOT_FOUND if target_role is None else None)
            or (OWNER_PROTECTED if target_role == "owner" else None)
        )
        response = self.request("DELETE", f"/lists/{list_id}/members/{target_id}", actor)
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert response.status_code == 204, response.text
        assert response.content == b""
        model = self.lists[list_id]
        del model.members[target_id]
        model.updated_at_exact = False
        self.unassigned(list_id, target_id)

    @rule(data=st.data(), invalid=st.integers(0, 7).map(lambda n: n == 7))
    def transfer(self, data: st.DataObject, invalid: bool) -> None:
        """POST /lists/{id}/transfer (owner): to a member; to yourself a no-op; the old owner is admin.
        `invalid`: a `user_id` of 0, a 422, unless the list is the actor's inbox."""
        list_id = self.pick_any_list(data)
        actor = self.pick_actor(data, list_id, "owner")
        target_id = 0 if invalid else self.pick_member(data, list_id, "new owner")
        actor_id = self.uid(actor)
        refusal = (
            INBOX_PROTECTED
            if self.is_own_inbox(actor_id, list_id)
            else NOT_A_MEMBER
            if invalid
            else self.refusal(actor_id, list_id, "owner")
            or (NOT_A_MEMBER if self.role(target_id, list_id) is None else None)
        )
        response = self.request("POST", f"/lists/{list_id}/transfer", actor, json={"user_id": target_id})
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert response.status_code == 200, response.text
        model = self.lists[list_id]
        changed = target_id != actor_id
        if changed:
            model.members[actor_id] = "admin"
            model.members[target_id] = "owner"
            model.owner_id = target_id
        self.adopt_list(model, response.json(), actor_id, changed=changed)

    @rule(data=st.data())
    def delete_list(self, data: st.DataObject) -> None:
        """DELETE /lists/{id} (owner): its tasks go with it."""
        list_id = self.pick_any_list(data)
        actor = self.pick_actor(data, list_id, "owner")
        actor_id = self.uid(actor)
        refusal = (
            INBOX_PROTECTED
            if self.is_own_inbox(actor_id, list_id)
            else self.refusal(actor_id, list_id, "owner")
        )
        response = self.request("DELETE", f"/lists/{list_id}", actor)
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert response.status_code == 204, response.text
        del self.lists[list_id]
        self.tasks = {key: task for key, task in self.tasks.items() if task.fields.list_id != list_id}

    @rule(data=st.data(), actor=st.sampled_from(USERS), body=full_bodies)
    def create_task(self, data: st.DataObject, actor: str, body: Body) -> None:
        """POST /tasks: into the actor's inbox, or a list they name (editor)."""
        inbox = self.inbox(self.uid(actor))
        self.do_create_task(actor, {**body, **self.placement(data, actor, inbox, patch=False)})

    @precondition(lambda self: self.task_ids)
    @rule(data=st.data(), body=full_bodies)
    def replace(self, data: st.DataObject, body: Body) -> None:
        task_id = self.pick_any_task(data)
        actor = self.pick_actor(data, self.list_of(task_id), "editor")
        placement = self.placement(data, actor, self.list_of(task_id), patch=False)
        self.do_write_task(actor, task_id, "PUT", {**body, **placement})

    @precondition(lambda self: self.task_ids)
    @rule(data=st.data(), body=patch_bodies)
    def patch(self, data: st.DataObject, body: Body) -> None:
        task_id = self.pick_any_task(data)
        actor = self.pick_actor(data, self.list_of(task_id), "editor")
        placement = self.placement(data, actor, self.list_of(task_id), patch=True)
        self.do_write_task(actor, task_id, "PATCH", {**body, **placement})

    @precondition(lambda self: self.task_ids)
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        """PATCH only `list_id`: editor on both lists, and the assignee an editor on the new one."""
        task_id = self.pick_any_task(data)
        actor = self.pick_actor(data, self.list_of(task_id), "editor")
        self.do_write_task(actor, task_id, "PATCH", {"list_id": self.pick_list(data, actor)})

    @precondition(lambda self: self.task_ids)
    @rule(data=st.data(), unassign=st.integers(0, 3).map(lambda n: n == 3))
    def assign(self, data: st.DataObject, unassign: bool) -> None:
        """PATCH only `assignee_id`: null, or a member of the task's list with the editor role or more."""
        task_id = self.pick_any_task(data)
        actor = self.pick_actor(data, self.list_of(task_id), "editor")
        assignee_id = None if unassign else self.pick_assignee(data, self.list_of(task_id))
        self.do_write_task(actor, task_id, "PATCH", {"assignee_id": assignee_id})

    @precondition(lambda self: self.task_ids)
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        task_id = self.pick_any_task(data)
        actor = self.pick_actor(data, self.list_of(task_id), "editor")
        before = self.tasks.get(task_id)
        refusal = (
            NOT_FOUND if before is None else self.refusal(self.uid(actor), before.fields.list_id, "editor")
        )
        response = self.request("POST", f"/tasks/{task_id}/complete", actor)
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert before is not None
        assert response.status_code == 200, response.text
        fields = dataclasses.replace(before.fields, status="completed")
        self.tasks[task_id] = check_written(response.json(), before.created_by, before, fields)

    @precondition(lambda self: self.task_ids)
    @rule(data=st.data())
    def delete_task(self, data: st.DataObject) -> None:
        task_id = self.pick_any_task(data)
        actor = self.pick_actor(data, self.list_of(task_id), "editor")
        before = self.tasks.get(task_id)
        refusal = (
            NOT_FOUND if before is None else self.refusal(self.uid(actor), before.fields.list_id, "editor")
        )
        response = self.request("DELETE", f"/tasks/{task_id}", actor)
        if refusal is not None:
            check_refused(response, refusal)
            return
        assert response.status_code == 204, response.text
        assert response.content == b""
        del self.tasks[task_id]

    @rule(
        data=st.data(),
        actor=st.sampled_from(USERS),
        status_filter=sometimes(st.sampled_from(STATUSES), 3),
        priority=sometimes(st.sampled_from(PRIORITIES), 3),
        q=sometimes(st.text(SEARCH_CHARS, min_size=1, max_size=3), 4),
        sort=st.sampled_from((None, *SORT_KEYS)),
        limit=st.integers(1, 8),
    )
    def list_filtered(
        self,
        data: st.DataObject,
        actor: str,
        status_filter: str | None,
        priority: str | None,
        q: str | None,
        sort: str | None,
        limit: int,
    ) -> None:
        """Walk every page of a filtered, sorted listing; a list the actor cannot see is a 404."""
        in_list = data.draw(st.sampled_from([False, False, True]), label="filter on a list")
        list_id = self.pick_list(data, actor) if in_list else None
        on_assignee = data.draw(st.sampled_from([False, False, True]), label="filter on an assignee")
        assignee_id = self.pick_assignee(data, list_id) if on_assignee else None
        query = TaskQuery(status_filter, priority, q, list_id, assignee_id, sort, limit)
        if list_id is not None and self.role(self.uid(actor), list_id) is None:
            check_refused(self.request("GET", "/tasks", actor, params=query.params()), NOT_FOUND)
            return
        self.check_tasks(actor, query)

    # after every step

    def check_tasks(self, actor: str, query: TaskQuery) -> None:
        chosen = [task for task in self.visible_tasks(self.uid(actor)) if query.matches(task)]
        expected = ordered(chosen, query.sort or DEFAULT_SORT)
        items = self.walk(actor, "/tasks", query.params(), len(expected))
        assert [item["id"] for item in items] == [task.id for task in expected]
        assert [read_task(item) for item in items] == expected

    def check_lists(self, actor: str, sort: str | None, limit: int) -> None:
        actor_id = self.uid(actor)
        expected = ordered_lists(self.visible_lists(actor_id), sort or DEFAULT_LIST_SORT)
        params: dict[str, str | int] = {"limit": limit} if sort is None else {"limit": limit, "sort": sort}
        items = self.walk(actor, "/lists", params, len(expected))
        assert [item["id"] for item in items] == [model.id for model in expected]
        for item, model in zip(items, expected, strict=True):
            view, updated_at = read_list(item)
            assert view == model.view(actor_id), (view, model)
            if model.updated_at_exact:
                assert updated_at == model.updated_at, "nothing changed the list since"
            else:
                assert updated_at >= model.updated_at, "updated_at never goes back"
                model.updated_at = updated_at
                model.updated_at_exact = True

    def probe_invisible(self, actor: str, rng: random.Random) -> None:
        """One id the actor cannot see (another user's or a deleted list or task): a 404."""
        actor_id = self.uid(actor)
        lists = sorted(self.list_ids - {item.id for item in self.visible_lists(actor_id)})
        tasks = sorted(self.task_ids - {task.id for task in self.visible_tasks(actor_id)})
        probes: list[tuple[str, str, dict[str, str | int]]] = []
        for list_id in lists:
            probes += [
                ("GET", f"/lists/{list_id}", {}),
                ("GET", f"/lists/{list_id}/members", {}),
                ("GET", "/tasks", {"list_id": list_id}),
            ]
        probes += [("GET", f"/tasks/{task_id}", {}) for task_id in tasks]
        method, path, params = rng.choice(probes)
        check_refused(self.request(method, path, actor, params=params), NOT_FOUND)

    @invariant()
    def everyone_sees_the_model(self) -> None:
        """Each user's lists and tasks are the model's; the sorts and filters are drawn from a generator
        seeded by the check's number, so a failing example replays."""
        rng = random.Random(self.checks)  # noqa: S311 (no secret: a replayable choice of queries)
        self.checks += 1
        for index, actor in enumerate(USERS):
            small = rng.random() < 0.25
            self.check_lists(
                actor,
                LIST_SORTS[(self.checks + index) % len(LIST_SORTS)],
                rng.randint(1, 3) if small else LISTING_LIMIT,
            )
            own_lists = sorted(item.id for item in self.visible_lists(self.uid(actor)))
            query = TaskQuery(
                status_filter=rng.choice((None, None, None, *STATUSES)),
                priority=rng.choice((None, None, None, *PRIORITIES)),
                list_id=rng.choice([None, None, *own_lists]),
                assignee_id=rng.choice([None, None, None, *(self.uid(name) for name in USERS)]),
                sort=rng.choice((None, *SORT_KEYS)),
                limit=rng.randint(2, 6) if rng.random() < 0.25 else LISTING_LIMIT,
            )
            self.check_tasks(actor, query)
        self.probe_invisible(USERS[self.checks % len(USERS)], rng)


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


def test_three_users_against_a_model(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        postgres_admin_url()  # skips here, outside the event loop, when no server is configured
    # Our own loop, not installed as the current one: pytest-asyncio's session loop stays untouched.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        resources = AsyncExitStack()
        try:
            client = runner.run(resources.enter_async_context(serving(backend, tmp_path)))

            class Machine(ListsMachine):
                api = Api(runner, client)

            run_state_machine_as_test(Machine, settings=MACHINE_SETTINGS)
        finally:
            runner.run(resources.aclose())
