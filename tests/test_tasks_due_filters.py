"""due_after (inclusive), due_before (exclusive) and overdue, combined with every other filter."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task

NOW = datetime.now(UTC).replace(microsecond=0)
PAST = NOW - timedelta(days=2)
FUTURE = NOW + timedelta(days=2)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


@pytest.fixture
async def tasks(client: httpx.AsyncClient, user: SignedInUser) -> dict[str, dict[str, Any]]:
    specs = {
        "late": {"due_date": iso(PAST), "priority": "high"},
        "late_done": {"due_date": iso(PAST), "status": "completed"},
        "late_low": {"due_date": iso(PAST - timedelta(hours=1)), "priority": "low", "description": "report"},
        "soon": {"due_date": iso(FUTURE)},
        "undated": {},
    }
    return {name: await create_task(client, user, title=name, **spec) for name, spec in specs.items()}


async def titles(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> tuple[set[str], int]:
    response = await client.get("/tasks", params={"limit": 100, **params}, headers=user.headers)
    assert response.status_code == 200, response.text
    page = response.json()
    return {item["title"] for item in page["items"]}, page["total"]


async def test_overdue_is_due_in_the_past_and_not_completed(
    client: httpx.AsyncClient, user: SignedInUser, tasks: dict[str, Any]
) -> None:
    assert await titles(client, user, overdue="true") == ({"late", "late_low"}, 2)


async def test_not_overdue_is_every_other_task(
    client: httpx.AsyncClient, user: SignedInUser, tasks: dict[str, Any]
) -> None:
    assert await titles(client, user, overdue="false") == ({"late_done", "soon", "undated"}, 3)


async def test_due_after_is_inclusive_and_due_before_exclusive(
    client: httpx.AsyncClient, user: SignedInUser, tasks: dict[str, Any]
) -> None:
    assert await titles(client, user, due_after=iso(PAST)) == ({"late", "late_done", "soon"}, 3)
    assert await titles(client, user, due_before=iso(PAST)) == ({"late_low"}, 1)
    window = await titles(client, user, due_after=iso(PAST - timedelta(hours=2)), due_before=iso(NOW))
    assert window == ({"late", "late_done", "late_low"}, 3)


async def test_a_naive_bound_is_read_as_utc(
    client: httpx.AsyncClient, user: SignedInUser, tasks: dict[str, Any]
) -> None:
    naive = PAST.replace(tzinfo=None).isoformat()
    assert await titles(client, user, due_after=naive, due_before=iso(NOW)) == ({"late", "late_done"}, 2)


async def test_an_offset_bound_is_converted(
    client: httpx.AsyncClient, user: SignedInUser, tasks: dict[str, Any]
) -> None:
    # PAST at +02:00 on the wall clock is PAST in UTC.
    plus_two = (PAST + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    assert await titles(client, user, due_after=plus_two, due_before=iso(NOW)) == ({"late", "late_done"}, 2)


async def test_due_filters_combine_with_the_others_and_total_counts_the_filtered_set(
    client: httpx.AsyncClient, user: SignedInUser, tasks: dict[str, Any]
) -> None:
    assert await titles(client, user, overdue="true", priority="high") == ({"late"}, 1)
    assert await titles(client, user, overdue="true", q="REPORT") == ({"late_low"}, 1)
    assert await titles(client, user, due_before=iso(NOW), status_filter="completed") == ({"late_done"}, 1)
    page = (
        await client.get(
            "/tasks",
            params={"overdue": "true", "sort": "-priority", "limit": 1, "skip": 1},
            headers=user.headers,
        )
    ).json()
    assert [item["title"] for item in page["items"]] == ["late_low"]
    assert (page["total"], page["pages"], page["page"]) == (2, 2, 2)


async def test_other_users_tasks_never_count(
    client: httpx.AsyncClient, users: UserFactory, user: SignedInUser, tasks: dict[str, Any]
) -> None:
    other = await users.create()
    await create_task(client, other, title="theirs", due_date=iso(PAST))
    assert await titles(client, other, overdue="true") == ({"theirs"}, 1)
    assert (await titles(client, user, overdue="true"))[1] == 2


@pytest.mark.parametrize(
    ("name", "value"), [("overdue", "maybe"), ("due_before", "tomorrow"), ("due_after", "2026-13-01")]
)
async def test_a_bad_bound_is_422(
    client: httpx.AsyncClient, user: SignedInUser, name: str, value: str
) -> None:
    response = await client.get("/tasks", params={name: value}, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
