"""What Schemathesis found on the way, kept as plain tests (see tests/test_schemathesis.py)."""

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


async def test_a_body_that_is_not_utf8_is_422_not_an_undeclared_400(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    response = await client.post(
        "/tasks", content=b"\xff", headers={**user.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/tasks/1", "GET, PUT, PATCH, DELETE"), ("/tasks", "GET, POST"), ("/auth/me", "GET, DELETE")],
)
async def test_405_allow_lists_every_method_of_the_path(
    client: httpx.AsyncClient, user: SignedInUser, path: str, allowed: str
) -> None:
    response = await client.request("TRACE", path, headers=user.headers)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize("field", ["title", "status", "priority"])
async def test_patch_null_for_a_required_field_is_422_and_the_schema_says_so(
    client: httpx.AsyncClient, user: SignedInUser, field: str
) -> None:
    task = await create_task(client, user)
    response = await client.patch(f"/tasks/{task['id']}", json={field: None}, headers=user.headers)
    assert response.status_code == 422
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["TaskUpdate"]
    assert "null" not in str(schema["properties"][field])


@pytest.mark.parametrize("value", [0, 1.5, "1700000000", True])
async def test_a_number_is_not_a_due_date(
    client: httpx.AsyncClient, user: SignedInUser, value: object
) -> None:
    task = await create_task(client, user)
    for method, path in (("POST", "/tasks"), ("PUT", f"/tasks/{task['id']}")):
        response = await client.request(
            method, path, json={"title": "x", "due_date": value}, headers=user.headers
        )
        assert response.status_code == 422, (method, value)
    patch = await client.patch(f"/tasks/{task['id']}", json={"due_date": value}, headers=user.headers)
    assert patch.status_code == 422
    listing = await client.get("/tasks", params={"due_before": str(value)}, headers=user.headers)
    assert listing.status_code == 422


async def test_a_blank_q_is_declared_and_accepted(client: httpx.AsyncClient, user: SignedInUser) -> None:
    assert (await client.get("/tasks", params={"q": ""}, headers=user.headers)).status_code == 200
    parameters = (await client.get("/openapi.json")).json()["paths"]["/tasks"]["get"]["parameters"]
    q = next(parameter for parameter in parameters if parameter["name"] == "q")
    assert "minLength" not in str(q["schema"])


async def test_the_idempotency_422_is_declared_with_a_string_detail(client: httpx.AsyncClient) -> None:
    create = (await client.get("/openapi.json")).json()["paths"]["/tasks"]["post"]
    declared = str(create["responses"]["422"]["content"]["application/json"]["schema"])
    assert "ErrorResponse" in declared
    assert "ValidationErrorResponse" in declared


async def test_an_address_on_the_reserved_test_domain_registers(users: UserFactory) -> None:
    response = await users.register(email="someone@x.test")
    assert response.status_code == 201
    assert response.json()["email"] == "someone@x.test"
