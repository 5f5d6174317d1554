"""Settings from the environment; a bad value stops start-up with one clear line."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, MetaData, Table, inspect, select, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import make_settings
from tests.factories import PASSWORD, UserFactory
from tests.migration_helpers import normalise
from todo_api.core.config import DEFAULT_CORS_ORIGINS, ConfigurationError, Settings, load_settings
from todo_api.core.db import upgrade_database
from todo_api.core.security import hash_refresh_token
from todo_api.main import create_app


def test_defaults() -> None:
    settings = load_settings(_env_file=None)
    assert settings.access_token_expire_minutes == 30
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.cors_origins == DEFAULT_CORS_ORIGINS
    assert settings.effective_log_format == "console"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ('["https://a.example"]', ["https://a.example"]),
    ],
)
def test_cors_origins_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert load_settings(_env_file=None).cors_origins == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("ENVIRONMENT", "staging"), ("PORT", "abc"), ("WORKERS", "0"), ("LOG_LEVEL", "LOUD")],
)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings(_env_file=None)


@pytest.mark.parametrize("secret", [None, "too-short"])
def test_production_needs_a_long_secret_key(monkeypatch: pytest.MonkeyPatch, secret: str | None) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings(_env_file=None)


def test_production_with_a_long_secret_key_logs_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    assert load_settings(_env_file=None).effective_log_format == "json"


@pytest.mark.parametrize(
    ("env", "needle"),
    [({"PORT": "abc"}, "PORT"), ({"ENVIRONMENT": "production", "SECRET_KEY": ""}, "SECRET_KEY")],
)
def test_the_command_refuses_to_start_with_one_line(env: dict[str, str], needle: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "todo_api"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


# Settings a client can see the effect of, each through an app of its own on SQLite.


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app for `settings`, started with its lifespan, and a client for it."""
    app = create_app(settings)
    # A request that crashes (no tables) answers 500 instead of raising into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        yield app, http


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'config.db'}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def stored_refresh_token(app: FastAPI, refresh_token: str) -> dict[str, Any]:
    """The refresh_tokens row of `refresh_token`, with its times in UTC."""
    async with app.state.database.engine.connect() as connection:
        row = await connection.run_sync(_refresh_token_row, hash_refresh_token(refresh_token))
    return {name: normalise(value) for name, value in row.items()}


def _refresh_token_row(connection: Connection, token_hash: str) -> dict[str, Any]:
    table = Table("refresh_tokens", MetaData(), autoload_with=connection)
    return dict(connection.execute(select(table).where(table.c.token_hash == token_hash)).mappings().one())


async def move_refresh_token_back(app: FastAPI, refresh_token: str, by: timedelta) -> None:
    """As if `by` had passed since the token was issued: its issue and expiry times move back."""
    row = await stored_refresh_token(app, refresh_token)
    async with app.state.database.engine.begin() as connection:
        await connection.run_sync(
            _update_refresh_token_row,
            row["id"],
            {"created_at": row["created_at"] - by, "expires_at": row["expires_at"] - by},
        )


def _update_refresh_token_row(connection: Connection, row_id: int, values: dict[str, Any]) -> None:
    table = Table("refresh_tokens", MetaData(), autoload_with=connection)
    connection.execute(update(table).where(table.c.id == row_id).values(values))


async def test_access_token_expire_minutes_sets_the_token_lifetime(tmp_path: Path) -> None:
    async with serve(make_settings(sqlite_url(tmp_path), access_token_expire_minutes=7)) as (_, http):
        users = UserFactory(http)
        user = await users.create()
        login = (await users.login(user.username)).json()
        refreshed = (await http.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})).json()
        me = await http.get("/auth/me", headers=bearer(login["access_token"]))
    assert me.status_code == 200
    for answer in (login, refreshed):
        assert answer["expires_in"] == 7 * 60
        claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 7 * 60


async def test_refresh_token_expire_days_sets_the_refresh_lifetime(tmp_path: Path) -> None:
    # There is no clock to inject: the lifetime is read from what the server stored, and time is
    # made to pass by moving a token's stored times back.
    days = 3
    lifetime = timedelta(days=days)
    settings = make_settings(sqlite_url(tmp_path), refresh_token_expire_days=days, login_rate_limit="0")
    async with serve(settings) as (app, http):
        users = UserFactory(http)
        user = await users.create()
        before = datetime.now(UTC)
        login = (await users.login(user.username)).json()
        after = datetime.now(UTC)
        assert login["refresh_expires_in"] == days * 86400
        stored = await stored_refresh_token(app, login["refresh_token"])
        second = timedelta(seconds=1)
        assert before + lifetime - second <= stored["expires_at"] <= after + lifetime + second

        nearly = (await users.login(user.username)).json()["refresh_token"]
        expired = (await users.login(user.username)).json()["refresh_token"]
        await move_refresh_token_back(app, nearly, lifetime - timedelta(minutes=1))
        await move_refresh_token_back(app, expired, lifetime + timedelta(minutes=1))
        still_good = await http.post("/auth/refresh", json={"refresh_token": nearly})
        too_old = await http.post("/auth/refresh", json={"refresh_token": expired})
    assert still_good.status_code == 200, still_good.text
    assert still_good.json()["refresh_expires_in"] == days * 86400
    assert too_old.status_code == 401
    assert too_old.json()["code"] == "invalid_token"


BODY_LIMIT = 256


def json_of_size(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes (padded with whitespace, which JSON allows)."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def sent_as(how: str, body: bytes) -> bytes | AsyncIterator[bytes]:
    if how == "with Content-Length":
        return body

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    return chunks()


def assert_refused_as_too_large(response: httpx.Response, how: str) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    declared = response.request.headers.get("Content-Length")
    assert declared == (str(BODY_LIMIT + 1) if how == "with Content-Length" else None)


@pytest.mark.parametrize("how", ["with Content-Length", "chunked"])
async def test_max_body_bytes_refuses_a_body_one_byte_over(tmp_path: Path, how: str) -> None:
    json_headers = {"Content-Type": "application/json"}
    account = {"username": "limited", "email": "limited@example.com", "password": PASSWORD}
    task = {"title": "Weigh the body"}
    async with serve(make_settings(sqlite_url(tmp_path), max_body_bytes=BODY_LIMIT)) as (_, http):
        over = json_of_size(account, BODY_LIMIT + 1)
        refused = await http.post("/auth/register", content=sent_as(how, over), headers=json_headers)
        assert_refused_as_too_large(refused, how)
        at_limit = json_of_size(account, BODY_LIMIT)
        accepted = await http.post("/auth/register", content=sent_as(how, at_limit), headers=json_headers)
        assert accepted.status_code == 201, accepted.text  # not 409: the refused one stored nothing

        token = (await UserFactory(http).login("limited")).json()["access_token"]
        headers = {**json_headers, **bearer(token)}
        over = json_of_size(task, BODY_LIMIT + 1)
        assert_refused_as_too_large(
            await http.post("/tasks", content=sent_as(how, over), headers=headers), how
        )
        assert (await http.get("/tasks", headers=bearer(token))).json()["total"] == 0
        at_limit = json_of_size(task, BODY_LIMIT)
        accepted = await http.post("/tasks", content=sent_as(how, at_limit), headers=headers)
        assert accepted.status_code == 201, accepted.text


async def table_names(url: str) -> list[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()


async def test_without_auto_migrate_an_empty_database_gets_no_tables(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    async with serve(make_settings(url, auto_migrate=False)) as (_, http):
        live = await http.get("/health/live")
        register = await UserFactory(http).register()
        tables = await table_names(url)
    assert live.status_code == 200
    assert tables == []
    assert register.status_code >= 500, register.text  # there is no users table to write to
    assert register.json()["code"] in ("internal_error", "service_unavailable")


async def test_without_auto_migrate_a_migrated_database_serves(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    await asyncio.to_thread(upgrade_database, url)  # what the migration Job does
    async with serve(make_settings(url, auto_migrate=False)) as (_, http):
        user = await UserFactory(http).create()
        created = await http.post("/tasks", json={"title": "Served"}, headers=user.headers)
        ready = await http.get("/health")
    assert created.status_code == 201, created.text
    assert ready.status_code == 200


DOTENV_NAMES = (
    "ACCESS_TOKEN_EXPIRE_MINUTES",
    "PORT",
    "DATABASE_URL",
    "ENVIRONMENT",
    "ARGON2_TIME_COST",
    "ARGON2_MEMORY_KIB",
    "LOG_LEVEL",
    "REDIS_URL",
)


@pytest.fixture
def in_a_directory_with_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory is `tmp_path` and its .env is the only source of these settings."""
    for name in DOTENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".env"


def test_settings_are_read_from_dotenv_and_the_environment_wins(
    in_a_directory_with_dotenv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (load_settings().access_token_expire_minutes, load_settings().port) == (30, 8000)
    in_a_directory_with_dotenv.write_text("ACCESS_TOKEN_EXPIRE_MINUTES=7\nPORT=9\n")
    settings = load_settings()
    assert (settings.access_token_expire_minutes, settings.port) == (7, 9)
    monkeypatch.setenv("PORT", "10")
    settings = load_settings()
    assert (settings.access_token_expire_minutes, settings.port) == (7, 10)


def test_a_bad_value_in_dotenv_names_the_variable(in_a_directory_with_dotenv: Path) -> None:
    in_a_directory_with_dotenv.write_text("PORT=abc\n")
    with pytest.raises(ConfigurationError, match="PORT"):
        load_settings()


async def test_the_service_serves_with_its_dotenv_settings(in_a_directory_with_dotenv: Path) -> None:
    await asyncio.to_thread(
        in_a_directory_with_dotenv.write_text,
        f"DATABASE_URL={sqlite_url(in_a_directory_with_dotenv.parent)}\n"
        "ENVIRONMENT=test\nACCESS_TOKEN_EXPIRE_MINUTES=7\n"
        "ARGON2_TIME_COST=1\nARGON2_MEMORY_KIB=1024\nLOG_LEVEL=WARNING\n",
    )
    async with serve(load_settings()) as (_, http):
        users = UserFactory(http)
        user = await users.create()
        login = await users.login(user.username)
    assert login.json()["expires_in"] == 7 * 60


async def test_cors_wildcard_allows_every_origin_without_credentials(tmp_path: Path) -> None:
    origin = {"Origin": "https://anywhere.example"}
    async with serve(make_settings(sqlite_url(tmp_path), cors_origins=["*"])) as (_, http):
        simple = await http.get("/health/live", headers={**origin, "Cookie": "session=1"})
        preflight = await http.options(
            "/tasks",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
    assert preflight.status_code == 200, preflight.text
    for response in (simple, preflight):
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


async def test_cors_listed_origins_allow_credentials(tmp_path: Path) -> None:
    origins = ["https://app.example", "https://admin.example"]
    async with serve(make_settings(sqlite_url(tmp_path), cors_origins=origins)) as (_, http):
        simple = await http.get("/health/live", headers={"Origin": "https://admin.example"})
        preflight = await http.options(
            "/tasks",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        stranger = await http.get("/health/live", headers={"Origin": "https://anywhere.example"})
    assert preflight.status_code == 200, preflight.text
    assert simple.headers["access-control-allow-origin"] == "https://admin.example"
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    for response in (simple, preflight):
        assert response.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in stranger.headers
