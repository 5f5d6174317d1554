"""Labels (shared/API.md, "Tasks"): how names are normalised, the repeatable `label` filter with
every other filter, and GET /labels."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import SignedInUser, UserFactory, create_task
from tests.task_factories import (
    FakeClock,
    assert_invalid,
    at,
    create_list,
    fake_clock,
    get,
    ids,
    page,
    patch,
    put,
    share,
    subtask,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def clock(app: FastAPI) -> Iterator[FakeClock]:
    with fake_clock(app, NOW) as fake:
        yield fake


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


async def labels_page(client: httpx.AsyncClient, user: SignedInUser) -> list[dict[str, Any]]:
    response = await client.get("/labels", headers=user.headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"items"}
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def by_key(items: list[dict[str, Any]]) -> dict[str, int]:
    return {item["name"].casefold(): item["task_count"] for item in items}


# Normalisation.


async def test_labels_are_trimmed_deduplicated_keeping_the_first_spelling_and_sorted(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    sent = [" Work ", "home", "WORK", "errands", "Home", "\tzebra", "Apple", "apple"]
    expected = ["Apple", "errands", "home", "Work", "zebra"]
    created = await create_task(client, user, labels=sent)
    assert created["labels"] == expected
    assert (await get(client, user, created["id"]))["labels"] == expected
    response = await patch(client, user, created["id"], labels=["b", "A", "c", "B", " a "])
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == ["A", "b", "c"]
    response = await put(client, user, created, labels=["X", "x", "y"])
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == ["X", "y"]


async def test_at_most_twenty_labels_counted_after_duplicates_are_dropped(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    twenty = [f"label{n:02}" for n in range(20)]
    created = await create_task(client, user, labels=[*twenty, "LABEL07", " label19 "])
    assert created["labels"] == twenty
    too_many = [*twenty, "one more"]
    response = await client.post("/tasks", json={"title": "x", "labels": too_many}, headers=user.headers)
    assert_invalid(response, "body", "labels")
    assert_invalid(await patch(client, user, created["id"], labels=too_many), "body", "labels")
    assert_invalid(await put(client, user, created, labels=too_many), "body", "labels")
    assert (await get(client, user, created["id"]))["labels"] == twenty
    assert await ids(client, user) == [created["id"]]


@pytest.mark.parametrize(
    "name",
    ["x" * 51, "", "   ", "a,b", ",", " , ", 7, None],
    ids=["51 chars", "empty", "blank", "comma", "only a comma", "blank comma", "a number", "null"],
)
async def test_a_bad_label_name_is_refused(client: httpx.AsyncClient, user: SignedInUser, name: Any) -> None:
    task = await create_task(client, user, labels=["kept"])
    response = await client.post(
        "/tasks", json={"title": "x", "labels": ["fine", name]}, headers=user.headers
    )
    assert_invalid(response, "body", "labels")
    assert_invalid(await patch(client, user, task["id"], labels=[name]), "body", "labels")
    assert_invalid(await put(client, user, task, labels=["fine", name]), "body", "labels")
    assert (await get(client, user, task["id"]))["labels"] == ["kept"]
    assert await ids(client, user) == [task["id"]]


async def test_fifty_characters_after_trimming_are_fine(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    longest = "é" + "x" * 49  # 50 characters, 51 bytes
    created = await create_task(client, user, labels=[f"  {longest}  ", "y"])
    assert created["labels"] == ["y", longest]  # é sorts after y, as Python sorts strings


async def test_patch_replaces_the_labels_and_null_is_refused(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    task = await create_task(client, user, labels=["old", "shared"])
    response = await patch(client, user, task["id"], labels=["new", "Shared"])
    assert (response.status_code, response.json()["labels"]) == (200, ["new", "Shared"])
    assert await ids(client, user, label="old") == []
    assert await ids(client, user, label="new") == [task["id"]]
    assert by_key(await labels_page(client, user)) == {"new": 1, "shared": 1}
    response = await patch(client, user, task["id"], title="renamed")
    assert response.json()["labels"] == ["new", "Shared"]
    assert_invalid(await patch(client, user, task["id"], labels=None), "body", "labels")
    assert (await get(client, user, task["id"]))["labels"] == ["new", "Shared"]
    response = await patch(client, user, task["id"], labels=[])
    assert (response.status_code, response.json()["labels"]) == (200, [])
    assert await labels_page(client, user) == []
    assert await ids(client, user, label="new") == []
    # PUT without labels resets them to none, like any optional field.
    await patch(client, user, task["id"], labels=["again"])
    body = {"title": "whole"}
    response = await client.put(f"/tasks/{task['id']}", json=body, headers=user.headers)
    assert (response.status_code, response.json()["labels"]) == (200, [])
    assert await labels_page(client, user) == []


# The label filter.


async def test_label_filter_is_repeatable_and_case_insensitive(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    both = await create_task(client, user, labels=["Work", "urgent"])
    work = await create_task(client, user, labels=["work"])
    urgent = await create_task(client, user, labels=["URGENT", "home"])
    await create_task(client, user)

    async def found(*labels: str) -> set[int]:
        return set(await ids(client, user, label=list(labels)))

    assert await found("work") == {both["id"], work["id"]}
    assert await found("WORK") == {both["id"], work["id"]}
    assert await found("Urgent") == {both["id"], urgent["id"]}
    assert await found("work", "urgent") == {both["id"]}
    assert await found("uRgEnT", "WoRk", "work") == {both["id"]}
    assert await found("work", "home") == set()
    assert await found("nothing") == set()
    body = await page(client, user, label=["urgent"], limit=1)
    assert (len(body["items"]), body["total"], body["pages"]) == (1, 2, 2)


@pytest.fixture
async def labelled(
    client: httpx.AsyncClient, users: UserFactory, user: SignedInUser, clock: FakeClock
) -> dict[str, Any]:
    """Tasks spread over every filter's values, each with labels; `NOW` is the app's now."""
    member = await users.create()
    work = await create_list(client, user, "Work")
    shared = await create_list(client, user, "Shared")
    await share(client, user, shared, member, "editor")
    day = timedelta(days=1)
    specs: list[dict[str, Any]] = [
        {"title": "report", "list_id": work, "priority": "high", "due_date": NOW - day,
         "labels": ["Work", "urgent"]},
        {"title": "Report draft", "list_id": work, "status": "completed", "due_date": NOW - 2 * day,
         "labels": ["work"]},
        {"title": "email", "list_id": work, "status": "in_progress", "priority": "low", "due_date": NOW + day,
         "labels": ["WORK", "home"]},
        {"title": "groceries", "labels": ["home"]},
        {"title": "plan", "list_id": shared, "priority": "high", "assignee_id": member.id,
         "due_date": NOW + 3 * day, "labels": ["work", "Urgent"]},
        {"title": "call", "list_id": shared, "priority": "low", "assignee_id": member.id,
         "description": "then REPORT back", "labels": ["work"]},
        {"title": "misc", "priority": "low", "due_date": NOW + 2 * day},
        {"title": "old", "list_id": work, "priority": "low", "due_date": NOW - 5 * day,
         "labels": ["work", "urgent"]},
        {"title": "due now", "list_id": shared, "due_date": NOW, "labels": ["Work"]},
    ]  # fmt: skip
    tasks = {}
    for spec in specs:
        if "due_date" in spec:
            spec["due_date"] = iso(spec["due_date"])
        tasks[spec["title"]] = await create_task(client, user, **spec)
    tasks["sub report"] = await subtask(
        client, user, tasks["report"], due_date=iso(NOW - timedelta(hours=3)), labels=["urgent", "work"]
    )
    tasks["sub plan"] = await subtask(client, user, tasks["plan"], status="completed", labels=["work"])
    tasks["sub sub"] = await subtask(client, user, tasks["sub plan"], labels=["Urgent", "home"])
    return {"tasks": tasks, "work": work, "shared": shared, "member": member}


def carries(task: dict[str, Any], labels: list[str]) -> bool:
    keys = {name.casefold() for name in task["labels"]}
    return all(label.casefold() in keys for label in labels)


def due(task: dict[str, Any]) -> datetime | None:
    return None if task["due_date"] is None else at(task["due_date"])


def is_overdue(task: dict[str, Any]) -> bool:
    moment = due(task)
    return moment is not None and moment < NOW and task["status"] != "completed"


def other_filters(data: dict[str, Any]) -> list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]]:
    """Each filter of GET /tasks but `label`, with the rule it stands for (shared/API.md)."""
    tasks = data["tasks"]
    return [
        ({}, lambda t: True),
        ({"status_filter": "todo"}, lambda t: t["status"] == "todo"),
        ({"status_filter": "completed"}, lambda t: t["status"] == "completed"),
        ({"status_filter": "in_progress"}, lambda t: t["status"] == "in_progress"),
        ({"priority": "high"}, lambda t: t["priority"] == "high"),
        ({"priority": "low"}, lambda t: t["priority"] == "low"),
        ({"q": "report"}, lambda t: "report" in (t["title"] + " " + (t["description"] or "")).casefold()),
        ({"list_id": data["work"]}, lambda t: t["list_id"] == data["work"]),
        ({"list_id": data["shared"]}, lambda t: t["list_id"] == data["shared"]),
        ({"assignee_id": data["member"].id}, lambda t: t["assignee_id"] == data["member"].id),
        ({"parent_id": tasks["report"]["id"]}, lambda t: t["parent_id"] == tasks["report"]["id"]),
        ({"parent_id": tasks["plan"]["id"]}, lambda t: t["parent_id"] == tasks["plan"]["id"]),
        ({"top_level": "true"}, lambda t: t["parent_id"] is None),
        ({"due_before": iso(NOW)}, lambda t: (d := due(t)) is not None and d < NOW),
        ({"due_after": iso(NOW)}, lambda t: (d := due(t)) is not None and d >= NOW),
        ({"due_after": iso(NOW - timedelta(days=3)), "due_before": iso(NOW + timedelta(days=3))},
         lambda t: (d := due(t)) is not None and NOW - timedelta(days=3) <= d < NOW + timedelta(days=3)),
        ({"overdue": "true"}, is_overdue),
        ({"overdue": "false"}, lambda t: not is_overdue(t)),
        ({"status_filter": "todo", "priority": "high", "top_level": "true"},
         lambda t: t["status"] == "todo" and t["priority"] == "high" and t["parent_id"] is None),
    ]  # fmt: skip


LABEL_SETS = [["work"], ["WORK", "Urgent"], ["home"], ["urgent", "home"], ["none of these"]]


async def test_label_filters_combine_with_every_other_filter_and_total(
    client: httpx.AsyncClient, user: SignedInUser, labelled: dict[str, Any]
) -> None:
    tasks = list(labelled["tasks"].values())
    nonempty = 0
    for labels in LABEL_SETS:
        for params, rule in other_filters(labelled):
            expected = {t["id"] for t in tasks if carries(t, labels) and rule(t)}
            body = await page(client, user, label=labels, **params)
            note = (labels, params)
            assert {item["id"] for item in body["items"]} == expected, note
            assert body["total"] == len(expected), note
            nonempty += bool(expected)
            if len(expected) > 1:
                # `total` counts every match, not the page.
                body = await page(client, user, label=labels, **params, limit=1, skip=1)
                assert (len(body["items"]), body["total"], body["page"]) == (1, len(expected), 2), note
                assert body["pages"] == len(expected), note
    assert nonempty > len(LABEL_SETS) * len(other_filters(labelled)) // 3  # the cases mean something


async def test_a_member_sees_only_the_labelled_tasks_of_lists_they_are_in(
    client: httpx.AsyncClient, user: SignedInUser, labelled: dict[str, Any]
) -> None:
    member = labelled["member"]
    shared = [t for t in labelled["tasks"].values() if t["list_id"] == labelled["shared"]]
    for labels in LABEL_SETS:
        expected = {t["id"] for t in shared if carries(t, labels)}
        body = await page(client, member, label=labels)
        assert ({item["id"] for item in body["items"]}, body["total"]) == (expected, len(expected)), labels
    response = await client.get(
        "/tasks", params={"label": "work", "list_id": labelled["work"]}, headers=member.headers
    )
    assert response.status_code == 404, response.text


# GET /labels.


async def test_labels_lists_every_visible_label_once_with_its_task_count(
    client: httpx.AsyncClient, user: SignedInUser, labelled: dict[str, Any]
) -> None:
    tasks = list(labelled["tasks"].values())
    items = await labels_page(client, user)
    assert set(items[0]) == {"name", "task_count"}
    expected: dict[str, int] = {}
    spellings: dict[str, set[str]] = {}
    for task in tasks:
        for name in task["labels"]:
            expected[name.casefold()] = expected.get(name.casefold(), 0) + 1
            spellings.setdefault(name.casefold(), set()).add(name)
    assert by_key(items) == expected == {"work": 9, "urgent": 5, "home": 3}
    assert all(item["name"] in spellings[item["name"].casefold()] for item in items)
    # The member sees the shared list only.
    shared = [t for t in tasks if t["list_id"] == labelled["shared"]]
    assert by_key(await labels_page(client, labelled["member"])) == {"work": 4, "urgent": 2, "home": 1}
    assert len(shared) == 5


async def test_labels_are_sorted_case_insensitively_and_other_users_lists_do_not_count(
    client: httpx.AsyncClient, user: SignedInUser, users: UserFactory
) -> None:
    stranger = await users.create()
    names = ["beta", "Alpha", "alpha2", "Gamma", "_under", "delta", "Zeta", "épée", "9lives", "Beta-2"]
    for n, name in enumerate(names):
        await create_task(client, user, labels=[name, "Common" if n % 2 else "common"])
    theirs = await create_list(client, stranger, "theirs")
    await create_task(client, stranger, list_id=theirs, labels=["secret", "common", "alpha"])
    await create_task(client, stranger, labels=["inbox secret"])
    items = await labels_page(client, user)
    shown = [item["name"] for item in items]
    assert shown == sorted(shown, key=str.casefold)
    assert {name.casefold() for name in shown} == {name.casefold() for name in [*names, "common"]}
    assert by_key(items)["common"] == len(names)
    assert by_key(items)["alpha"] == 1
    assert all(item["task_count"] == 1 for item in items if item["name"].casefold() != "common")
    # Once the stranger shares their list, its labels count too; their inbox stays theirs.
    await share(client, stranger, theirs, user, "viewer")
    counts = by_key(await labels_page(client, user))
    assert (counts["secret"], counts["common"], counts["alpha"]) == (1, len(names) + 1, 2)
    assert "inbox secret" not in counts
    assert by_key(await labels_page(client, stranger)) == {
        "secret": 1,
        "common": 1,
        "alpha": 1,
        "inbox secret": 1,
    }


async def test_labels_follow_deletions_and_moves_out_of_sight(
    client: httpx.AsyncClient, user: SignedInUser, users: UserFactory
) -> None:
    other = await users.create()
    shared = await create_list(client, other, "shared")
    await share(client, other, shared, user, "editor")
    parent = await create_task(client, user, labels=["gone"])
    await subtask(client, user, parent, labels=["Gone", "sub"])
    moving = await create_task(client, user, labels=["moving"])
    assert by_key(await labels_page(client, user)) == {"gone": 2, "sub": 1, "moving": 1}
    assert (await client.delete(f"/tasks/{parent['id']}", headers=user.headers)).status_code == 204
    assert by_key(await labels_page(client, user)) == {"moving": 1}
    assert await ids(client, user, label="gone") == []
    response = await patch(client, user, moving["id"], list_id=shared)
    assert response.status_code == 200, response.text
    assert by_key(await labels_page(client, other)) == {"moving": 1}
    await client.delete(f"/lists/{shared}/members/{user.id}", headers=user.headers)
    assert await labels_page(client, user) == []
