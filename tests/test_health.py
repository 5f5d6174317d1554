import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings
from todo_api.main import create_app


async def test_readiness_does_a_database_round_trip(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_liveness_answers_without_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
async def unreachable_app() -> FastAPI:
    # Nothing listens on port 1: every connection attempt is refused at once.
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/none", auto_migrate=False)
    return create_app(settings)


async def test_readiness_is_503_in_the_error_shape_when_the_database_is_down(
    unreachable_app: FastAPI,
) -> None:
    async with unreachable_app.router.lifespan_context(unreachable_app):
        transport = httpx.ASGITransport(app=unreachable_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            ready = await http.get("/health")
            live = await http.get("/health/live")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unavailable"
    assert body["code"] == "service_unavailable"
    assert body["request_id"] == ready.headers["X-Request-ID"]
    assert live.status_code == 200
