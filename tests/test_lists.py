"""Lists, members, inboxes, ownership, and what they do to tasks (shared/API.md: "Lists and sharing",
the list-related parts of "Tasks", account deletion in "Sessions", lists in "Safe retries").

Who may call which route is in test_roles.py; this file holds every other rule.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task
from tests.list_factories import (
    LIST_FIELDS,
    MEMBER_FIELDS,
    PAGE_FIELDS,
    SharedList,
    add_member,
    all_lists,
    all_tasks,
    assert_error,
    create_list,
    inbox_of,
    members_of,
    roles_of,
    shared_list,
    without_request_id,
)

STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]*"')


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def get_list(client: httpx.AsyncClient, user: SignedInUser, list_id: int) -> httpx.Response:
    return await client.get(f"/lists/{list_id}", headers=user.headers)


async def get_task(client: httpx.AsyncClient, user: SignedInUser, task_id: int) -> httpx.Response:
    return await client.get(f"/tasks/{task_id}", headers=user.headers)


def assert_field_error(response: httpx.Response, loc: list[str]) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error", response.text
    locs = [error["loc"] for error in response.json()["detail"]]
    assert locs, response.text
    assert all(found[: len(loc)] == loc for found in locs), response.text


# --- Creating and changing a list ------------------------------------------------------------------


async def test_a_new_list_is_201_with_location_etag_and_the_list(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()

    response = await client.post(
        "/lists", json={"name": "  Groceries \n", "description": "for the week"}, headers=alice.headers
    )

    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == LIST_FIELDS
    assert created["name"] == "Groceries"
    assert created["description"] == "for the week"
    assert created["is_inbox"] is False
    assert created["owner_id"] == alice.id
    assert created["role"] == "owner"
    assert response.headers["Location"] == f"/lists/{created['id']}"
    etag = response.headers["ETag"]
    assert STRONG_ETAG.fullmatch(etag), "a strong ETag, not W/"
    fetched = await client.get(response.headers["Location"], headers=alice.headers)
    assert fetched.json() == created
    assert fetched.headers["ETag"] == etag
    assert [member["user_id"] for member in await members_of(client, alice, created["id"])] == [alice.id]


async def test_a_list_without_description_has_null(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    assert (await create_list(client, alice, "Plain"))["description"] is None
    assert (await create_list(client, alice, "Plain", description=None))["description"] is None


async def test_name_and_description_limits(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    cases: list[tuple[dict[str, Any], str | None]] = [  # (body, the name stored; None: a 422)
        ({"name": "a"}, "a"),
        ({"name": "n" * 100}, "n" * 100),
        ({"name": "  " + "n" * 100 + "  "}, "n" * 100),
        ({"name": "\tTrimmed\n"}, "Trimmed"),
        ({"name": "n" * 101}, None),
        ({"name": ""}, None),
        ({"name": " \t\n "}, None),
        ({"name": None}, None),
        ({"name": 7}, None),
        ({}, None),
        ({"name": "Ok", "description": "d" * 2000}, "Ok"),
        ({"name": "Ok", "description": "d" * 2001}, None),
    ]

    for body, stored_name in cases:
        response = await client.post("/lists", json=body, headers=alice.headers)
        if stored_name is None:
            assert response.status_code == 422, (body, response.text)
            assert response.json()["code"] == "validation_error"
            assert isinstance(response.json()["detail"], list)
        else:
            assert response.status_code == 201, (body, response.text)
            assert response.json()["name"] == stored_name

    lists = await all_lists(client, alice)
    assert len(lists) == 1 + sum(1 for _, stored_name in cases if stored_name is not None)


READ_ONLY_OR_UNKNOWN: list[dict[str, Any]] = [
    {"id": 99},
    {"owner_id": 1},
    {"is_inbox": True},
    {"is_inbox": False},
    {"role": "owner"},
    {"created_at": "2030-01-01T00:00:00Z"},
    {"updated_at": "2030-01-01T00:00:00Z"},
    {"colour": "red"},
]


async def test_read_only_and_unknown_fields_are_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    created = await create_list(client, alice, "Groceries")

    for extra in READ_ONLY_OR_UNKNOWN:
        field = next(iter(extra))
        posted = await client.post("/lists", json={"name": "Other", **extra}, headers=alice.headers)
        patched = await client.patch(
            f"/lists/{created['id']}", json={"name": "Food", **extra}, headers=alice.headers
        )
        assert_field_error(posted, ["body", field])
        assert_field_error(patched, ["body", field])

    assert [item["id"] for item in await all_lists(client, alice) if not item["is_inbox"]] == [created["id"]]
    assert (await get_list(client, alice, created["id"])).json() == created


async def test_patch_changes_only_what_is_sent(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    created = await create_list(client, alice, "Groceries", description="weekly")

    renamed = await client.patch(f"/lists/{created['id']}", json={"name": "  Food "}, headers=alice.headers)
    cleared = await client.patch(f"/lists/{created['id']}", json={"description": None}, headers=alice.headers)
    null_name = await client.patch(f"/lists/{created['id']}", json={"name": None}, headers=alice.headers)
    long_name = await client.patch(f"/lists/{created['id']}", json={"name": "n" * 101}, headers=alice.headers)

    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Food", "weekly")
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["name"], cleared.json()["description"]) == ("Food", None)
    assert_field_error(null_name, ["body", "name"])
    assert_field_error(long_name, ["body", "name"])
    final = (await get_list(client, alice, created["id"])).json()
    assert final == cleared.json()
    assert instant(final["updated_at"]) > instant(created["updated_at"])
    assert final["created_at"] == created["created_at"]


# --- GET /lists: pages and order -------------------------------------------------------------------


async def test_get_lists_pages_like_get_tasks(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    for n in range(6):
        await create_list(client, alice, f"List {n}")

    first = await client.get("/lists", headers=alice.headers)
    last = await client.get("/lists", params={"skip": 4, "limit": 3}, headers=alice.headers)
    beyond = await client.get("/lists", params={"skip": 50, "limit": 3}, headers=alice.headers)

    assert first.status_code == 200
    assert set(first.json()) == PAGE_FIELDS
    assert {key: value for key, value in first.json().items() if key != "items"} == {
        "total": 7,
        "skip": 0,
        "limit": 20,
        "page": 1,
        "page_size": 20,
        "pages": 1,
    }
    assert len(first.json()["items"]) == 7
    assert all(set(item) == LIST_FIELDS for item in first.json()["items"])
    assert {key: value for key, value in last.json().items() if key != "items"} == {
        "total": 7,
        "skip": 4,
        "limit": 3,
        "page": 2,
        "page_size": 3,
        "pages": 3,
    }
    assert last.json()["items"] == first.json()["items"][4:7]
    assert beyond.json()["items"] == []
    assert beyond.json()["total"] == 7
    assert first.headers["Cache-Control"] == "no-store"


async def test_lists_sort_by_creation_name_and_their_reverses(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    inbox = await inbox_of(client, alice)
    made = [inbox] + [
        await create_list(client, alice, name)
        for name in ("banana", "Apple", "cherry", "apple", "Date", "inbox")
    ]
    by_creation = [item["id"] for item in made]

    def by_name(descending: bool) -> list[int]:
        ordered = sorted(made, key=lambda item: (item["name"].lower(), item["id"]), reverse=descending)
        return [item["id"] for item in ordered]

    expected = {
        None: by_creation,
        "created_at": by_creation,
        "-created_at": by_creation[::-1],
        "name": by_name(descending=False),
        "-name": by_name(descending=True),
    }
    for sort, ids in expected.items():
        params = {} if sort is None else {"sort": sort}
        whole = await client.get("/lists", params=params, headers=alice.headers)
        walked = [item["id"] for item in await all_lists(client, alice, limit=2, **params)]
        assert [item["id"] for item in whole.json()["items"]] == ids, sort
        assert walked == ids, f"pages of {sort} overlap or skip"
    assert by_creation[0] == inbox["id"], "the inbox comes first by default"
    # "Apple" and "apple" tie up to case, as do "Inbox" and "inbox": the older one first.
    assert by_name(descending=False)[:2] == [made[2]["id"], made[4]["id"]]


async def test_bad_list_parameters_are_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    bad: list[dict[str, Any]] = [
        {"sort": "title"},
        {"sort": "-updated_at"},
        {"sort": "NAME"},
        {"sort": ""},
        {"limit": 0},
        {"limit": 101},
        {"skip": -1},
        {"limit": "ten"},
    ]

    for params in bad:
        response = await client.get("/lists", params=params, headers=alice.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["code"] == "validation_error"
        assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


async def test_get_lists_shows_exactly_your_lists_with_your_role(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    bobs = await create_list(client, shared.editor, "Editor's own")

    for role in ("owner", "admin", "editor", "viewer", "outsider"):
        user = getattr(shared, role)
        lists = await all_lists(client, user)
        inbox = await inbox_of(client, user)
        expected = {inbox["id"]: "owner"}
        if role != "outsider":
            expected[shared.id] = role
        if role == "editor":
            expected[bobs["id"]] = "owner"
        assert {item["id"]: item["role"] for item in lists} == expected, role
        assert all(item["owner_id"] == shared.owner.id for item in lists if item["id"] == shared.id)


# --- Inboxes ----------------------------------------------------------------------------------------


async def test_every_new_user_has_exactly_one_inbox(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    bob = await users.create()

    for user in (alice, bob):
        page = (await client.get("/lists", headers=user.headers)).json()
        assert page["total"] == 1
        (inbox,) = page["items"]
        assert inbox["name"] == "Inbox"
        assert inbox["is_inbox"] is True
        assert inbox["owner_id"] == user.id
        assert inbox["role"] == "owner"
        assert inbox["description"] is None
        assert [(m["user_id"], m["role"]) for m in await members_of(client, user, inbox["id"])] == [
            (user.id, "owner")
        ]
    assert (await inbox_of(client, alice))["id"] != (await inbox_of(client, bob))["id"]


async def test_a_task_without_list_id_goes_to_the_inbox(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    other = await create_list(client, alice, "Other")

    task = await create_task(client, alice)

    assert task["list_id"] == (await inbox_of(client, alice))["id"] != other["id"]
    assert task["created_by"] == alice.id


async def test_the_inbox_can_be_renamed_and_stays_the_inbox(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    inbox = await inbox_of(client, alice)

    response = await client.patch(
        f"/lists/{inbox['id']}", json={"name": "Unsorted", "description": "catch-all"}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Unsorted"
    assert response.json()["is_inbox"] is True
    assert (await inbox_of(client, alice))["name"] == "Unsorted"
    assert (await create_task(client, alice))["list_id"] == inbox["id"]


@pytest.fixture
async def alice_and_bob(users: UserFactory) -> tuple[SignedInUser, SignedInUser]:
    return await users.create(), await users.create()


def inbox_requests(alice: SignedInUser, bob: SignedInUser) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """(method, path below the inbox, request options): each one should be refused as an inbox
    request, whatever else is wrong with it."""
    stale = {"If-Match": '"1-0-owner"'}
    return {
        "delete": ("DELETE", "", {}),
        "delete, stale If-Match": ("DELETE", "", {"headers": stale}),
        "share": ("POST", "/members", {"json": {"user": bob.username, "role": "editor"}}),
        "share by e-mail": ("POST", "/members", {"json": {"user": bob.email, "role": "viewer"}}),
        "share with an unknown user": (
            "POST",
            "/members",
            {"json": {"user": "nobody-here", "role": "viewer"}},
        ),
        "share with yourself": ("POST", "/members", {"json": {"user": alice.username, "role": "viewer"}}),
        "share as owner": ("POST", "/members", {"json": {"user": bob.username, "role": "owner"}}),
        "share, no body fields": ("POST", "/members", {"json": {}}),
        "share, unknown field": (
            "POST",
            "/members",
            {"json": {"user": bob.username, "role": "viewer", "x": 1}},
        ),
        "share, malformed JSON": (
            "POST",
            "/members",
            {"content": b'{"user": ', "headers": {"Content-Type": "application/json"}},
        ),
        "transfer": ("POST", "/transfer", {"json": {"user_id": bob.id}}),
        "transfer to yourself": ("POST", "/transfer", {"json": {"user_id": alice.id}}),
        "transfer, stale If-Match": ("POST", "/transfer", {"json": {"user_id": bob.id}, "headers": stale}),
        "transfer, no body fields": ("POST", "/transfer", {"json": {}}),
        "transfer to a bad id": ("POST", "/transfer", {"json": {"user_id": "me"}}),
    }


INBOX_REQUESTS = [
    case
    for case in inbox_requests(SignedInUser(1, "a", "a@x.io", "", ""), SignedInUser(2, "b", "b@x.io", "", ""))
    if "malformed" not in case
]


async def test_an_undecodable_body_is_refused_before_the_inbox_guard(
    client: httpx.AsyncClient, alice_and_bob: tuple[SignedInUser, SignedInUser]
) -> None:
    """Our documented exception (README): FastAPI refuses a body that is not JSON before any
    dependency runs, so it is a 422 json_invalid, here as on every route; nothing changes."""
    alice, bob = alice_and_bob
    inbox = await inbox_of(client, alice)
    method, suffix, options = inbox_requests(alice, bob)["share, malformed JSON"]
    headers = {**alice.headers, **options.pop("headers", {})}
    response = await client.request(method, f"/lists/{inbox['id']}{suffix}", headers=headers, **options)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert roles_of(await members_of(client, alice, inbox["id"])) == {alice.id: "owner"}


@pytest.mark.parametrize("case", INBOX_REQUESTS)
async def test_an_inbox_cannot_be_deleted_shared_or_transferred(
    client: httpx.AsyncClient, alice_and_bob: tuple[SignedInUser, SignedInUser], case: str
) -> None:
    alice, bob = alice_and_bob
    inbox = await inbox_of(client, alice)
    task = await create_task(client, alice)
    before = await get_list(client, alice, inbox["id"])
    method, suffix, options = inbox_requests(alice, bob)[case]
    headers = {**alice.headers, **options.pop("headers", {})}

    response = await client.request(method, f"/lists/{inbox['id']}{suffix}", headers=headers, **options)

    assert_error(response, 409, "inbox_protected")
    assert isinstance(response.json()["detail"], str)
    after = await get_list(client, alice, inbox["id"])
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    assert roles_of(await members_of(client, alice, inbox["id"])) == {alice.id: "owner"}
    assert (await get_task(client, alice, task["id"])).json() == task
    assert [item["is_inbox"] for item in await all_lists(client, bob)] == [True]


async def test_someone_elses_inbox_is_404_not_409(
    client: httpx.AsyncClient, alice_and_bob: tuple[SignedInUser, SignedInUser]
) -> None:
    alice, bob = alice_and_bob
    inbox = await inbox_of(client, alice)

    for case, (method, suffix, options) in inbox_requests(bob, alice).items():
        if "malformed" in case:
            continue  # refused before anything is looked up, whoever asks
        headers = {**bob.headers, **options.pop("headers", {})}
        response = await client.request(method, f"/lists/{inbox['id']}{suffix}", headers=headers, **options)
        missing = await client.request(
            method, f"/lists/{inbox['id'] + 10_000}{suffix}", headers=headers, **options
        )
        # A body that is invalid whoever asks may be a 422, as long as it is the same 422 for a
        # list that does not exist: it reveals nothing.
        if response.status_code != 422:
            assert_error(response, 404, "not_found")
        assert without_request_id(response) == without_request_id(missing), case

    assert roles_of(await members_of(client, alice, inbox["id"])) == {alice.id: "owner"}
    assert [item["is_inbox"] for item in await all_lists(client, bob)] == [True]


async def test_the_inbox_owner_cannot_leave_or_be_demoted(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    inbox = await inbox_of(client, alice)

    leave = await client.delete(f"/lists/{inbox['id']}/members/{alice.id}", headers=alice.headers)
    demote = await client.patch(
        f"/lists/{inbox['id']}/members/{alice.id}", json={"role": "admin"}, headers=alice.headers
    )

    assert_error(leave, 409, "owner_protected")
    assert_error(demote, 409, "owner_protected")
    assert roles_of(await members_of(client, alice, inbox["id"])) == {alice.id: "owner"}


# --- Members ----------------------------------------------------------------------------------------


async def test_members_come_owner_first_then_by_username(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    owner = await users.create(username="zora")
    carl = await users.create(username="carl")
    amy = await users.create(username="amy")
    dave = await users.create(username="dave")
    bert = await users.create(username="bert")
    team = await create_list(client, owner, "Team")
    # Added neither in name nor in role order.
    for member, role in ((dave, "viewer"), (carl, "admin"), (amy, "viewer"), (bert, "editor")):
        added = await add_member(client, owner, team["id"], member, role)
        assert set(added) == MEMBER_FIELDS
        assert (added["user_id"], added["username"], added["role"]) == (member.id, member.username, role)

    for reader in (owner, amy, bert):
        members = await members_of(client, reader, team["id"])
        assert [(m["username"], m["role"]) for m in members] == [
            ("zora", "owner"),
            ("amy", "viewer"),
            ("bert", "editor"),
            ("carl", "admin"),
            ("dave", "viewer"),
        ]
        assert all(set(member) == MEMBER_FIELDS for member in members)
        assert [m["user_id"] for m in members] == [owner.id, amy.id, bert.id, carl.id, dave.id]


@pytest.mark.parametrize(
    "spelling",
    [
        lambda user: user.username,
        lambda user: user.username.upper(),
        lambda user: user.username.swapcase(),
        lambda user: user.email,
        lambda user: user.email.upper(),
    ],
    ids=["username", "USERNAME", "swapped case", "e-mail", "E-MAIL"],
)
async def test_a_member_is_added_by_username_or_email_in_any_case(
    client: httpx.AsyncClient, users: UserFactory, spelling: Any
) -> None:
    alice = await users.create()
    bob = await users.create(username="Bob.Smith", email="bob.smith@example.com")
    team = await create_list(client, alice, "Team")

    response = await client.post(
        f"/lists/{team['id']}/members", json={"user": spelling(bob), "role": "editor"}, headers=alice.headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["user_id"] == bob.id
    assert response.json()["username"] == "Bob.Smith"
    assert response.json()["role"] == "editor"
    assert roles_of(await members_of(client, bob, team["id"])) == {alice.id: "owner", bob.id: "editor"}
    assert (await get_list(client, bob, team["id"])).json()["role"] == "editor"


@pytest.mark.parametrize("who", ["ghost", "ghost@example.com", "GHOST@EXAMPLE.COM", "alice@nowhere.example"])
async def test_adding_an_unknown_user_is_404_user_not_found(
    client: httpx.AsyncClient, users: UserFactory, who: str
) -> None:
    alice = await users.create(username="alice", email="alice@example.com")
    team = await create_list(client, alice, "Team")

    response = await client.post(
        f"/lists/{team['id']}/members", json={"user": who, "role": "viewer"}, headers=alice.headers
    )

    assert_error(response, 404, "user_not_found")
    assert len(await members_of(client, alice, team["id"])) == 1


async def test_adding_a_member_again_is_409_already_member_owner_included(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    before = await members_of(client, shared.owner, shared.id)

    attempts = [
        (shared.owner, shared.editor.username, "admin"),
        (shared.owner, shared.editor.email.upper(), "viewer"),
        (shared.owner, shared.owner.username, "admin"),
        (shared.admin, shared.owner.email, "viewer"),
        (shared.admin, shared.admin.username, "editor"),
    ]
    for caller, who, role in attempts:
        response = await client.post(
            f"/lists/{shared.id}/members", json={"user": who, "role": role}, headers=caller.headers
        )
        assert_error(response, 409, "already_member")

    assert await members_of(client, shared.owner, shared.id) == before


async def test_a_member_body_can_only_give_viewer_editor_or_admin(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    before = await members_of(client, shared.owner, shared.id)

    for body in ({"role": "owner"}, {"role": "Owner"}, {"role": "superuser"}, {"role": None}, {}):
        added = await client.post(
            f"/lists/{shared.id}/members",
            json={"user": shared.outsider.username, **body},
            headers=shared.owner.headers,
        )
        changed = await client.patch(
            f"/lists/{shared.id}/members/{shared.viewer.id}", json=body, headers=shared.owner.headers
        )
        assert_field_error(added, ["body", "role"])
        assert_field_error(changed, ["body", "role"])

    assert await members_of(client, shared.owner, shared.id) == before


async def test_an_admin_changes_and_removes_members_but_never_the_owner(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    second_admin = await users.create()
    await add_member(client, shared.owner, shared.id, second_admin, "admin")
    admin = shared.admin

    promoted = await client.patch(
        f"/lists/{shared.id}/members/{shared.viewer.id}", json={"role": "admin"}, headers=admin.headers
    )
    demoted = await client.patch(
        f"/lists/{shared.id}/members/{second_admin.id}", json={"role": "viewer"}, headers=admin.headers
    )
    removed = await client.delete(f"/lists/{shared.id}/members/{shared.editor.id}", headers=admin.headers)
    removed_again = await client.delete(
        f"/lists/{shared.id}/members/{shared.editor.id}", headers=admin.headers
    )
    not_a_member = await client.patch(
        f"/lists/{shared.id}/members/{shared.outsider.id}", json={"role": "viewer"}, headers=admin.headers
    )
    owner_demoted = await client.patch(
        f"/lists/{shared.id}/members/{shared.owner.id}", json={"role": "admin"}, headers=admin.headers
    )
    owner_removed = await client.delete(
        f"/lists/{shared.id}/members/{shared.owner.id}", headers=admin.headers
    )

    assert promoted.status_code == 200, promoted.text
    assert set(promoted.json()) == MEMBER_FIELDS
    assert (promoted.json()["user_id"], promoted.json()["role"]) == (shared.viewer.id, "admin")
    assert demoted.status_code == 200, demoted.text
    assert removed.status_code == 204, removed.text
    assert_error(removed_again, 404, "not_found")
    assert_error(not_a_member, 404, "not_found")
    assert_error(owner_demoted, 409, "owner_protected")
    assert_error(owner_removed, 409, "owner_protected")
    assert roles_of(await members_of(client, shared.owner, shared.id)) == {
        shared.owner.id: "owner",
        admin.id: "admin",
        shared.viewer.id: "admin",
        second_admin.id: "viewer",
    }
    assert_error(await get_list(client, shared.editor, shared.id), 404, "not_found")


async def test_the_owner_cannot_demote_remove_or_leave_themselves(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    owner = shared.owner
    before = await members_of(client, owner, shared.id)

    for role in ("admin", "editor", "viewer"):
        response = await client.patch(
            f"/lists/{shared.id}/members/{owner.id}", json={"role": role}, headers=owner.headers
        )
        assert_error(response, 409, "owner_protected")
    leave = await client.delete(f"/lists/{shared.id}/members/{owner.id}", headers=owner.headers)

    assert_error(leave, 409, "owner_protected")
    assert await members_of(client, owner, shared.id) == before
    assert (await get_list(client, owner, shared.id)).json()["owner_id"] == owner.id


async def test_a_member_who_leaves_no_longer_sees_the_list(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    editor = shared.editor
    own = await create_task(client, editor, title="Mine, in the shared list", list_id=shared.id)

    leave = await client.delete(f"/lists/{shared.id}/members/{editor.id}", headers=editor.headers)

    assert leave.status_code == 204, leave.text
    assert leave.content == b""
    assert_error(await get_list(client, editor, shared.id), 404, "not_found")
    assert_error(await client.get(f"/lists/{shared.id}/members", headers=editor.headers), 404, "not_found")
    assert_error(await get_task(client, editor, shared.task["id"]), 404, "not_found")
    assert_error(await get_task(client, editor, own["id"]), 404, "not_found")
    assert_error(
        await client.get("/tasks", params={"list_id": shared.id}, headers=editor.headers), 404, "not_found"
    )
    assert [item["is_inbox"] for item in await all_lists(client, editor)] == [True]
    assert await all_tasks(client, editor) == []
    again = await client.delete(f"/lists/{shared.id}/members/{editor.id}", headers=editor.headers)
    assert_error(again, 404, "not_found")
    # The others keep the list, and the task the leaver made in it.
    assert editor.id not in roles_of(await members_of(client, shared.owner, shared.id))
    assert (await get_task(client, shared.viewer, own["id"])).json()["created_by"] == editor.id
    # Shared again, they see it again.
    await add_member(client, shared.owner, shared.id, editor, "viewer")
    assert (await get_list(client, editor, shared.id)).json()["role"] == "viewer"


@pytest.mark.parametrize("how", ["removed by the owner", "removed by an admin", "leaves"])
async def test_a_member_who_goes_is_unassigned_from_that_lists_tasks_only(
    client: httpx.AsyncClient, users: UserFactory, how: str
) -> None:
    shared = await shared_list(client, users)
    owner, editor = shared.owner, shared.editor
    other = await create_list(client, owner, "Other")
    await add_member(client, owner, other["id"], editor, "editor")
    here = [
        shared.task,
        await create_task(client, owner, title="Here too", list_id=shared.id, assignee_id=editor.id),
    ]
    elsewhere = [
        await create_task(client, owner, title="Elsewhere", list_id=other["id"], assignee_id=editor.id),
        await create_task(client, editor, title="Own inbox", assignee_id=editor.id),
    ]
    admins_task = await create_task(
        client, owner, title="The admin's", list_id=shared.id, assignee_id=shared.admin.id
    )
    etags = {task["id"]: (await get_task(client, owner, task["id"])).headers["ETag"] for task in here}
    remover = {"removed by the owner": owner, "removed by an admin": shared.admin, "leaves": editor}[how]

    response = await client.delete(f"/lists/{shared.id}/members/{editor.id}", headers=remover.headers)

    assert response.status_code == 204, response.text
    for task in here:
        now = await get_task(client, owner, task["id"])
        assert now.json()["assignee_id"] is None
        assert now.json()["title"] == task["title"]
        assert now.headers["ETag"] != etags[task["id"]], "the task changed, so does its ETag"
    for task in elsewhere:
        assert (await get_task(client, editor, task["id"])).json() == task
    assert (await get_task(client, owner, admins_task["id"])).json() == admins_task
    assigned = await all_tasks(client, owner, assignee_id=editor.id)
    assert [task["id"] for task in assigned] == [elsewhere[0]["id"]]


# --- Transfer ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("new_owner", ["admin", "editor", "viewer"])
async def test_transfer_makes_a_member_the_owner_and_keeps_the_old_one_as_admin(
    client: httpx.AsyncClient, users: UserFactory, new_owner: str
) -> None:
    shared = await shared_list(client, users)
    old, new = shared.owner, shared.by_role(new_owner)
    before = await get_list(client, old, shared.id)

    response = await client.post(
        f"/lists/{shared.id}/transfer", json={"user_id": new.id}, headers=old.headers
    )

    assert response.status_code == 200, response.text
    assert set(response.json()) == LIST_FIELDS
    assert response.json()["owner_id"] == new.id
    assert response.json()["role"] == "admin", "role is the caller's own: now admin"
    assert response.headers["ETag"] != before.headers["ETag"]
    seen_by_old = await get_list(client, old, shared.id)
    assert seen_by_old.json() == response.json()
    assert seen_by_old.headers["ETag"] == response.headers["ETag"]
    assert (await get_list(client, new, shared.id)).json()["role"] == "owner"
    members = await members_of(client, new, shared.id)
    assert (members[0]["user_id"], members[0]["role"]) == (new.id, "owner")
    assert [m["user_id"] for m in members if m["role"] == "owner"] == [new.id]
    assert roles_of(members)[old.id] == "admin"
    assert len(members) == 4
    # The old owner is now an admin like any other: no delete, no transfer, and removable.
    assert_error(await client.delete(f"/lists/{shared.id}", headers=old.headers), 403, "forbidden")
    again = await client.post(f"/lists/{shared.id}/transfer", json={"user_id": old.id}, headers=old.headers)
    assert_error(again, 403, "forbidden")
    renamed = await client.patch(
        f"/lists/{shared.id}", json={"name": "Still mine to rename"}, headers=old.headers
    )
    assert renamed.status_code == 200, renamed.text
    removed = await client.delete(f"/lists/{shared.id}/members/{old.id}", headers=new.headers)
    assert removed.status_code == 204, removed.text
    # And the new owner can delete the list.
    deleted = await client.delete(f"/lists/{shared.id}", headers=new.headers)
    assert deleted.status_code == 204, deleted.text
    assert_error(await get_list(client, new, shared.id), 404, "not_found")


@pytest.mark.parametrize("target", ["outsider", "nobody", "the list's id"])
async def test_transfer_to_a_non_member_is_422_and_changes_nothing(
    client: httpx.AsyncClient, users: UserFactory, target: str
) -> None:
    shared = await shared_list(client, users)
    user_id = {"outsider": shared.outsider.id, "nobody": 2**31 - 1, "the list's id": shared.id + 1000}[target]
    before = await get_list(client, shared.owner, shared.id)
    members = await members_of(client, shared.owner, shared.id)

    response = await client.post(
        f"/lists/{shared.id}/transfer", json={"user_id": user_id}, headers=shared.owner.headers
    )

    assert_field_error(response, ["body", "user_id"])
    after = await get_list(client, shared.owner, shared.id)
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    assert await members_of(client, shared.owner, shared.id) == members
    assert_error(await get_list(client, shared.outsider, shared.id), 404, "not_found")


async def test_a_bad_transfer_body_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    shared = await shared_list(client, users)
    before = await get_list(client, shared.owner, shared.id)

    for body in (
        {},
        {"user_id": None},
        {"user_id": 0},
        {"user_id": "two"},
        {"user_id": shared.editor.id, "x": 1},
    ):
        response = await client.post(f"/lists/{shared.id}/transfer", json=body, headers=shared.owner.headers)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"

    assert (await get_list(client, shared.owner, shared.id)).json() == before.json()


async def test_transfer_to_yourself_is_a_200_that_changes_nothing(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    # Our documented choice: the owner is already the owner, so the request is done.
    shared = await shared_list(client, users)
    owner = shared.owner
    before = await get_list(client, owner, shared.id)
    members = await members_of(client, owner, shared.id)

    response = await client.post(
        f"/lists/{shared.id}/transfer", json={"user_id": owner.id}, headers=owner.headers
    )

    assert response.status_code == 200, response.text
    assert response.json() == before.json()
    assert response.headers["ETag"] == before.headers["ETag"]
    assert (await get_list(client, owner, shared.id)).headers["ETag"] == before.headers["ETag"]
    assert await members_of(client, owner, shared.id) == members


# --- Tasks on lists: assignees, moves, creators --------------------------------------------------------


ASSIGNEES = {
    "owner": 201,
    "admin": 201,
    "editor": 201,
    "viewer": 422,
    "outsider": 422,
    "nobody": 422,
}


def assignee_id(shared: SharedList, who: str) -> int:
    if who == "nobody":
        return 2**31 - 1
    user: SignedInUser = getattr(shared, who)
    return user.id


@pytest.mark.parametrize(("who", "status"), ASSIGNEES.items())
async def test_an_assignee_must_be_an_editor_or_more_of_the_tasks_list(
    client: httpx.AsyncClient, users: UserFactory, who: str, status: int
) -> None:
    shared = await shared_list(client, users)
    editor, task = shared.editor, shared.task
    person = assignee_id(shared, who)
    body = {"title": "Assigned", "list_id": shared.id, "assignee_id": person}

    created = await client.post("/tasks", json=body, headers=editor.headers)
    patched = await client.patch(f"/tasks/{task['id']}", json={"assignee_id": person}, headers=editor.headers)
    put = await client.put(
        f"/tasks/{task['id']}", json={"title": "Shared task", "assignee_id": person}, headers=editor.headers
    )

    if status == 201:
        assert created.status_code == 201, created.text
        assert created.json()["assignee_id"] == person
        assert (patched.status_code, put.status_code) == (200, 200), (patched.text, put.text)
        assert (await get_task(client, editor, task["id"])).json()["assignee_id"] == person
        return
    for response in (created, patched, put):
        assert_field_error(response, ["body", "assignee_id"])
    assert (await get_task(client, editor, task["id"])).json() == task
    assert [t["id"] for t in await all_tasks(client, shared.owner, list_id=shared.id)] == [task["id"]]


async def test_an_assignee_can_be_cleared(client: httpx.AsyncClient, users: UserFactory) -> None:
    shared = await shared_list(client, users)

    response = await client.patch(
        f"/tasks/{shared.task['id']}", json={"assignee_id": None}, headers=shared.editor.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["assignee_id"] is None


@dataclass
class TwoLists:
    source: dict[str, Any]
    source_owner: SignedInUser
    target: dict[str, Any]
    mover: SignedInUser


async def two_lists(
    client: httpx.AsyncClient, users: UserFactory, source_role: str, target_role: str | None
) -> TwoLists:
    """A list and a second one of another owner; the mover has `source_role` on the first and
    `target_role` on the second (None: is no member)."""
    source_owner, target_owner, mover = await users.create(), await users.create(), await users.create()
    source = await create_list(client, source_owner, "Source")
    await add_member(client, source_owner, source["id"], mover, source_role)
    target = await create_list(client, target_owner, "Target")
    if target_role is not None:
        await add_member(client, target_owner, target["id"], mover, target_role)
    return TwoLists(source, source_owner, target, mover)


MOVES = [
    ("editor", "editor", 200, None),
    ("editor", "admin", 200, None),
    ("admin", "editor", 200, None),
    ("editor", "viewer", 403, "forbidden"),
    ("editor", None, 404, "not_found"),
    ("viewer", "editor", 403, "forbidden"),
    ("viewer", "viewer", 403, "forbidden"),
]


def move_request(method: str, task_id: int, list_id: int) -> tuple[str, str, dict[str, Any]]:
    """A request that moves a task into another list, by PATCH, PUT or POST .../move."""
    if method == "PATCH":
        return "PATCH", f"/tasks/{task_id}", {"list_id": list_id}
    if method == "PUT":
        return "PUT", f"/tasks/{task_id}", {"title": "Movable", "list_id": list_id}
    return "POST", f"/tasks/{task_id}/move", {"list_id": list_id}


MOVE_METHODS = ("PATCH", "PUT", "move")


@pytest.mark.parametrize(("source_role", "target_role", "status", "code"), MOVES)
async def test_moving_a_task_needs_editor_on_both_lists(
    client: httpx.AsyncClient,
    users: UserFactory,
    source_role: str,
    target_role: str | None,
    status: int,
    code: str | None,
) -> None:
    setup = await two_lists(client, users, source_role, target_role)
    tasks = {
        method: await create_task(client, setup.source_owner, title="Movable", list_id=setup.source["id"])
        for method in MOVE_METHODS
    }

    for method, task in tasks.items():
        before = await get_task(client, setup.source_owner, task["id"])
        verb, path, body = move_request(method, task["id"], setup.target["id"])
        response = await client.request(verb, path, json=body, headers=setup.mover.headers)
        assert response.status_code == status, (method, response.text)
        after = await get_task(client, setup.source_owner, task["id"])
        if status == 200:
            assert response.json()["list_id"] == setup.target["id"]
            assert_error(after, 404, "not_found")  # the source's owner is no member of the target
        else:
            assert response.json()["code"] == code
            assert after.json() == before.json(), method
            assert after.headers["ETag"] == before.headers["ETag"], method

    if target_role is not None:
        moved = {task["id"] for task in await all_tasks(client, setup.mover, list_id=setup.target["id"])}
        assert moved == ({task["id"] for task in tasks.values()} if status == 200 else set())


async def test_moving_into_a_missing_list_reads_like_an_invisible_one(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    setup = await two_lists(client, users, "editor", None)
    task = await create_task(client, setup.mover, list_id=setup.source["id"])

    for method in MOVE_METHODS:
        verb, path, body = move_request(method, task["id"], setup.target["id"])
        invisible = await client.request(verb, path, json=body, headers=setup.mover.headers)
        verb, path, body = move_request(method, task["id"], setup.target["id"] + 10_000)
        missing = await client.request(verb, path, json=body, headers=setup.mover.headers)
        assert_error(invisible, 404, "not_found")
        assert without_request_id(invisible) == without_request_id(missing), method


async def test_moving_a_task_to_a_list_where_its_assignee_cannot_edit_is_422(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    # Our choice: refuse, rather than quietly drop the assignee.
    shared = await shared_list(client, users)
    owner, editor = shared.owner, shared.editor
    target = await create_list(client, owner, "Target")
    await add_member(client, owner, target["id"], editor, "viewer")
    task = shared.task  # assigned to the editor, who only views the target
    before = await get_task(client, owner, task["id"])

    refused = await client.patch(
        f"/tasks/{task['id']}", json={"list_id": target["id"]}, headers=owner.headers
    )
    put = await client.put(
        f"/tasks/{task['id']}",
        json={"title": task["title"], "list_id": target["id"], "assignee_id": editor.id},
        headers=owner.headers,
    )
    move = await client.post(
        f"/tasks/{task['id']}/move", json={"list_id": target["id"]}, headers=owner.headers
    )

    assert_field_error(refused, ["body", "assignee_id"])
    assert_field_error(put, ["body", "assignee_id"])
    assert_field_error(move, ["body", "assignee_id"])
    after = await get_task(client, owner, task["id"])
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    # Moving it and unassigning it in one request is fine.
    moved = await client.patch(
        f"/tasks/{task['id']}", json={"list_id": target["id"], "assignee_id": None}, headers=owner.headers
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["list_id"], moved.json()["assignee_id"]) == (target["id"], None)


async def test_creating_a_task_in_a_list_needs_the_editor_role(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)

    made = {
        role: await client.post(
            "/tasks", json={"title": role, "list_id": shared.id}, headers=shared.by_role(role).headers
        )
        for role in ("owner", "admin", "editor", "viewer", "non-member")
    }
    missing = await client.post(
        "/tasks", json={"title": "x", "list_id": shared.id + 10_000}, headers=shared.outsider.headers
    )

    for role in ("owner", "admin", "editor"):
        assert made[role].status_code == 201, made[role].text
        assert made[role].json()["list_id"] == shared.id
        assert made[role].json()["created_by"] == shared.by_role(role).id
    assert_error(made["viewer"], 403, "forbidden")
    assert_error(made["non-member"], 404, "not_found")
    assert without_request_id(made["non-member"]) == without_request_id(missing)
    titles = sorted(t["title"] for t in await all_tasks(client, shared.viewer, list_id=shared.id))
    assert titles == sorted(["Shared task", "owner", "admin", "editor"])
    assert await all_tasks(client, shared.outsider) == []


@pytest.mark.parametrize("field", ["created_by", "owner_id"])
async def test_a_task_body_cannot_set_its_creator(
    client: httpx.AsyncClient, users: UserFactory, field: str
) -> None:
    shared = await shared_list(client, users)

    created = await client.post(
        "/tasks", json={"title": "x", field: shared.owner.id}, headers=shared.editor.headers
    )
    patched = await client.patch(
        f"/tasks/{shared.task['id']}", json={field: shared.editor.id}, headers=shared.editor.headers
    )

    assert_field_error(created, ["body", field])
    assert_field_error(patched, ["body", field])
    assert (await get_task(client, shared.owner, shared.task["id"])).json()["created_by"] == shared.owner.id


async def test_list_id_and_assignee_id_filters(client: httpx.AsyncClient, users: UserFactory) -> None:
    shared = await shared_list(client, users)
    owner, editor, admin = shared.owner, shared.editor, shared.admin
    other = await create_list(client, owner, "Other")
    await add_member(client, owner, other["id"], editor, "editor")
    in_other = await create_task(client, owner, title="Other", list_id=other["id"], assignee_id=editor.id)
    to_admin = await create_task(
        client, editor, title="To the admin", list_id=shared.id, assignee_id=admin.id
    )
    inbox_task = await create_task(client, owner, title="Inbox")

    def ids(tasks: list[dict[str, Any]]) -> set[int]:
        return {task["id"] for task in tasks}

    assert ids(await all_tasks(client, owner, list_id=shared.id)) == {shared.task["id"], to_admin["id"]}
    assert ids(await all_tasks(client, owner, list_id=other["id"])) == {in_other["id"]}
    assert ids(await all_tasks(client, owner, assignee_id=editor.id)) == {shared.task["id"], in_other["id"]}
    assert ids(await all_tasks(client, admin, assignee_id=editor.id)) == {shared.task["id"]}
    assert ids(await all_tasks(client, owner, list_id=shared.id, assignee_id=admin.id)) == {to_admin["id"]}
    assert ids(await all_tasks(client, owner, assignee_id=shared.outsider.id)) == set()
    assert ids(await all_tasks(client, owner)) == {
        shared.task["id"],
        to_admin["id"],
        in_other["id"],
        inbox_task["id"],
    }
    assert_error(
        await client.get("/tasks", params={"list_id": other["id"]}, headers=admin.headers), 404, "not_found"
    )
    for params in ({"list_id": 0}, {"list_id": "x"}, {"assignee_id": 0}, {"assignee_id": -3}):
        response = await client.get("/tasks", params=params, headers=owner.headers)
        assert response.status_code == 422, (params, response.text)


# --- Deleting a list, deleting an account ---------------------------------------------------------------


async def test_deleting_a_list_deletes_its_tasks_and_nothing_else(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    shared = await shared_list(client, users)
    owner, editor = shared.owner, shared.editor
    doomed = [shared.task, await create_task(client, editor, title="Also doomed", list_id=shared.id)]
    other = await create_list(client, owner, "Other")
    await add_member(client, owner, other["id"], editor, "editor")
    kept = [
        await create_task(client, owner, title="Other list", list_id=other["id"], assignee_id=editor.id),
        await create_task(client, owner, title="Owner's inbox"),
        await create_task(client, editor, title="Editor's inbox"),
    ]
    trashed_before = await create_task(client, editor, title="Already in the trash", list_id=shared.id)
    assert (await client.delete(f"/tasks/{trashed_before['id']}", headers=editor.headers)).status_code == 204
    trashed_elsewhere = await create_task(client, owner, title="Trashed elsewhere", list_id=other["id"])
    assert (
        await client.delete(f"/tasks/{trashed_elsewhere['id']}", headers=owner.headers)
    ).status_code == 204
    members_of_other = await members_of(client, owner, other["id"])
    lists_before = {
        role: await all_lists(client, shared.by_role(role)) for role in ("owner", "admin", "editor", "viewer")
    }

    response = await client.delete(f"/lists/{shared.id}", headers=owner.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    for role in ("owner", "admin", "editor", "viewer"):
        user = shared.by_role(role)
        assert_error(await get_list(client, user, shared.id), 404, "not_found")
        for task in doomed:
            assert_error(await get_task(client, user, task["id"]), 404, "not_found")
        assert await all_lists(client, user) == [
            item for item in lists_before[role] if item["id"] != shared.id
        ]
    assert_error(await client.delete(f"/lists/{shared.id}", headers=owner.headers), 404, "not_found")
    for task in kept:
        reader = editor if task["title"] == "Editor's inbox" else owner
        assert (await get_task(client, reader, task["id"])).json() == task
    assert await members_of(client, owner, other["id"]) == members_of_other
    assert {t["id"] for t in await all_tasks(client, editor)} == {kept[0]["id"], kept[2]["id"]}
    # Its tasks skip the trash, and what was in its trash goes too; other lists' trash stays.
    trash = (await client.get("/trash", headers=owner.headers)).json()["items"]
    assert [item["id"] for item in trash] == [trashed_elsewhere["id"]]
    for task_id in [task["id"] for task in doomed] + [trashed_before["id"]]:
        assert_error(await client.post(f"/trash/{task_id}/restore", headers=owner.headers), 404, "not_found")


async def test_deleting_an_account_takes_its_lists_and_leaves_its_work_elsewhere(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    bob = await users.create()
    carol = await users.create()
    alices = await create_list(client, alice, "Alice's")
    await add_member(client, alice, alices["id"], bob, "editor")
    await add_member(client, alice, alices["id"], carol, "viewer")
    bobs = await create_list(client, bob, "Bob's")
    await add_member(client, bob, bobs["id"], alice, "editor")
    await add_member(client, bob, bobs["id"], carol, "editor")
    gone = [
        await create_task(client, alice, title="alice in alice's", list_id=alices["id"]),
        await create_task(client, bob, title="bob in alice's", list_id=alices["id"], assignee_id=bob.id),
        await create_task(client, alice, title="alice's inbox"),
    ]
    made_by_alice = await create_task(
        client, alice, title="by alice for bob", list_id=bobs["id"], assignee_id=bob.id
    )
    alice_for_herself = await create_task(
        client, alice, title="by alice for alice", list_id=bobs["id"], assignee_id=alice.id
    )
    bob_for_alice = await create_task(
        client, bob, title="by bob for alice", list_id=bobs["id"], assignee_id=alice.id
    )
    untouched = await create_task(client, carol, title="carol's", list_id=bobs["id"], assignee_id=carol.id)

    response = await client.delete("/auth/me", headers=alice.headers)

    assert response.status_code == 204, response.text
    for user in (bob, carol):
        assert_error(await get_list(client, user, alices["id"]), 404, "not_found")
        for task in gone:
            assert_error(await get_task(client, user, task["id"]), 404, "not_found")
        assert {item["id"] for item in await all_lists(client, user)} == {
            (await inbox_of(client, user))["id"],
            bobs["id"],
        }
    tasks = {task["id"]: task for task in await all_tasks(client, carol)}
    assert set(tasks) == {made_by_alice["id"], alice_for_herself["id"], bob_for_alice["id"], untouched["id"]}
    expected = {
        made_by_alice["id"]: (None, bob.id),
        alice_for_herself["id"]: (None, None),
        bob_for_alice["id"]: (bob.id, None),
        untouched["id"]: (carol.id, carol.id),
    }
    assert {tid: (t["created_by"], t["assignee_id"]) for tid, t in tasks.items()} == expected
    assert tasks[untouched["id"]] == untouched
    assert roles_of(await members_of(client, carol, bobs["id"])) == {bob.id: "owner", carol.id: "editor"}
    assert await all_tasks(client, bob, assignee_id=alice.id) == []
    # Someone new with her name gets none of it back.
    again = await users.create(username=alice.username, email=alice.email)
    assert [item["is_inbox"] for item in await all_lists(client, again)] == [True]
    assert await all_tasks(client, again) == []


async def test_tasks_an_account_deletion_changes_get_a_new_etag(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """created_by and assignee_id change to null: a client holding the old ETag must not get a 304."""
    alice = await users.create()
    bob = await users.create()
    bobs = await create_list(client, bob, "Bob's")
    await add_member(client, bob, bobs["id"], alice, "editor")
    made = await create_task(client, alice, title="by alice", list_id=bobs["id"])
    assigned = await create_task(client, bob, title="for alice", list_id=bobs["id"], assignee_id=alice.id)
    etags = {
        task["id"]: (await get_task(client, bob, task["id"])).headers["ETag"] for task in (made, assigned)
    }

    await client.delete("/auth/me", headers=alice.headers)

    for task in (made, assigned):
        revalidated = await client.get(
            f"/tasks/{task['id']}", headers={**bob.headers, "If-None-Match": etags[task["id"]]}
        )
        assert revalidated.status_code == 200, "the task changed: its old ETag must not match"
        assert revalidated.headers["ETag"] != etags[task["id"]]
        assert instant(revalidated.json()["updated_at"]) > instant(task["updated_at"])


# --- ETags, If-Match, If-None-Match on lists ---------------------------------------------------------


async def test_every_single_list_answer_has_a_strong_etag_that_follows_changes(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    created = await client.post("/lists", json={"name": "Groceries"}, headers=alice.headers)
    list_id = created.json()["id"]
    fetched = await get_list(client, alice, list_id)
    patched = await client.patch(f"/lists/{list_id}", json={"name": "Food"}, headers=alice.headers)
    refetched = await get_list(client, alice, list_id)
    patched_again = await client.patch(
        f"/lists/{list_id}", json={"description": "weekly"}, headers=alice.headers
    )

    etags = [r.headers["ETag"] for r in (created, fetched, patched, refetched, patched_again)]
    for etag in etags:
        assert STRONG_ETAG.fullmatch(etag), etag
    assert etags[0] == etags[1]
    assert etags[2] == etags[3] != etags[1]
    assert etags[4] != etags[3]
    assert fetched.headers["Cache-Control"] == "no-store"


async def test_if_none_match_on_a_list_answers_304_until_it_changes(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    created = await create_list(client, alice, "Groceries")
    etag = (await get_list(client, alice, created["id"])).headers["ETag"]

    def conditional(tag: str) -> dict[str, str]:
        return {**alice.headers, "If-None-Match": tag}

    hit = await client.get(f"/lists/{created['id']}", headers=conditional(etag))
    weak = await client.get(f"/lists/{created['id']}", headers=conditional(f"W/{etag}"))
    star = await client.get(f"/lists/{created['id']}", headers=conditional("*"))
    await client.patch(f"/lists/{created['id']}", json={"name": "Food"}, headers=alice.headers)
    stale = await client.get(f"/lists/{created['id']}", headers=conditional(etag))

    for response in (hit, weak, star):
        assert response.status_code == 304, response.text
        assert response.content == b""
        assert response.headers["ETag"] == etag
    assert stale.status_code == 200
    assert stale.json()["name"] == "Food"
    assert stale.headers["ETag"] != etag


# (method, path below the list, body); the transfer goes to the editor.
LIST_WRITES: dict[str, tuple[str, str, Any]] = {
    "PATCH": ("PATCH", "", {"name": "Renamed"}),
    "DELETE": ("DELETE", "", None),
    "transfer": ("POST", "/transfer", "to the editor"),
}


@pytest.mark.parametrize("write", LIST_WRITES)
async def test_a_stale_if_match_on_a_list_is_412_with_the_current_etag_and_changes_nothing(
    client: httpx.AsyncClient, users: UserFactory, write: str
) -> None:
    shared = await shared_list(client, users)
    owner = shared.owner
    stale = (await get_list(client, owner, shared.id)).headers["ETag"]
    await client.patch(f"/lists/{shared.id}", json={"description": "moved on"}, headers=owner.headers)
    current = await get_list(client, owner, shared.id)
    members = await members_of(client, owner, shared.id)
    method, suffix, body = LIST_WRITES[write]
    if body == "to the editor":
        body = {"user_id": shared.editor.id}

    response = await client.request(
        method, f"/lists/{shared.id}{suffix}", json=body, headers={**owner.headers, "If-Match": stale}
    )

    assert_error(response, 412, "precondition_failed")
    assert response.headers["ETag"] == current.headers["ETag"]
    after = await get_list(client, owner, shared.id)
    assert after.json() == current.json()
    assert after.headers["ETag"] == current.headers["ETag"]
    assert await members_of(client, owner, shared.id) == members
    assert (await get_task(client, owner, shared.task["id"])).json() == shared.task
    # With the ETag the 412 handed back, the write goes through.
    retried = await client.request(
        method,
        f"/lists/{shared.id}{suffix}",
        json=body,
        headers={**owner.headers, "If-Match": response.headers["ETag"]},
    )
    assert retried.status_code == (204 if method == "DELETE" else 200), retried.text


async def test_a_list_etag_changes_with_the_callers_role(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    # Our choice: the role is part of what the caller sees, so a new role is a new version for them.
    shared = await shared_list(client, users)
    editor = shared.editor
    before = await get_list(client, editor, shared.id)
    owners_before = (await get_list(client, shared.owner, shared.id)).headers["ETag"]

    await client.patch(
        f"/lists/{shared.id}/members/{editor.id}", json={"role": "admin"}, headers=shared.owner.headers
    )
    after = await client.get(
        f"/lists/{shared.id}", headers={**editor.headers, "If-None-Match": before.headers["ETag"]}
    )

    assert after.status_code == 200, "a new role must not be answered with 304"
    assert after.json()["role"] == "admin"
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = await client.patch(
        f"/lists/{shared.id}",
        json={"name": "x"},
        headers={**editor.headers, "If-Match": before.headers["ETag"]},
    )
    assert_error(stale, 412, "precondition_failed")
    assert stale.headers["ETag"] == after.headers["ETag"]
    # Each member's ETag is their own view's: the owner's did not move.
    assert (await get_list(client, shared.owner, shared.id)).headers["ETag"] == owners_before


TASK_WRITES = [
    ("PUT", "", {"title": "Replaced"}),
    ("PATCH", "", {"title": "Changed"}),
    ("DELETE", "", None),
    ("POST", "/complete", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), TASK_WRITES)
async def test_a_stale_if_match_on_a_task_is_412_with_the_current_etag(
    client: httpx.AsyncClient, users: UserFactory, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    shared = await shared_list(client, users)
    task_id = shared.task["id"]
    stale = (await get_task(client, shared.editor, task_id)).headers["ETag"]
    await client.patch(f"/tasks/{task_id}", json={"description": "moved on"}, headers=shared.admin.headers)
    current = await get_task(client, shared.editor, task_id)

    response = await client.request(
        method, f"/tasks/{task_id}{suffix}", json=body, headers={**shared.editor.headers, "If-Match": stale}
    )

    assert_error(response, 412, "precondition_failed")
    assert response.headers["ETag"] == current.headers["ETag"]
    after = await get_task(client, shared.editor, task_id)
    assert after.json() == current.json()
    assert after.headers["ETag"] == current.headers["ETag"]


# --- Idempotency-Key on POST /lists ------------------------------------------------------------------


async def test_a_retried_post_lists_replays_the_first_answer(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    headers = {**alice.headers, "Idempotency-Key": "list-1"}

    first = await client.post("/lists", json={"name": "Groceries"}, headers=headers)
    retry = await client.post("/lists", json={"name": "Groceries"}, headers=headers)

    assert (first.status_code, retry.status_code) == (201, 201), retry.text
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [item["id"] for item in await all_lists(client, alice) if not item["is_inbox"]] == [
        first.json()["id"]
    ]


async def test_a_reused_list_key_with_another_body_is_422(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice = await users.create()
    headers = {**alice.headers, "Idempotency-Key": "list-1"}
    await client.post("/lists", json={"name": "Groceries"}, headers=headers)

    other_name = await client.post("/lists", json={"name": "Hardware"}, headers=headers)
    described = await client.post("/lists", json={"name": "Groceries", "description": "x"}, headers=headers)

    for response in (other_name, described):
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "idempotency_key_reused"
        assert [error["loc"] for error in response.json()["detail"]] == [["header", "Idempotency-Key"]]
    assert (await client.get("/lists", headers=alice.headers)).json()["total"] == 2


async def test_list_and_task_keys_are_independent(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    headers = {**alice.headers, "Idempotency-Key": "shared-key"}

    task = await client.post("/tasks", json={"title": "Groceries"}, headers=headers)
    made = await client.post("/lists", json={"name": "Groceries"}, headers=headers)
    task_again = await client.post("/tasks", json={"title": "Groceries"}, headers=headers)
    made_again = await client.post("/lists", json={"name": "Groceries"}, headers=headers)

    assert (task.status_code, made.status_code) == (201, 201), made.text
    assert "Idempotent-Replayed" not in made.headers
    assert made.headers["Location"] == f"/lists/{made.json()['id']}"
    assert task_again.json() == task.json()
    assert made_again.json() == made.json()
    assert task_again.headers["Idempotent-Replayed"] == made_again.headers["Idempotent-Replayed"] == "true"
    assert len(await all_tasks(client, alice)) == 1
    assert len(await all_lists(client, alice)) == 2


async def test_list_keys_belong_to_their_user(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    bob = await users.create()

    mine = await client.post(
        "/lists", json={"name": "Groceries"}, headers={**alice.headers, "Idempotency-Key": "k"}
    )
    theirs = await client.post(
        "/lists", json={"name": "Groceries"}, headers={**bob.headers, "Idempotency-Key": "k"}
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["owner_id"] == bob.id


# --- Three users, two shared lists: what each one sees ------------------------------------------------


@dataclass
class Model:
    """Who is a member of which list with which role, and which task is in which list assigned to
    whom: what GET /lists and GET /tasks must show each user."""

    lists: dict[int, dict[int, str]] = field(default_factory=dict)  # list id -> user id -> role
    owners: dict[int, int] = field(default_factory=dict)
    inboxes: set[int] = field(default_factory=set)
    tasks: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # id -> (list id, assignee)

    def lists_of(self, user_id: int) -> dict[int, tuple[str, int, bool]]:
        return {
            list_id: (members[user_id], self.owners[list_id], list_id in self.inboxes)
            for list_id, members in self.lists.items()
            if user_id in members
        }

    def tasks_of(self, user_id: int) -> dict[int, tuple[int, int | None]]:
        visible = self.lists_of(user_id)
        return {task_id: task for task_id, task in self.tasks.items() if task[0] in visible}

    def unassign(self, list_id: int, user_id: int) -> None:
        for task_id, (in_list, assignee) in self.tasks.items():
            if in_list == list_id and assignee == user_id:
                self.tasks[task_id] = (in_list, None)


async def test_three_users_sharing_two_lists_each_see_exactly_what_the_model_says(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    a, b, c = await users.create(), await users.create(), await users.create()
    people = {"a": a, "b": b, "c": c}
    model = Model()
    for user in people.values():
        inbox = await inbox_of(client, user)
        model.lists[inbox["id"]] = {user.id: "owner"}
        model.owners[inbox["id"]] = user.id
        model.inboxes.add(inbox["id"])
    inbox = {
        name: next(i for i in model.inboxes if model.owners[i] == user.id) for name, user in people.items()
    }

    async def check(step: str) -> None:
        for name, user in people.items():
            lists = await all_lists(client, user, limit=2)
            seen = {item["id"]: (item["role"], item["owner_id"], item["is_inbox"]) for item in lists}
            assert seen == model.lists_of(user.id), f"GET /lists of {name} after {step}"
            tasks = await all_tasks(client, user, limit=3)
            assert len(tasks) == len({task["id"] for task in tasks}), f"pages overlap for {name} after {step}"
            seen_tasks = {task["id"]: (task["list_id"], task["assignee_id"]) for task in tasks}
            assert seen_tasks == model.tasks_of(user.id), f"GET /tasks of {name} after {step}"

    async def new_list(owner: str, name: str) -> int:
        list_id: int = (await create_list(client, people[owner], name))["id"]
        model.lists[list_id] = {people[owner].id: "owner"}
        model.owners[list_id] = people[owner].id
        return list_id

    async def share(actor: str, list_id: int, member: str, role: str) -> None:
        await add_member(client, people[actor], list_id, people[member], role)
        model.lists[list_id][people[member].id] = role

    async def set_role(actor: str, list_id: int, member: str, role: str) -> None:
        response = await client.patch(
            f"/lists/{list_id}/members/{people[member].id}",
            json={"role": role},
            headers=people[actor].headers,
        )
        assert response.status_code == 200, response.text
        model.lists[list_id][people[member].id] = role

    async def remove(actor: str, list_id: int, member: str) -> None:
        response = await client.delete(
            f"/lists/{list_id}/members/{people[member].id}", headers=people[actor].headers
        )
        assert response.status_code == 204, response.text
        del model.lists[list_id][people[member].id]
        model.unassign(list_id, people[member].id)

    async def new_task(actor: str, list_id: int, assignee: str | None = None) -> int:
        assignee_id = people[assignee].id if assignee else None
        task = await create_task(
            client, people[actor], title=f"by {actor}", list_id=list_id, assignee_id=assignee_id
        )
        model.tasks[task["id"]] = (list_id, assignee_id)
        task_id: int = task["id"]
        return task_id

    async def patch_task(actor: str, task_id: int, **changes: Any) -> None:
        response = await client.patch(f"/tasks/{task_id}", json=changes, headers=people[actor].headers)
        assert response.status_code == 200, response.text
        list_id, assignee_id = model.tasks[task_id]
        model.tasks[task_id] = (changes.get("list_id", list_id), changes.get("assignee_id", assignee_id))

    await check("sign-up")
    home = await new_list("a", "Home")
    work = await new_list("b", "Work")
    await share("a", home, "b", "editor")
    await share("a", home, "c", "viewer")
    await check("sharing Home")
    await share("b", work, "a", "admin")
    await share("a", work, "c", "editor")  # an admin shares too
    await check("sharing Work")
    t_inbox_a = await new_task("a", inbox["a"])
    t_home_1 = await new_task("a", home, assignee="b")
    t_home_2 = await new_task("b", home, assignee="b")
    t_work_1 = await new_task("c", work, assignee="c")
    await new_task("a", work, assignee="a")
    t_inbox_b = await new_task("b", inbox["b"])
    await new_task("c", inbox["c"])
    await check("creating tasks")
    await set_role("a", home, "c", "editor")
    t_home_3 = await new_task("c", home, assignee="c")
    await check("promoting c on Home")
    await patch_task("b", t_home_2, list_id=work)
    await patch_task("a", t_home_1, assignee_id=None)
    await patch_task("a", t_inbox_a, list_id=home)
    await check("moving tasks")
    await remove("a", work, "c")
    await check("removing c from Work")
    await remove("c", home, "c")
    await check("c leaving Home")
    response = await client.post(f"/lists/{work}/transfer", json={"user_id": a.id}, headers=b.headers)
    assert response.status_code == 200, response.text
    model.owners[work] = a.id
    model.lists[work][a.id], model.lists[work][b.id] = "owner", "admin"
    await check("b transferring Work to a")
    await share("b", work, "c", "viewer")  # b, now an admin, shares Work again
    refused = await client.post("/tasks", json={"title": "no", "list_id": work}, headers=c.headers)
    assert_error(refused, 403, "forbidden")
    refused = await client.patch(f"/tasks/{t_work_1}", json={"list_id": inbox["c"]}, headers=c.headers)
    assert_error(refused, 403, "forbidden")
    await check("sharing Work with c as a viewer")
    await patch_task("a", t_home_3, assignee_id=b.id)
    await patch_task("b", t_work_1, assignee_id=a.id)
    await check("reassigning")
    response = await client.delete(f"/lists/{home}", headers=a.headers)
    assert response.status_code == 204, response.text
    del model.lists[home]
    model.tasks = {task_id: task for task_id, task in model.tasks.items() if task[0] != home}
    await check("a deleting Home")
    response = await client.delete(f"/tasks/{t_inbox_b}", headers=b.headers)
    assert response.status_code == 204, response.text
    del model.tasks[t_inbox_b]
    await check("b deleting a task")
