"""With REDIS_URL set, rate-limit counters are shared by every process that uses that Redis."""

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings
from tests.factories import UserFactory
from todo_api.main import create_app

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_is_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not redis_is_reachable(REDIS_URL), reason=f"no Redis answers at {REDIS_URL} (set TEST_REDIS_URL)"
)


@pytest.fixture
async def two_replicas(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two app instances on one database and one Redis, as two replicas behind a load balancer."""
    prefix = f"todo-api-test-{uuid.uuid4().hex}"  # this test's own keys on a shared server
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'replicas.db'}"
    apps: list[FastAPI] = [
        create_app(make_settings(database_url, redis_url=REDIS_URL, rate_limit_key_prefix=prefix))
        for _ in range(2)
    ]
    async with AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://t"))
            )
        try:
            yield clients[0], clients[1]
        finally:
            await apps[0].state.rate_limits.storage.reset()


@needs_redis
async def test_two_instances_share_one_login_budget(
    two_replicas: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, second = two_replicas
    user = (await UserFactory(first).register()).json()
    statuses = []
    for attempt in range(5):
        replica = UserFactory(first if attempt % 2 else second)
        statuses.append((await replica.login(user["username"], "wrong-password")).status_code)
    assert statuses == [401] * 5
    for replica in (first, second):
        limited = await UserFactory(replica).login(user["username"], "wrong-password")
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1


async def test_an_unreachable_redis_lets_logins_through(tmp_path: Path) -> None:
    """Fail open: a Redis outage must not lock every user out (it is logged instead)."""
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'noredis.db'}", redis_url="redis://127.0.0.1:1/0"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            users = UserFactory(http)
            user = (await users.register()).json()
            for _ in range(7):
                assert (await users.login(user["username"], "wrong-password")).status_code == 401
            assert (await users.login(user["username"])).status_code == 200
