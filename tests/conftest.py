"""One app per database backend for the whole run; every table emptied after each test.

SQLite always runs. PostgreSQL runs when TEST_POSTGRES_URL names a server (for example
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres): a database with a unique name is created
for this run and dropped at the end. Without it, the PostgreSQL half is skipped with the reason.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.factories import UserFactory
from todo_api.core.config import Settings, load_settings
from todo_api.core.db import metadata
from todo_api.main import create_app

TEST_SECRET_KEY = "test-secret-key-0123456789abcdef0123456789"
BACKENDS = ["sqlite", "postgresql"]


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test app: cheap argon2 so hundreds of logins stay fast; migrations at start;
    webhooks recorded but not sent."""
    values: dict[str, object] = {
        "database_url": database_url,
        "environment": "test",
        "secret_key": TEST_SECRET_KEY,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "auto_migrate": True,
        "log_level": "WARNING",
        # No deliverer polling the database in the background of every test; tests/test_webhooks.py
        # turns it on for its own app.
        "webhook_delivery": False,
    }
    values.update(overrides)
    return load_settings(**values)


def postgres_admin_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "PostgreSQL tests need TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres)"
        )
    return url


async def create_postgres_database(admin_url: str) -> str:
    """A new, empty database on the server of `admin_url`; skips if the server cannot be reached."""
    name = f"todo_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError as error:
        pytest.skip(f"PostgreSQL at TEST_POSTGRES_URL is not reachable: {error}")
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(admin_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


def pytest_report_header() -> str:
    if os.environ.get("TEST_POSTGRES_URL"):
        return "databases: SQLite, and PostgreSQL at TEST_POSTGRES_URL (a database of this run's own)"
    return "databases: SQLite only; PostgreSQL tests are skipped because TEST_POSTGRES_URL is not set"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def empty_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database of `backend`; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'test.db'}"
        return
    admin_url = postgres_admin_url()
    url = await create_postgres_database(admin_url)
    try:
        yield url
    finally:
        await drop_postgres_database(admin_url, url)


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with empty_database(backend, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url))
    async with application.router.lifespan_context(application):
        yield application


async def _reset_state(application: FastAPI) -> None:
    """Empty every table and forget every rate-limit counter."""
    async with application.state.database.engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            await connection.execute(table.delete())
    await application.state.rate_limits.storage.reset()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    await _reset_state(app)


@pytest.fixture
def users(client: httpx.AsyncClient) -> UserFactory:
    return UserFactory(client)
