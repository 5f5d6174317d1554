"""Every error answer has the contract's shape and a request id; a crash leaks nothing."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import UserFactory
from todo_api.tasks.service import TaskService


def assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    if status == 422:
        assert all({"loc", "msg", "type"} <= set(error) for error in body["detail"])
    else:
        assert isinstance(body["detail"], str)


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/no/such/route"), 404, "not_found")


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health/live")
    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


async def test_malformed_json_is_422(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    response = await client.post(
        "/tasks", content=b"{not json", headers={**user.headers, "Content-Type": "application/json"}
    )
    assert_error_shape(response, 422, "validation_error")


@pytest.mark.parametrize("chunked", [False, True])
async def test_body_over_the_limit_is_413_and_stores_nothing(
    client: httpx.AsyncClient, users: UserFactory, chunked: bool
) -> None:
    user = await users.create()
    body = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'

    async def stream() -> AsyncIterator[bytes]:
        # No Content-Length: the server only learns the size by counting.
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    content = stream() if chunked else body
    response = await client.post(
        "/tasks", content=content, headers={**user.headers, "Content-Type": "application/json"}
    )
    assert_error_shape(response, 413, "payload_too_large")
    listing = await client.get("/tasks", headers=user.headers)
    assert listing.json()["total"] == 0


async def test_a_crash_is_500_without_internals(
    app: FastAPI, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await users.create()

    async def explode(*_args: object) -> None:
        raise RuntimeError("secret detail: SELECT * FROM users")

    monkeypatch.setattr(TaskService, "list", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/tasks", headers=user.headers)
    assert_error_shape(response, 500, "internal_error")
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text
    assert "secret" not in response.text


async def test_a_sane_client_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "client-id.42"})
    assert response.headers["X-Request-ID"] == "client-id.42"
    assert response.json()["request_id"] == "client-id.42"


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "semi;colon", "<script>"])
async def test_an_insane_client_request_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] not in ("", bad)


async def test_every_response_has_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/health/live")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_cors_allows_a_listed_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/tasks",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
    )
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


async def test_cors_never_allows_an_unlisted_origin(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.options(
        "/tasks", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") not in ("*", "https://evil.example")


async def test_openapi_declares_error_responses(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    get_task = schema["paths"]["/tasks/{task_id}"]["get"]
    assert get_task["operationId"] == "get_task"
    assert {"200", "401", "404", "422"} <= set(get_task["responses"])
    assert schema["paths"]["/auth/register"]["post"]["responses"]["409"]
