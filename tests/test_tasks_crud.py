"""Creating, reading, replacing, patching, completing and deleting one task."""

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|\+00:00)$")
TASK_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "is_completed",
    "completed_at",
    "created_at",
    "updated_at",
    "list_id",
    "assignee_id",
    "created_by",
    "parent_id",
    "position",
    "labels",
    "recurrence",
    "timezone",
}
READ_ONLY_FIELDS: dict[str, Any] = {
    "id": 12345,
    "created_by": 1,
    "position": "a0",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "completed_at": "2026-01-01T00:00:00Z",
    "is_completed": False,
}
FULL_BODY: dict[str, Any] = {
    "title": "Write report",
    "description": "Quarterly numbers",
    "status": "in_progress",
    "priority": "high",
    "due_date": "2030-05-06T07:08:09Z",
}


def parse_utc(value: str) -> datetime:
    """A timestamp from a response, checked to be ISO 8601 with an explicit UTC offset."""
    assert ISO_UTC.match(value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None
    assert parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    return parsed


def assert_validation_error(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    detail = body["detail"]
    assert isinstance(detail, list)
    assert detail
    for error in detail:
        assert {"loc", "msg", "type"} <= error.keys()
    return detail


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["code"] == "not_found"
    assert isinstance(body["detail"], str)


async def send(
    client: httpx.AsyncClient, method: str, path: str, user: SignedInUser, json: Any = None
) -> httpx.Response:
    return await client.request(method, path, json=json, headers=user.headers)


# --- create -------------------------------------------------------------------------------------


async def test_create_returns_201_with_defaults_and_location(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()

    response = await client.post("/tasks", json={"title": "Write report"}, headers=user.headers)

    assert response.status_code == 201, response.text
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert isinstance(task["id"], int)
    assert task["id"] >= 1
    assert task["title"] == "Write report"
    assert task["description"] is None
    assert task["status"] == "todo"
    assert task["priority"] == "medium"
    assert task["due_date"] is None
    assert task["is_completed"] is False
    assert task["completed_at"] is None
    assert task["created_by"] == user.id
    assert task["assignee_id"] is None
    assert isinstance(task["list_id"], int)
    assert parse_utc(task["created_at"]) == parse_utc(task["updated_at"])
    assert response.headers["Location"] == f"/tasks/{task['id']}"


async def test_create_with_every_writable_field(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    task = await create_task(client, user, **FULL_BODY)

    assert {name: task[name] for name in FULL_BODY if name != "due_date"} == {
        name: value for name, value in FULL_BODY.items() if name != "due_date"
    }
    assert parse_utc(task["due_date"]) == datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert task["is_completed"] is False
    assert task["completed_at"] is None


async def test_created_task_can_be_read_back(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    created = await create_task(client, user, **FULL_BODY)

    response = await client.get(f"/tasks/{created['id']}", headers=user.headers)

    assert response.status_code == 200
    assert response.json() == created


async def test_location_header_points_at_the_task(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    created = await client.post("/tasks", json={"title": "Follow me"}, headers=user.headers)

    response = await client.get(created.headers["Location"], headers=user.headers)

    assert response.status_code == 200
    assert response.json() == created.json()


async def test_title_is_trimmed(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    task = await create_task(client, user, title="  \tBuy milk \n ")

    assert task["title"] == "Buy milk"


@pytest.mark.parametrize("title", ["", " ", "   ", "\t\n "])
async def test_blank_title_is_422(client: httpx.AsyncClient, users: UserFactory, title: str) -> None:
    user = await users.create()

    response = await client.post("/tasks", json={"title": title}, headers=user.headers)

    detail = assert_validation_error(response)
    assert ["body", "title"] in [error["loc"] for error in detail]


async def test_missing_title_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    response = await client.post("/tasks", json={"description": "no title"}, headers=user.headers)

    detail = assert_validation_error(response)
    assert ["body", "title"] in [error["loc"] for error in detail]


@pytest.mark.parametrize("title", ["x" * 200, "  " + "y" * 200 + "  ", "z"])
async def test_title_of_1_to_200_characters_after_trimming_is_accepted(
    client: httpx.AsyncClient, users: UserFactory, title: str
) -> None:
    user = await users.create()

    task = await create_task(client, user, title=title)

    assert task["title"] == title.strip()


async def test_title_of_201_characters_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    response = await client.post("/tasks", json={"title": "x" * 201}, headers=user.headers)

    detail = assert_validation_error(response)
    assert ["body", "title"] in [error["loc"] for error in detail]


async def test_description_of_5000_characters_is_accepted(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()

    task = await create_task(client, user, description="d" * 5000)

    assert task["description"] == "d" * 5000


async def test_description_of_5001_characters_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    response = await client.post(
        "/tasks", json={"title": "t", "description": "d" * 5001}, headers=user.headers
    )

    detail = assert_validation_error(response)
    assert ["body", "description"] in [error["loc"] for error in detail]


@pytest.mark.parametrize(
    ("field", "value"), [("status", "done"), ("status", "COMPLETED"), ("priority", "urgent")]
)
async def test_unknown_enum_value_is_422(
    client: httpx.AsyncClient, users: UserFactory, field: str, value: str
) -> None:
    user = await users.create()

    response = await client.post("/tasks", json={"title": "t", field: value}, headers=user.headers)

    detail = assert_validation_error(response)
    assert ["body", field] in [error["loc"] for error in detail]


@pytest.mark.parametrize(("field", "value"), [("status", "done"), ("priority", "urgent")])
async def test_patch_with_unknown_enum_value_is_422(
    client: httpx.AsyncClient, users: UserFactory, field: str, value: str
) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.patch(f"/tasks/{task['id']}", json={field: value}, headers=user.headers)

    assert_validation_error(response)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("field", sorted(READ_ONLY_FIELDS))
async def test_read_only_field_in_body_is_422(
    client: httpx.AsyncClient, users: UserFactory, method: str, field: str
) -> None:
    user = await users.create()
    task = await create_task(client, user)
    path = "/tasks" if method == "POST" else f"/tasks/{task['id']}"

    response = await send(client, method, path, user, {"title": "t", field: READ_ONLY_FIELDS[field]})

    detail = assert_validation_error(response)
    assert ["body", field] in [error["loc"] for error in detail]
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == task


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_unknown_field_in_body_is_422(
    client: httpx.AsyncClient, users: UserFactory, method: str
) -> None:
    user = await users.create()
    task = await create_task(client, user)
    path = "/tasks" if method == "POST" else f"/tasks/{task['id']}"

    response = await send(client, method, path, user, {"title": "t", "colour": "red"})

    detail = assert_validation_error(response)
    assert ["body", "colour"] in [error["loc"] for error in detail]


async def test_rejected_create_creates_nothing(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    await client.post("/tasks", json={"title": "t", "created_by": 999}, headers=user.headers)
    await client.post("/tasks", json={"title": "   "}, headers=user.headers)

    assert (await client.get("/tasks", headers=user.headers)).json()["total"] == 0


async def test_naive_due_date_is_read_as_utc(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    task = await create_task(client, user, due_date="2030-01-02T03:04:05")

    assert parse_utc(task["due_date"]) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_due_date_with_offset_is_converted_to_utc(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()

    task = await create_task(client, user, due_date="2030-01-02T05:04:05+02:00")

    assert task["due_date"].startswith("2030-01-02T03:04:05")
    assert parse_utc(task["due_date"]) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    fetched = (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json()
    assert parse_utc(fetched["due_date"]) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_patch_due_date_with_offset_is_converted_to_utc(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.patch(
        f"/tasks/{task['id']}", json={"due_date": "2030-01-01T23:30:00-05:00"}, headers=user.headers
    )

    assert response.status_code == 200
    assert parse_utc(response.json()["due_date"]) == datetime(2030, 1, 2, 4, 30, tzinfo=UTC)


async def test_invalid_due_date_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    response = await client.post(
        "/tasks", json={"title": "t", "due_date": "next tuesday"}, headers=user.headers
    )

    assert_validation_error(response)


# --- read ---------------------------------------------------------------------------------------


async def test_get_missing_task_is_404(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.get(f"/tasks/{task['id'] + 1000}", headers=user.headers)

    assert_not_found(response)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PUT", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/complete")],
)
async def test_non_integer_id_is_422(
    client: httpx.AsyncClient, users: UserFactory, method: str, suffix: str
) -> None:
    user = await users.create()

    response = await send(client, method, f"/tasks/abc{suffix}", user, {"title": "t"})

    detail = assert_validation_error(response)
    assert ["path", "task_id"] in [error["loc"] for error in detail]


@pytest.mark.parametrize("task_id", ["99999999999", "9223372036854775808", "0", "-1", "1.5"])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PUT", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/complete")],
)
async def test_out_of_range_id_is_422_or_404(
    client: httpx.AsyncClient, users: UserFactory, method: str, suffix: str, task_id: str
) -> None:
    user = await users.create()

    response = await send(client, method, f"/tasks/{task_id}{suffix}", user, {"title": "t"})

    assert response.status_code in (404, 422), response.text
    assert response.json()["code"] in ("not_found", "validation_error")


# --- replace (PUT) ------------------------------------------------------------------------------


async def test_put_replaces_every_writable_field(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)
    body = {
        "title": "  Replaced  ",
        "description": "new",
        "status": "in_progress",
        "priority": "low",
        "due_date": "2031-02-03T04:05:06+00:00",
    }

    response = await client.put(f"/tasks/{task['id']}", json=body, headers=user.headers)

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["id"] == task["id"]
    assert replaced["created_by"] == user.id
    assert replaced["title"] == "Replaced"
    assert replaced["description"] == "new"
    assert replaced["status"] == "in_progress"
    assert replaced["priority"] == "low"
    assert parse_utc(replaced["due_date"]) == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert replaced["created_at"] == task["created_at"]
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == replaced


async def test_put_resets_omitted_optional_fields_to_defaults(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user, **{**FULL_BODY, "status": "completed"})

    response = await client.put(f"/tasks/{task['id']}", json={"title": "Only a title"}, headers=user.headers)

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["title"] == "Only a title"
    assert replaced["description"] is None
    assert replaced["priority"] == "medium"
    assert replaced["status"] == "todo"
    assert replaced["due_date"] is None
    assert replaced["is_completed"] is False
    assert replaced["completed_at"] is None
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == replaced


async def test_put_without_title_is_422_and_changes_nothing(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user, **FULL_BODY)

    response = await client.put(f"/tasks/{task['id']}", json={"description": "x"}, headers=user.headers)

    detail = assert_validation_error(response)
    assert ["body", "title"] in [error["loc"] for error in detail]
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == task


async def test_put_with_blank_title_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.put(f"/tasks/{task['id']}", json={"title": "  "}, headers=user.headers)

    assert_validation_error(response)


async def test_put_missing_task_is_404(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.put(f"/tasks/{task['id'] + 1000}", json={"title": "t"}, headers=user.headers)

    assert_not_found(response)


# --- patch --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"title": "  Renamed "}, {"title": "Renamed"}),
        ({"description": "more words"}, {"description": "more words"}),
        ({"status": "todo"}, {"status": "todo"}),
        ({"priority": "low"}, {"priority": "low"}),
    ],
)
async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, users: UserFactory, change: dict[str, Any], expected: dict[str, Any]
) -> None:
    user = await users.create()
    task = await create_task(client, user, **FULL_BODY)

    response = await client.patch(f"/tasks/{task['id']}", json=change, headers=user.headers)

    assert response.status_code == 200, response.text
    patched = response.json()
    untouched = TASK_FIELDS - set(expected) - {"updated_at"}
    assert {name: patched[name] for name in untouched} == {name: task[name] for name in untouched}
    assert {name: patched[name] for name in expected} == expected
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == patched


async def test_patch_due_date(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user, **FULL_BODY)

    response = await client.patch(
        f"/tasks/{task['id']}", json={"due_date": "2032-12-31T23:59:59Z"}, headers=user.headers
    )

    assert response.status_code == 200
    patched = response.json()
    assert parse_utc(patched["due_date"]) == datetime(2032, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert patched["title"] == task["title"]
    assert patched["description"] == task["description"]


async def test_empty_patch_changes_nothing(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user, **FULL_BODY)

    response = await client.patch(f"/tasks/{task['id']}", json={}, headers=user.headers)

    assert response.status_code == 200
    assert response.json() == task


@pytest.mark.parametrize("field", ["description", "due_date"])
async def test_patch_explicit_null_clears_optional_field(
    client: httpx.AsyncClient, users: UserFactory, field: str
) -> None:
    user = await users.create()
    task = await create_task(client, user, **FULL_BODY)
    assert task[field] is not None

    response = await client.patch(f"/tasks/{task['id']}", json={field: None}, headers=user.headers)

    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched[field] is None
    assert patched["title"] == task["title"]
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json()[field] is None


@pytest.mark.parametrize("field", ["title", "status", "priority"])
async def test_patch_null_for_required_field_is_422(
    client: httpx.AsyncClient, users: UserFactory, field: str
) -> None:
    user = await users.create()
    task = await create_task(client, user, **FULL_BODY)

    response = await client.patch(f"/tasks/{task['id']}", json={field: None}, headers=user.headers)

    detail = assert_validation_error(response)
    assert ["body", field] in [error["loc"] for error in detail]
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == task


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
async def test_patch_with_invalid_title_is_422(
    client: httpx.AsyncClient, users: UserFactory, title: str
) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.patch(f"/tasks/{task['id']}", json={"title": title}, headers=user.headers)

    assert_validation_error(response)
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == task


async def test_patch_description_of_5001_characters_is_422(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.patch(
        f"/tasks/{task['id']}", json={"description": "d" * 5001}, headers=user.headers
    )

    assert_validation_error(response)


async def test_patch_missing_task_is_404(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.patch(f"/tasks/{task['id'] + 1000}", json={"title": "t"}, headers=user.headers)

    assert_not_found(response)


@pytest.mark.parametrize(
    ("method", "body"),
    [("PATCH", {"title": "Changed"}), ("PUT", {"title": "Changed"}), ("PATCH", {"priority": "low"})],
)
async def test_updated_at_moves_on_a_real_change(
    client: httpx.AsyncClient, users: UserFactory, method: str, body: dict[str, Any]
) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await send(client, method, f"/tasks/{task['id']}", user, body)

    assert response.status_code == 200
    changed = response.json()
    assert changed["created_at"] == task["created_at"]
    assert parse_utc(changed["updated_at"]) > parse_utc(task["updated_at"])
    assert parse_utc(changed["updated_at"]) >= parse_utc(changed["created_at"])


# --- completion ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "is_completed"), [("todo", False), ("in_progress", False), ("completed", True)]
)
async def test_is_completed_mirrors_status(
    client: httpx.AsyncClient, users: UserFactory, status: str, is_completed: bool
) -> None:
    user = await users.create()

    created = await create_task(client, user, status=status)
    other = await create_task(client, user, status="todo" if status == "completed" else "completed")
    patched = (
        await client.patch(f"/tasks/{other['id']}", json={"status": status}, headers=user.headers)
    ).json()

    assert created["is_completed"] is is_completed
    assert patched["is_completed"] is is_completed
    assert (created["completed_at"] is not None) is is_completed
    assert (patched["completed_at"] is not None) is is_completed


async def test_task_created_completed_has_completed_at(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()

    task = await create_task(client, user, status="completed")

    assert task["is_completed"] is True
    assert task["completed_at"] is not None
    assert parse_utc(task["completed_at"]) >= parse_utc(task["created_at"])


async def test_patch_to_completed_sets_completed_at(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.patch(f"/tasks/{task['id']}", json={"status": "completed"}, headers=user.headers)

    assert response.status_code == 200
    done = response.json()
    assert done["status"] == "completed"
    assert done["is_completed"] is True
    assert done["completed_at"] is not None
    assert parse_utc(done["completed_at"]) >= parse_utc(task["created_at"])
    assert parse_utc(done["updated_at"]) > parse_utc(task["updated_at"])


async def test_put_to_completed_sets_completed_at(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.put(
        f"/tasks/{task['id']}", json={"title": "t", "status": "completed"}, headers=user.headers
    )

    assert response.status_code == 200
    done = response.json()
    assert done["is_completed"] is True
    assert done["completed_at"] is not None
    assert parse_utc(done["completed_at"]) >= parse_utc(task["created_at"])


async def test_complete_endpoint_completes(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user, status="in_progress", description="keep me")

    response = await client.post(f"/tasks/{task['id']}/complete", headers=user.headers)

    assert response.status_code == 200
    done = response.json()
    assert done["status"] == "completed"
    assert done["is_completed"] is True
    assert done["completed_at"] is not None
    assert done["description"] == "keep me"
    assert parse_utc(done["updated_at"]) > parse_utc(task["updated_at"])
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == done


async def test_completing_twice_keeps_the_first_completed_at(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user)
    first = (await client.post(f"/tasks/{task['id']}/complete", headers=user.headers)).json()

    response = await client.post(f"/tasks/{task['id']}/complete", headers=user.headers)

    assert response.status_code == 200
    assert response.json()["completed_at"] == first["completed_at"]
    assert response.json()["status"] == "completed"


async def test_completing_a_task_created_completed_keeps_completed_at(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user, status="completed")

    response = await client.post(f"/tasks/{task['id']}/complete", headers=user.headers)

    assert response.status_code == 200
    assert response.json()["completed_at"] == task["completed_at"]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PATCH", {"status": "completed"}),
        ("PATCH", {"title": "Renamed while done"}),
        ("PATCH", {"priority": "high", "description": "still done"}),
        ("PUT", {"title": "Replaced while done", "status": "completed"}),
    ],
)
async def test_completed_at_is_kept_while_the_task_stays_completed(
    client: httpx.AsyncClient, users: UserFactory, method: str, body: dict[str, Any]
) -> None:
    user = await users.create()
    task = await create_task(client, user)
    done = (await client.post(f"/tasks/{task['id']}/complete", headers=user.headers)).json()

    response = await send(client, method, f"/tasks/{task['id']}", user, body)

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["completed_at"] == done["completed_at"]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PATCH", {"status": "todo"}),
        ("PATCH", {"status": "in_progress"}),
        ("PUT", {"title": "Reopened", "status": "in_progress"}),
        ("PUT", {"title": "Reopened by default"}),
    ],
)
async def test_leaving_completed_clears_completed_at(
    client: httpx.AsyncClient, users: UserFactory, method: str, body: dict[str, Any]
) -> None:
    user = await users.create()
    task = await create_task(client, user, status="completed")

    response = await send(client, method, f"/tasks/{task['id']}", user, body)

    assert response.status_code == 200
    reopened = response.json()
    assert reopened["status"] != "completed"
    assert reopened["is_completed"] is False
    assert reopened["completed_at"] is None
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json()["completed_at"] is None


async def test_completing_again_after_reopening_sets_a_new_completed_at(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user)
    first = (await client.post(f"/tasks/{task['id']}/complete", headers=user.headers)).json()
    await client.patch(f"/tasks/{task['id']}", json={"status": "todo"}, headers=user.headers)

    response = await client.post(f"/tasks/{task['id']}/complete", headers=user.headers)

    assert response.status_code == 200
    assert response.json()["completed_at"] is not None
    assert parse_utc(response.json()["completed_at"]) > parse_utc(first["completed_at"])


async def test_complete_missing_task_is_404(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.post(f"/tasks/{task['id'] + 1000}/complete", headers=user.headers)

    assert_not_found(response)


# --- delete -------------------------------------------------------------------------------------


async def test_delete_is_204_with_an_empty_body(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    response = await client.delete(f"/tasks/{task['id']}", headers=user.headers)

    assert response.status_code == 204
    assert response.content == b""


async def test_deleted_task_is_gone(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)
    kept = await create_task(client, user, title="kept")
    await client.delete(f"/tasks/{task['id']}", headers=user.headers)

    assert_not_found(await client.get(f"/tasks/{task['id']}", headers=user.headers))
    assert_not_found(await client.delete(f"/tasks/{task['id']}", headers=user.headers))
    assert_not_found(await client.patch(f"/tasks/{task['id']}", json={"title": "x"}, headers=user.headers))
    page = (await client.get("/tasks", headers=user.headers)).json()
    assert [item["id"] for item in page["items"]] == [kept["id"]]
    assert page["total"] == 1


# --- trailing slash -----------------------------------------------------------------------------


async def test_post_with_trailing_slash_creates_without_redirect(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()

    response = await client.post("/tasks/", json={"title": "Slashed"}, headers=user.headers)

    assert response.status_code == 201, response.text
    task = response.json()
    assert task["title"] == "Slashed"
    assert task["created_by"] == user.id
    assert response.headers["Location"] == f"/tasks/{task['id']}"


async def test_get_with_trailing_slash_answers_like_the_collection(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    await create_task(client, user, title="open")
    done = await create_task(client, user, title="done", status="completed")
    query = "?skip=0&limit=10&status_filter=completed"

    slashed = await client.get(f"/tasks/{query}", headers=user.headers)
    plain = await client.get(f"/tasks{query}", headers=user.headers)

    assert slashed.status_code == 200, slashed.text
    assert "Location" not in slashed.headers
    assert slashed.json() == plain.json()
    assert [item["id"] for item in slashed.json()["items"]] == [done["id"]]
    assert slashed.json()["limit"] == 10


async def test_trailing_slash_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/tasks/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/tasks"),
        ("GET", "/tasks"),
        ("GET", "/tasks/1"),
        ("PUT", "/tasks/1"),
        ("PATCH", "/tasks/1"),
        ("DELETE", "/tasks/1"),
        ("POST", "/tasks/1/complete"),
    ],
)
async def test_every_task_route_needs_a_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={"title": "t"})

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "not_authenticated"
    assert isinstance(response.json()["detail"], str)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_no_token_changes_nothing(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    task = await create_task(client, user)

    await client.patch(f"/tasks/{task['id']}", json={"title": "hijacked"})
    await client.delete(f"/tasks/{task['id']}")

    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json() == task
