"""Recurring tasks and completions (shared/API.md, "Subtasks, order and recurrence" and
"Completions"): RFC 5545 rules expanded in the task's time zone, each case's due dates written out
by hand; what completing a recurring task does, however it is completed; validation; restarting a
series; the completion history."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import SignedInUser, UserFactory, create_task
from tests.task_factories import (
    COMPLETE_BY,
    PAGE_FIELDS,
    FakeClock,
    assert_invalid,
    at,
    complete,
    complete_by,
    completions,
    create_list,
    fake_clock,
    get,
    instant,
    patch,
    put,
    share,
    subtask,
)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[FakeClock]:
    with fake_clock(app, datetime(2026, 1, 1, tzinfo=UTC)) as fake:
        yield fake


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


@dataclass(frozen=True)
class Case:
    """A recurring task due `first`; completed at each step's `now`, it is next due at the step's
    due date, written out by hand (UTC), or completed for good (None)."""

    rule: str
    first: str
    steps: list[tuple[str, str | None]]
    timezone: str = "UTC"


CASES = {
    "daily": Case(
        "FREQ=DAILY",
        "2026-03-02T09:00:00Z",
        [
            ("2026-03-02T08:00:00Z", "2026-03-03T09:00:00Z"),
            # An hour late: the next day still.
            ("2026-03-03T10:00:00Z", "2026-03-04T09:00:00Z"),
            # Ahead of time: after the old due date, not the one after now.
            ("2026-03-03T11:00:00Z", "2026-03-05T09:00:00Z"),
        ],
    ),
    "every other day": Case(
        "FREQ=DAILY;INTERVAL=2",
        "2026-03-02T09:00:00Z",
        [("2026-03-02T08:00:00Z", "2026-03-04T09:00:00Z"), ("2026-03-02T08:00:00Z", "2026-03-06T09:00:00Z")],
    ),
    "weekly on Monday and Wednesday": Case(
        "FREQ=WEEKLY;BYDAY=MO,WE",
        "2026-03-02T10:00:00Z",  # a Monday
        [
            ("2026-03-02T09:00:00Z", "2026-03-04T10:00:00Z"),
            ("2026-03-04T09:00:00Z", "2026-03-09T10:00:00Z"),
            ("2026-03-09T09:00:00Z", "2026-03-11T10:00:00Z"),
            ("2026-03-11T09:00:00Z", "2026-03-16T10:00:00Z"),
        ],
    ),
    "monthly on the 31st": Case(
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "2026-01-31T12:00:00Z",
        [
            ("2026-01-31T08:00:00Z", "2026-03-31T12:00:00Z"),
            ("2026-01-31T08:00:00Z", "2026-05-31T12:00:00Z"),
            ("2026-01-31T08:00:00Z", "2026-07-31T12:00:00Z"),
            ("2026-01-31T08:00:00Z", "2026-08-31T12:00:00Z"),
            ("2026-01-31T08:00:00Z", "2026-10-31T12:00:00Z"),
            ("2026-01-31T08:00:00Z", "2026-12-31T12:00:00Z"),
            ("2026-01-31T08:00:00Z", "2027-01-31T12:00:00Z"),
        ],
    ),
    "yearly on 29 February": Case(
        "FREQ=YEARLY",
        "2024-02-29T08:00:00Z",
        [("2024-02-29T07:00:00Z", "2028-02-29T08:00:00Z"), ("2026-06-01T00:00:00Z", "2032-02-29T08:00:00Z")],
    ),
    "yearly on 29 February, spelled out": Case(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "2028-02-29T08:00:00Z",
        [("2028-02-29T07:00:00Z", "2032-02-29T08:00:00Z"), ("2028-02-29T07:00:00Z", "2036-02-29T08:00:00Z")],
    ),
    # Europe/Berlin: CET (UTC+1) until 29 March 2026, CEST (UTC+2) until 25 October 2026.
    "09:00 Berlin into summer time": Case(
        "FREQ=DAILY",
        "2026-03-27T08:00:00Z",
        [
            ("2026-03-27T07:00:00Z", "2026-03-28T08:00:00Z"),
            ("2026-03-27T07:00:00Z", "2026-03-29T07:00:00Z"),
            ("2026-03-27T07:00:00Z", "2026-03-30T07:00:00Z"),
        ],
        "Europe/Berlin",
    ),
    "09:00 Berlin out of summer time": Case(
        "FREQ=DAILY",
        "2026-10-24T07:00:00Z",
        [
            ("2026-10-24T06:00:00Z", "2026-10-25T08:00:00Z"),
            ("2026-10-24T06:00:00Z", "2026-10-26T08:00:00Z"),
        ],
        "Europe/Berlin",
    ),
    # America/New_York: EST (UTC-5) until 8 March 2026, EDT (UTC-4) until 1 November 2026.
    "09:00 New York into summer time": Case(
        "FREQ=DAILY",
        "2026-03-07T14:00:00Z",
        [
            ("2026-03-07T13:00:00Z", "2026-03-08T13:00:00Z"),
            ("2026-03-07T13:00:00Z", "2026-03-09T13:00:00Z"),
        ],
        "America/New_York",
    ),
    "09:00 New York out of summer time": Case(
        "FREQ=DAILY",
        "2026-10-31T13:00:00Z",
        [
            ("2026-10-31T12:00:00Z", "2026-11-01T14:00:00Z"),
            ("2026-10-31T12:00:00Z", "2026-11-02T14:00:00Z"),
        ],
        "America/New_York",
    ),
    "weekly on Monday in Berlin, across the change": Case(
        "FREQ=WEEKLY",
        "2026-03-23T17:30:00Z",  # Monday 18:30 CET
        [("2026-03-23T17:00:00Z", "2026-03-30T16:30:00Z"), ("2026-03-23T17:00:00Z", "2026-04-06T16:30:00Z")],
        "Europe/Berlin",
    ),
    # Monday 00:30 in Tokyo (UTC+9) is Sunday in UTC: BYDAY is read on the local calendar.
    "weekly on Monday in Tokyo": Case(
        "FREQ=WEEKLY;BYDAY=MO",
        "2026-03-01T15:30:00Z",
        [("2026-03-01T15:00:00Z", "2026-03-08T15:30:00Z"), ("2026-03-01T15:00:00Z", "2026-03-15T15:30:00Z")],
        "Asia/Tokyo",
    ),
    "COUNT exhausted": Case(
        "FREQ=DAILY;COUNT=3",
        "2026-03-02T09:00:00Z",
        [
            ("2026-03-02T08:00:00Z", "2026-03-03T09:00:00Z"),
            ("2026-03-03T08:00:00Z", "2026-03-04T09:00:00Z"),
            ("2026-03-04T08:00:00Z", None),
        ],
    ),
    "UNTIL exhausted": Case(
        "FREQ=DAILY;UNTIL=20260305T090000Z",
        "2026-03-03T09:00:00Z",
        [
            ("2026-03-03T08:00:00Z", "2026-03-04T09:00:00Z"),
            ("2026-03-04T08:00:00Z", "2026-03-05T09:00:00Z"),
            ("2026-03-05T08:00:00Z", None),
        ],
    ),
    "UNTIL between occurrences": Case(
        "FREQ=WEEKLY;UNTIL=20260320T000000Z",
        "2026-03-02T09:00:00Z",
        [
            ("2026-03-02T08:00:00Z", "2026-03-09T09:00:00Z"),
            ("2026-03-02T08:00:00Z", "2026-03-16T09:00:00Z"),
            ("2026-03-02T08:00:00Z", None),
        ],
    ),
    "overdue daily completed days late": Case(
        "FREQ=DAILY",
        "2026-03-02T09:00:00Z",
        [
            # The next occurrence after now, not the day after the old due date.
            ("2026-03-06T15:00:00Z", "2026-03-07T09:00:00Z"),
            ("2026-03-06T15:00:00Z", "2026-03-08T09:00:00Z"),
            # Before today's occurrence: today's.
            ("2026-03-12T08:00:00Z", "2026-03-12T09:00:00Z"),
        ],
    ),
    "overdue past the end of its COUNT": Case(
        "FREQ=DAILY;COUNT=3",
        "2026-03-02T09:00:00Z",
        [("2026-03-10T09:00:00Z", None)],
    ),
    "the RRULE: prefix": Case(
        "RRULE:FREQ=WEEKLY;BYDAY=FR",
        "2026-03-06T09:00:00Z",  # a Friday
        [("2026-03-06T08:00:00Z", "2026-03-13T09:00:00Z")],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_recurrence_table(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock, case: Case
) -> None:
    """Each step completes the task a different way (POST complete, PATCH status, PUT), in turn."""
    clock.set(case.first)
    task = await create_task(
        client, user, title="chore", due_date=case.first, recurrence=case.rule, timezone=case.timezone
    )
    assert task["recurrence"] == case.rule.removeprefix("RRULE:")
    assert (task["timezone"], at(task["due_date"])) == (case.timezone, at(case.first))
    due = case.first
    expected_history = []
    for n, (now, upcoming) in enumerate(case.steps):
        clock.set(now)
        how = COMPLETE_BY[n % len(COMPLETE_BY)]
        answered = await complete_by(client, user, task, how)
        note = (n, how, now)
        expected_history.append((at(now), at(due)))
        if upcoming is None:
            assert answered["status"] == "completed", note
            assert answered["is_completed"] is True, note
            assert instant(answered["completed_at"]) == at(now), note
            assert instant(answered["due_date"]) == at(due), note
        else:
            assert (answered["status"], answered["is_completed"], answered["completed_at"]) == (
                "todo",
                False,
                None,
            ), note
            assert instant(answered["due_date"]) == at(upcoming), note
            due = upcoming
        assert answered["recurrence"] == case.rule.removeprefix("RRULE:"), note
        assert await get(client, user, task["id"]) == answered, note
    history = await completions(client, user, task["id"], limit=100)
    assert history["total"] == len(case.steps)
    recorded = [(at(item["completed_at"]), instant(item["due_date"])) for item in history["items"]]
    assert recorded == list(reversed(expected_history))
    assert {item["completed_by"] for item in history["items"]} == {user.id}


@pytest.mark.parametrize("how", COMPLETE_BY)
async def test_completing_a_recurring_task_reopens_its_subtasks(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock, how: str
) -> None:
    clock.set("2026-03-02T08:00:00Z")
    task = await create_task(
        client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY", status="in_progress"
    )
    done = await subtask(client, user, task, title="done")
    done_below = await subtask(client, user, done, title="done below")
    still_open = await subtask(client, user, task, title="open", status="in_progress")
    for completed in (done_below, done):
        assert (await complete(client, user, completed["id"])).status_code == 200
    clock.set("2026-03-02T08:30:00Z")
    answered = await complete_by(client, user, task, how)
    assert (answered["status"], answered["completed_at"]) == ("todo", None)
    assert at(answered["due_date"]) == at("2026-03-03T09:00:00Z")
    for reopened in (done, done_below):
        now = await get(client, user, reopened["id"])
        assert (now["status"], now["is_completed"], now["completed_at"]) == ("todo", False, None)
    assert (await get(client, user, still_open["id"]))["status"] in ("todo", "in_progress")
    history = await completions(client, user, task["id"])
    assert [(at(i["completed_at"]), at(i["due_date"])) for i in history["items"]] == [
        (at("2026-03-02T08:30:00Z"), at("2026-03-02T09:00:00Z"))
    ]


async def test_the_last_occurrence_completes_the_subtasks_too(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    clock.set("2026-03-02T08:00:00Z")
    task = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY;COUNT=1")
    child = await subtask(client, user, task)
    answered = (await complete(client, user, task["id"])).json()
    assert (answered["status"], at(answered["completed_at"])) == ("completed", at("2026-03-02T08:00:00Z"))
    assert (await get(client, user, child["id"]))["status"] == "completed"


# Validation.


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY",
        "FREQ=MINUTELY",
        "FREQ=SECONDLY",
        "every monday",
        "BYDAY=MO",
        "FREQ=FORTNIGHTLY",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY;COUNT=abc",
        "FREQ=DAILY;NOPE=1",
        "",
        "RRULE:",
        "FREQ=DAILY\nFREQ=WEEKLY",
        "FREQ=DAILY;UNTIL=20260310T090000",  # UNTIL not in UTC
    ],
)
async def test_an_unusable_rule_is_refused(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock, rule: str
) -> None:
    due = "2026-03-02T09:00:00Z"
    response = await client.post(
        "/tasks", json={"title": "x", "due_date": due, "recurrence": rule}, headers=user.headers
    )
    assert_invalid(response, "body", "recurrence")
    task = await create_task(client, user, due_date=due)
    assert_invalid(await patch(client, user, task["id"], recurrence=rule), "body", "recurrence")
    assert_invalid(await put(client, user, task, recurrence=rule), "body", "recurrence")
    assert (await get(client, user, task["id"]))["recurrence"] is None


async def test_the_rrule_prefix_is_accepted_and_dropped(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    task = await create_task(
        client, user, due_date="2026-03-02T09:00:00Z", recurrence="RRULE:FREQ=MONTHLY;BYMONTHDAY=2"
    )
    assert task["recurrence"] == "FREQ=MONTHLY;BYMONTHDAY=2"
    response = await patch(client, user, task["id"], recurrence="RRULE:FREQ=YEARLY")
    assert (response.status_code, response.json()["recurrence"]) == (200, "FREQ=YEARLY")


async def test_a_recurrence_needs_a_due_date(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    response = await client.post(
        "/tasks", json={"title": "x", "recurrence": "FREQ=DAILY"}, headers=user.headers
    )
    assert_invalid(response, "body")
    plain = await create_task(client, user)
    assert_invalid(await patch(client, user, plain["id"], recurrence="FREQ=DAILY"), "body")
    assert_invalid(await put(client, user, plain, recurrence="FREQ=DAILY"), "body")
    recurring = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY")
    assert_invalid(await patch(client, user, recurring["id"], due_date=None), "body")
    assert_invalid(await put(client, user, recurring, due_date=None), "body")
    assert await get(client, user, recurring["id"]) == recurring
    assert await get(client, user, plain["id"]) == plain
    # Clearing both at once, or the recurrence first, is fine.
    response = await patch(client, user, recurring["id"], recurrence=None, due_date=None)
    assert (response.status_code, response.json()["recurrence"], response.json()["due_date"]) == (
        200,
        None,
        None,
    )
    again = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY")
    response = await patch(client, user, again["id"], recurrence=None)
    assert (response.status_code, response.json()["recurrence"]) == (200, None)
    response = await patch(client, user, again["id"], due_date=None)
    assert (response.status_code, response.json()["due_date"]) == (200, None)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "CEST+2", "utc/"])
async def test_an_unknown_time_zone_is_refused(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock, zone: str
) -> None:
    response = await client.post("/tasks", json={"title": "x", "timezone": zone}, headers=user.headers)
    assert_invalid(response, "body", "timezone")
    task = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY")
    assert_invalid(await patch(client, user, task["id"], timezone=zone), "body", "timezone")
    assert_invalid(await put(client, user, task, timezone=zone), "body", "timezone")
    assert (await get(client, user, task["id"]))["timezone"] == "UTC"


async def test_timezone_defaults_to_utc_and_takes_iana_names(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    assert (await create_task(client, user))["timezone"] == "UTC"
    task = await create_task(client, user, timezone="Asia/Kolkata")
    assert task["timezone"] == "Asia/Kolkata"
    response = await client.put(f"/tasks/{task['id']}", json={"title": "whole"}, headers=user.headers)
    assert response.json()["timezone"] == "UTC"


# Restarting a series.


async def test_setting_the_due_date_by_hand_restarts_the_series(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    clock.set("2026-03-02T08:00:00Z")
    task = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY;COUNT=3")
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-03-03T09:00:00Z")
    # Other changes leave the series as it is.
    assert (await patch(client, user, task["id"], title="renamed", priority="high")).status_code == 200
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-03-04T09:00:00Z")
    # A new due date: COUNT counts from it.
    response = await patch(client, user, task["id"], due_date="2026-04-01T18:00:00Z")
    assert response.status_code == 200, response.text
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-04-02T18:00:00Z")
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-04-03T18:00:00Z")
    answered = (await complete(client, user, task["id"])).json()
    assert (answered["status"], at(answered["due_date"])) == ("completed", at("2026-04-03T18:00:00Z"))


async def test_setting_the_recurrence_by_hand_restarts_the_series(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    clock.set("2026-03-02T08:00:00Z")
    task = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY;COUNT=2")
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-03-03T09:00:00Z")
    # From the 3rd: the 3rd, 5th and 7th.
    response = await patch(client, user, task["id"], recurrence="FREQ=DAILY;INTERVAL=2;COUNT=3")
    assert response.status_code == 200, response.text
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-03-05T09:00:00Z")
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-03-07T09:00:00Z")
    assert (await complete(client, user, task["id"])).json()["status"] == "completed"


async def test_put_with_a_new_due_date_restarts_the_series(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    clock.set("2026-03-02T08:00:00Z")
    task = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY;COUNT=2")
    task = (await complete(client, user, task["id"])).json()
    # The same PUT as what the task is: nothing restarts.
    response = await put(client, user, task)
    assert response.status_code == 200, response.text
    response = await put(client, user, task, due_date="2026-05-10T07:00:00Z")
    assert response.status_code == 200, response.text
    assert at((await complete(client, user, task["id"])).json()["due_date"]) == at("2026-05-11T07:00:00Z")
    assert (await complete(client, user, task["id"])).json()["status"] == "completed"


async def test_reopening_a_finished_series_and_completing_it_again(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    clock.set("2026-03-02T08:00:00Z")
    task = await create_task(client, user, due_date="2026-03-02T09:00:00Z", recurrence="FREQ=DAILY;COUNT=1")
    assert (await complete(client, user, task["id"])).json()["status"] == "completed"
    # Completing it again changes and records nothing.
    assert (await complete(client, user, task["id"])).json()["status"] == "completed"
    assert (await completions(client, user, task["id"]))["total"] == 1
    reopened = (await patch(client, user, task["id"], status="todo")).json()
    assert (reopened["status"], reopened["completed_at"]) == ("todo", None)
    assert (await complete(client, user, task["id"])).json()["status"] == "completed"
    assert (await completions(client, user, task["id"]))["total"] == 2


# The history of completions.


async def test_completions_page_newest_first(
    client: httpx.AsyncClient, user: SignedInUser, users: UserFactory, clock: FakeClock
) -> None:
    member = await users.create()
    list_id = await create_list(client, user, "Chores")
    await share(client, user, list_id, member, "editor")
    task = await create_task(client, user, list_id=list_id)
    moments = [f"2026-03-0{day}T10:00:00Z" for day in range(1, 6)]
    completers = [user, member, user, member, user]
    for n, (moment, who) in enumerate(zip(moments, completers, strict=True)):
        clock.set(moment)
        await complete_by(client, who, task, COMPLETE_BY[n % len(COMPLETE_BY)])
        # A second completion of a completed task records nothing.
        assert (await complete(client, who, task["id"])).status_code == 200
        clock.advance(hours=1)
        reopened = await patch(client, who, task["id"], status="todo")
        assert reopened.status_code == 200, reopened.text
    newest_first = list(reversed(list(zip(moments, completers, strict=True))))
    pages = []
    for skip in (0, 2, 4):
        body = await completions(client, user, task["id"], skip=skip, limit=2)
        assert set(body) == PAGE_FIELDS
        assert {k: body[k] for k in ("total", "skip", "limit", "page", "page_size", "pages")} == {
            "total": 5,
            "skip": skip,
            "limit": 2,
            "page": skip // 2 + 1,
            "page_size": 2,
            "pages": 3,
        }
        pages += body["items"]
    assert all(set(item) == {"completed_at", "due_date", "completed_by"} for item in pages)
    assert [(at(item["completed_at"]), item["completed_by"], item["due_date"]) for item in pages] == [
        (at(moment), who.id, None) for moment, who in newest_first
    ]
    assert (await completions(client, user, task["id"], skip=10))["items"] == []
    # A viewer reads them too; someone who cannot see the task gets a 404.
    assert (await completions(client, member, task["id"]))["total"] == 5
    stranger = await users.create()
    for task_id in (task["id"], task["id"] + 1000):
        response = await client.get(f"/tasks/{task_id}/completions", headers=stranger.headers)
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    for params in ({"limit": 0}, {"limit": 101}, {"skip": -1}):
        response = await client.get(f"/tasks/{task['id']}/completions", params=params, headers=user.headers)
        assert response.status_code == 422, (params, response.text)


async def test_a_task_never_completed_has_no_completions(
    client: httpx.AsyncClient, user: SignedInUser, clock: FakeClock
) -> None:
    task = await create_task(client, user, due_date="2026-03-02T09:00:00Z")
    body = await completions(client, user, task["id"])
    assert (body["items"], body["total"], body["pages"]) == ([], 0, 0)
    assert (await patch(client, user, task["id"], status="in_progress")).status_code == 200
    assert (await completions(client, user, task["id"]))["total"] == 0
    clock.set("2026-03-03T00:00:00Z")
    assert (await complete(client, user, task["id"])).status_code == 200
    (item,) = (await completions(client, user, task["id"]))["items"]
    assert (at(item["completed_at"]), at(item["due_date"])) == (
        at("2026-03-03T00:00:00Z"),
        at("2026-03-02T09:00:00Z"),
    )
