"""Refresh tokens, logout, password changes, account deletion, rate limits and response headers."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher as Argon2Hasher
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import func, select

from tests.conftest import make_settings
from tests.factories import PASSWORD, SignedInUser, UserFactory, create_task
from tests.live import run_command
from todo_api.core.config import Settings
from todo_api.core.db import utcnow
from todo_api.core.security import PasswordHasher, hash_refresh_token
from todo_api.main import create_app
from todo_api.models import RefreshToken, Task, User


async def login_tokens(users: UserFactory, user: SignedInUser, password: str = PASSWORD) -> dict[str, Any]:
    response = await users.login(user.username, password)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Refresh tokens


async def test_login_returns_a_refresh_token(users: UserFactory) -> None:
    user = await users.create()
    tokens = await login_tokens(users, user)
    assert tokens["refresh_expires_in"] == 14 * 24 * 3600
    assert tokens["refresh_token"].count(".") == 0  # opaque, not a JWT
    assert len(tokens["refresh_token"]) >= 32


async def test_refresh_rotates_both_tokens(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    first = await login_tokens(users, user)
    response = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await client.get("/auth/me", headers=bearer(second["access_token"]))).status_code == 200
    again = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 200


async def test_a_reused_refresh_token_revokes_the_whole_chain(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    stolen = (await login_tokens(users, user))["refresh_token"]
    legitimate = (await client.post("/auth/refresh", json={"refresh_token": stolen})).json()

    replay = await client.post("/auth/refresh", json={"refresh_token": stolen})
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_token"
    assert replay.headers["WWW-Authenticate"] == "Bearer"
    # The chain is dead: the token rotated in good faith no longer works either.
    after = await client.post("/auth/refresh", json={"refresh_token": legitimate["refresh_token"]})
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_token"


async def test_reuse_revokes_only_that_login(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    phone = (await login_tokens(users, user))["refresh_token"]
    laptop = (await login_tokens(users, user))["refresh_token"]
    await client.post("/auth/refresh", json={"refresh_token": phone})
    await client.post("/auth/refresh", json={"refresh_token": phone})  # reuse: the phone chain dies
    response = await client.post("/auth/refresh", json={"refresh_token": laptop})
    assert response.status_code == 200


async def test_concurrent_refreshes_of_one_token_rotate_it_once(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    token = (await login_tokens(users, user))["refresh_token"]
    responses = await asyncio.gather(
        *(client.post("/auth/refresh", json={"refresh_token": token}) for _ in range(5))
    )
    assert sorted(response.status_code for response in responses) == [200, 401, 401, 401, 401]


@pytest.mark.parametrize("token", ["unknown-token", "x" * 512])
async def test_an_unknown_refresh_token_is_invalid(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_an_access_token_is_not_a_refresh_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    response = await client.post("/auth/refresh", json={"refresh_token": user.token})
    assert response.status_code == 401


async def test_an_expired_refresh_token_is_invalid(users: UserFactory, tmp_path: Any) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'expiry.db'}", refresh_token_expire_days=1)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        local = UserFactory(http)
        user = await local.create()
        token = (await local.login(user.username)).json()["refresh_token"]
        async with app.state.database.write_session() as session, session.begin():
            await session.exec(update(RefreshToken).values(expires_at=utcnow()))
        response = await http.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


# Logout


async def test_logout_revokes_the_chain_and_is_idempotent(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    token = (await login_tokens(users, user))["refresh_token"]
    first = await client.post("/auth/logout", json={"refresh_token": token})
    second = await client.post("/auth/logout", json={"refresh_token": token})
    assert (first.status_code, second.status_code) == (204, 204)
    assert first.content == b""
    response = await client.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 401


async def test_logout_with_an_unknown_token_is_204(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/logout", json={"refresh_token": "never-issued"})
    assert response.status_code == 204


# Password change


async def test_a_password_change_revokes_every_earlier_token(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    tokens = await login_tokens(users, user)
    response = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-brand-new-password"},
        headers=bearer(tokens["access_token"]),
    )
    assert response.status_code == 204

    # Tokens issued in the same second as the change must fail too (no iat comparison).
    for access in (user.token, tokens["access_token"]):
        stale = await client.get("/auth/me", headers=bearer(access))
        assert stale.status_code == 401
        assert stale.json()["code"] == "invalid_token"
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401

    assert (await users.login(user.username, PASSWORD)).status_code == 401
    fresh = await login_tokens(users, user, "a-brand-new-password")
    assert (await client.get("/auth/me", headers=bearer(fresh["access_token"]))).status_code == 200


async def test_a_wrong_current_password_changes_nothing(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    response = await client.post(
        "/auth/password",
        json={"current_password": "not-my-password", "new_password": "a-brand-new-password"},
        headers=user.headers,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert (await client.get("/auth/me", headers=user.headers)).status_code == 200
    assert (await users.login(user.username, PASSWORD)).status_code == 200


@pytest.mark.parametrize("new_password", ["tiny-pw", "p" * 129])
async def test_a_new_password_out_of_bounds_is_422(
    client: httpx.AsyncClient, users: UserFactory, new_password: str
) -> None:
    user = await users.create()
    response = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=user.headers,
    )
    assert response.status_code == 422
    assert new_password not in response.text


async def test_a_password_change_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/password", json={"current_password": PASSWORD, "new_password": "a-brand-new-password"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# Account deletion


async def test_deleting_the_account_removes_user_tasks_and_tokens(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    other = await users.create()
    tokens = await login_tokens(users, user)
    await create_task(client, user, title="mine")
    kept = await create_task(client, other, title="theirs")

    response = await client.delete("/auth/me", headers=user.headers)
    assert response.status_code == 204

    me = await client.get("/auth/me", headers=user.headers)
    assert me.status_code == 401
    assert me.json()["code"] == "invalid_token"
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert (await users.login(user.username)).status_code == 401
    async with app.state.database.read_session() as session:
        assert await session.get(User, user.id) is None
    # The user's tasks went with them; another user's did not.
    theirs = await client.get(f"/tasks/{kept['id']}", headers=other.headers)
    assert theirs.status_code == 200
    assert (await client.get("/tasks", headers=other.headers)).json()["total"] == 1
    # The name is free again.
    assert (await users.register(username=user.username, email=user.email)).status_code == 201


async def test_deleted_tasks_are_gone_from_the_database(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    for n in range(3):
        await create_task(client, user, title=f"t{n}")
    await client.delete("/auth/me", headers=user.headers)
    async with app.state.database.read_session() as session:
        count = (await session.exec(select(func.count()).select_from(Task))).one()
    assert count == 0


# Rate limits


@pytest.fixture
async def remote_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client from another address than `client`'s."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_the_sixth_failed_login_in_a_minute_is_429(
    client: httpx.AsyncClient, remote_client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    for _ in range(5):
        failed = await users.login(user.username, "wrong-password")
        assert failed.status_code == 401
    limited = await users.login(user.username, "wrong-password")
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Even the right password waits now, from this address and for this username.
    assert (await users.login(user.username)).status_code == 429
    remote = UserFactory(remote_client)
    assert (await remote.login(user.username)).status_code == 429

    # Another username from another address is not affected.
    other = await remote.register()
    assert (await remote.login(other.json()["username"])).status_code == 200


async def test_the_address_limit_counts_failures_across_usernames(users: UserFactory) -> None:
    registered = (await users.register()).json()
    for n in range(5):
        assert (await users.login(f"nobody{n}", "wrong-password")).status_code == 401
    assert (await users.login(registered["username"])).status_code == 429


async def test_successful_logins_are_not_limited(users: UserFactory) -> None:
    user = await users.create()
    for _ in range(8):
        assert (await users.login(user.username)).status_code == 200


async def test_registration_is_limited_per_address(
    client: httpx.AsyncClient, remote_client: httpx.AsyncClient, users: UserFactory
) -> None:
    for _ in range(20):
        assert (await users.register()).status_code == 201
    limited = await users.register()
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await UserFactory(remote_client).register()).status_code == 201


# Headers


async def test_security_headers_on_every_response(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    responses = [
        await client.get("/health/live"),
        await client.get("/no/such/route"),
        await client.get("/tasks", headers=user.headers),
        await client.post("/tasks", content=b"x" * (2 * 1024 * 1024), headers=user.headers),
    ]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_responses_with_tokens_or_tasks_are_not_stored(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = await create_task(client, user)
    responses = [
        await users.login(user.username),
        await client.get("/tasks", headers=user.headers),
        await client.get(f"/tasks/{task['id']}", headers=user.headers),
        await client.patch(f"/tasks/{task['id']}", json={"title": "x"}, headers=user.headers),
    ]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store"


# Password hashing


def test_default_argon2id_parameters_are_at_least_owasps_minimum() -> None:
    hasher = PasswordHasher(time_cost=2, memory_kib=19 * 1024, parallelism=1, max_concurrency=1)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.argon2_time_cost, defaults.argon2_memory_kib, defaults.argon2_parallelism) == (
        2,
        19456,
        1,
    )
    assert hasher.needs_rehash(Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1).hash("x"))


async def test_a_login_upgrades_a_hash_made_with_older_parameters(app: FastAPI, users: UserFactory) -> None:
    user = await users.create()
    weak = Argon2Hasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    async with app.state.database.write_session() as session, session.begin():
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.password_hash = weak
    assert (await users.login(user.username)).status_code == 200
    async with app.state.database.read_session() as session:
        upgraded = await session.get(User, user.id)
    assert upgraded is not None
    assert upgraded.password_hash != weak
    assert not app.state.password_hasher.needs_rehash(upgraded.password_hash)
    assert (await users.login(user.username)).status_code == 200


async def test_the_purge_command_deletes_only_expired_refresh_tokens(
    app: FastAPI, users: UserFactory, client: httpx.AsyncClient, database_url: str
) -> None:
    user = await users.create()
    expired = (await login_tokens(users, user))["refresh_token"]
    valid = (await login_tokens(users, user))["refresh_token"]
    async with app.state.database.write_session() as session, session.begin():
        await session.exec(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(expired))  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    result = await asyncio.to_thread(run_command, "purge-refresh-tokens", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert '"purged": 1' in result.stdout
    assert (await client.post("/auth/refresh", json={"refresh_token": valid})).status_code == 200
    assert (await client.post("/auth/refresh", json={"refresh_token": expired})).status_code == 401


# The hot reads check an access token in their own statement (tasks/repository.py): revocation is
# still immediate there, whether the answer would have had rows or not.


async def test_a_revoked_access_token_reads_no_task(client: httpx.AsyncClient, users: UserFactory) -> None:
    owner = await users.create()
    task = await create_task(client, owner, title="mine")
    stale = (await login_tokens(users, owner))["access_token"]
    assert (await client.get("/tasks", headers=bearer(stale))).json()["total"] == 1
    changed = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-brand-new-password"},
        headers=owner.headers,
    )
    assert changed.status_code == 204

    inbox = task["list_id"]
    for path in (
        "/tasks",  # a page with rows
        "/tasks?status_filter=completed",  # an empty page
        "/tasks?skip=40",  # past the end
        f"/tasks?list_id={inbox}",
        "/tasks?list_id=999999",  # no such list: still the token first
        f"/tasks/{task['id']}",
        "/tasks/999999",
    ):
        response = await client.get(path, headers=bearer(stale))
        assert response.status_code == 401, (path, response.text)
        assert response.json()["code"] == "invalid_token", path


async def test_a_deleted_accounts_token_reads_nothing(client: httpx.AsyncClient, users: UserFactory) -> None:
    owner = await users.create()
    task = await create_task(client, owner, title="mine")
    assert (await client.delete("/auth/me", headers=owner.headers)).status_code == 204
    for path in ("/tasks", f"/tasks/{task['id']}"):
        response = await client.get(path, headers=owner.headers)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["code"] == "invalid_token", path


async def test_a_revoked_access_token_writes_no_task(client: httpx.AsyncClient, users: UserFactory) -> None:
    # The task routes other than the hot reads check the token with one read of its stamp
    # (deps.get_checked_caller) instead of loading the account: a revoked token still stops there.
    owner = await users.create()
    task = await create_task(client, owner, title="mine")
    stale = bearer((await login_tokens(users, owner))["access_token"])
    changed = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-brand-new-password"},
        headers=owner.headers,
    )
    assert changed.status_code == 204
    path = f"/tasks/{task['id']}"
    for method, url, body in (
        ("POST", "/tasks", {"title": "after"}),
        ("PATCH", path, {"title": "after"}),
        ("PUT", path, {"title": "after"}),
        ("POST", f"{path}/complete", None),
        ("DELETE", path, None),
        ("GET", "/labels", None),
        ("GET", "/trash", None),
        ("GET", f"{path}/completions", None),
    ):
        response = await client.request(method, url, json=body, headers=stale)
        assert response.status_code == 401, (method, url, response.text)
        assert response.json()["code"] == "invalid_token", (method, url)
    fresh = await login_tokens(users, owner, "a-brand-new-password")
    assert (await client.get(path, headers=bearer(fresh["access_token"]))).json()["title"] == "mine"
