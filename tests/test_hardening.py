"""Holes found from outside (issue 9), each kept as a test that fails on the code that had it (f5ef80b)."""

import asyncio
import re
import subprocess
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, text

from tests.conftest import TEST_SECRET_KEY, make_settings
from tests.factories import PASSWORD, UserFactory
from todo_api.auth.repository import UserRepository
from todo_api.core.config import ConfigurationError, load_settings
from todo_api.core.http import if_match_allows, if_none_match_hits
from todo_api.core.security import PasswordHasher
from todo_api.main import create_app
from todo_api.models import User

REPOSITORY = Path(__file__).resolve().parents[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class GatedHasher:
    """The app's hasher, except that every hash and verification waits at a gate the test opens."""

    def __init__(self, inner: PasswordHasher) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.waiting = 0
        self._arrivals = asyncio.Condition()

    async def _pass_gate(self) -> None:
        async with self._arrivals:
            self.waiting += 1
            self._arrivals.notify_all()
        await self.gate.wait()

    async def hash(self, password: str) -> str:
        await self._pass_gate()
        return await self.inner.hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        await self._pass_gate()
        return await self.inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.inner.needs_rehash(password_hash)

    async def until_waiting(self, count: int) -> None:
        async with asyncio.timeout(30), self._arrivals:
            await self._arrivals.wait_for(lambda: self.waiting >= count)


@asynccontextmanager
async def app_with(
    database_url: str, **overrides: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A second app on the test database, with its own settings (a pool of two, say)."""
    application = create_app(make_settings(database_url, **overrides))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


@pytest.fixture
def gated(app: FastAPI) -> Iterator[GatedHasher]:
    original = app.state.password_hasher
    hasher = GatedHasher(original)
    app.state.password_hasher = hasher
    yield hasher
    hasher.gate.set()
    app.state.password_hasher = original


# 1. The login limit holds under concurrency, and one account has one budget.


async def test_concurrent_wrong_logins_get_five_tries_not_forty(
    users: UserFactory, gated: GatedHasher
) -> None:
    gated.gate.set()
    user = await users.create()
    gated.gate.clear()
    gated.waiting = 0
    attempts = [asyncio.create_task(users.login(user.username, "wrong-password")) for _ in range(40)]
    # Every attempt is in flight at once: the five the limit admits are inside their hash.
    await gated.until_waiting(5)
    await asyncio.sleep(0.05)
    gated.gate.set()
    statuses = sorted(response.status_code for response in await asyncio.gather(*attempts))
    assert statuses.count(401) == 5
    assert statuses.count(429) == 35


async def test_username_and_email_share_one_budget(users: UserFactory, app: FastAPI) -> None:
    user = await users.create()
    for login in [user.username, user.email, user.username.upper(), user.email, user.username]:
        assert (await users.login(login, "wrong-password")).status_code == 401
    # Both names of the account are spent now, whichever was used.
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as elsewhere:
        assert (await UserFactory(elsewhere).login(user.email)).status_code == 429
        assert (await UserFactory(elsewhere).login(user.username)).status_code == 429


async def test_a_successful_login_gives_its_attempt_back(users: UserFactory) -> None:
    user = await users.create()
    for _ in range(4):
        assert (await users.login(user.username, "wrong-password")).status_code == 401
    for _ in range(5):
        assert (await users.login(user.username)).status_code == 200
    assert (await users.login(user.username, "wrong-password")).status_code == 401
    assert (await users.login(user.username, "wrong-password")).status_code == 429


# 2. Ids are never reused, and a token never reaches another account.


async def test_a_deleted_accounts_tokens_never_reach_the_next_account(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    await users.create()
    doomed = await users.create()
    tokens = (await users.login(doomed.username)).json()
    assert (await client.delete("/auth/me", headers=doomed.headers)).status_code == 204

    newcomer = await users.create()
    assert newcomer.id > doomed.id  # the deleted account's id is not handed out again
    for token in (doomed.token, tokens["access_token"]):
        response = await client.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401


async def test_a_token_is_bound_to_its_account_even_if_the_id_comes_back(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory
) -> None:
    doomed = await users.create()
    assert (await client.delete("/auth/me", headers=doomed.headers)).status_code == 204
    # Whatever might hand an id out again (a restore, a manual insert), the old token stays dead.
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            insert(User.__table__).values(  # type: ignore[attr-defined]
                id=doomed.id,
                username="revenant",
                email="revenant@example.com",
                password_hash="x",
                created_at=text("CURRENT_TIMESTAMP"),
                auth_stamp="0" * 32,
            )
        )
    response = await client.get("/auth/me", headers=doomed.headers)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_task_ids_are_never_reused(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    first = (await client.post("/tasks", json={"title": "one"}, headers=user.headers)).json()
    assert (await client.delete(f"/tasks/{first['id']}", headers=user.headers)).status_code == 204
    second = (await client.post("/tasks", json={"title": "two"}, headers=user.headers)).json()
    assert second["id"] > first["id"]


# 3. Production refuses every key that is written in this repository.


def _repository_files() -> list[Path]:
    command = ["git", "ls-files", "-z"]
    listed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, check=False, text=True)  # noqa: S603
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the repository's files cannot be listed")
    return [REPOSITORY / name for name in listed.stdout.split("\0") if name and name != "uv.lock"]


# A value given to something called a secret key: SECRET_KEY=..., "secret_key": "...", secret="..."
_KEY_VALUE = re.compile(
    r"""(?i)secret(?:[_-]?key)?["']?\s*(?:=|:|:-)\s*["']?([A-Za-z0-9_.~+/=-]{32,})""",
)


def test_production_refuses_every_key_written_in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    found: dict[str, str] = {}
    for path in _repository_files():
        try:
            content = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for match in _KEY_VALUE.finditer(content):
            found.setdefault(match.group(1), str(path.relative_to(REPOSITORY)))
    assert TEST_SECRET_KEY in found  # the scan does find keys
    monkeypatch.setenv("ENVIRONMENT", "production")
    accepted = []
    for key, where in found.items():
        monkeypatch.setenv("SECRET_KEY", key)
        try:
            load_settings(_env_file=None)
        except ConfigurationError:
            continue
        accepted.append(f"{key} (in {where})")
    assert not accepted, f"production accepts keys written in the repository: {accepted}"


def test_production_refuses_compose_s_old_fallback_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "dev-only-insecure-compose-secret-key-change-me")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings(_env_file=None)


def test_compose_needs_the_operator_s_key() -> None:
    compose = (REPOSITORY / "compose.yaml").read_text()
    assert re.search(r"SECRET_KEY: \"?\$\{SECRET_KEY:\?", compose), "compose must refuse to start without it"


# 5. Password changes are limited, and hash outside any lock.


async def test_wrong_current_passwords_are_limited(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    body = {"current_password": "not-the-password", "new_password": "a-brand-new-password"}
    for _ in range(5):
        response = await client.post("/auth/password", json=body, headers=user.headers)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"
    limited = await client.post("/auth/password", json=body, headers=user.headers)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    # Even the right password waits; the password is unchanged.
    right = {**body, "current_password": PASSWORD}
    assert (await client.post("/auth/password", json=right, headers=user.headers)).status_code == 429
    assert (await users.login(user.username)).status_code == 200


async def test_others_write_while_a_password_change_hashes(
    client: httpx.AsyncClient, users: UserFactory, gated: GatedHasher
) -> None:
    gated.gate.set()
    changer, writer = await users.create(), await users.create()
    gated.gate.clear()
    gated.waiting = 0
    change = asyncio.create_task(
        client.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": "a-brand-new-password"},
            headers=changer.headers,
        )
    )
    await gated.until_waiting(1)
    # The password change is inside its hash: no write lock, no connection is held for it.
    async with asyncio.timeout(10):
        created = await client.post("/tasks", json={"title": "meanwhile"}, headers=writer.headers)
    assert created.status_code == 201
    gated.gate.set()
    assert (await change).status_code == 204
    assert (await users.login(changer.username, "a-brand-new-password")).status_code == 200


# 6. A login holds no database connection while it hashes.


async def test_logins_that_hash_do_not_starve_readiness(
    database_url: str, client: httpx.AsyncClient, users: UserFactory
) -> None:
    async with app_with(database_url, db_pool_size=2, db_max_overflow=0, login_rate_limit="0") as (
        small,
        http,
    ):
        user = await UserFactory(http).create()
        hasher = GatedHasher(small.state.password_hasher)
        small.state.password_hasher = hasher
        logins = [asyncio.create_task(UserFactory(http).login(user.username)) for _ in range(4)]
        await hasher.until_waiting(2)  # PasswordHasher runs two at once; the rest queue at the gate
        await asyncio.sleep(0.05)
        ready = await http.get("/health")
        hasher.gate.set()
        assert ready.status_code == 200, ready.text
        assert [response.status_code for response in await asyncio.gather(*logins)] == [200] * 4


# 8. Errors that browsers can read.


async def test_a_413_carries_cors_headers(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    origin = "http://localhost:3000"
    big = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/tasks",
        content=big,
        headers={**user.headers, "Origin": origin, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


async def test_a_500_carries_cors_headers_and_the_request_id(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(*_args: Any) -> bool:
        raise RuntimeError("boom")

    monkeypatch.setattr(UserRepository, "exists", crash)
    origin = "http://localhost:5173"
    async with app_with(database_url) as (_app, _http):
        transport = httpx.ASGITransport(app=_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as quiet:
            response = await quiet.post(
                "/auth/register",
                json={"username": "crasher", "email": "crasher@example.com", "password": PASSWORD},
                headers={"Origin": origin, "X-Request-ID": "trace-me-500"},
            )
    assert response.status_code == 500
    assert response.json() == {
        "detail": "internal server error",
        "code": "internal_error",
        "request_id": "trace-me-500",
    }
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["X-Request-ID"] == "trace-me-500"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_refused_preflight_is_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/tasks", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "forbidden"
    assert "origin" in body["detail"].lower()
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "Access-Control-Allow-Origin" not in response.headers


# 9. idempotency_key_reused has the list shape of every 422.


async def test_idempotency_key_reused_is_a_one_item_list(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    headers = {**user.headers, "Idempotency-Key": "k-1"}
    assert (await client.post("/tasks", json={"title": "a"}, headers=headers)).status_code == 201
    response = await client.post("/tasks", json={"title": "b"}, headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "idempotency_key_reused"
    assert len(body["detail"]) == 1
    assert body["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert body["detail"][0]["type"] == "idempotency_key_reused"
    assert isinstance(body["detail"][0]["msg"], str)

    schema = (await client.get("/openapi.json")).json()
    declared = schema["paths"]["/tasks"]["post"]["responses"]["422"]
    assert "idempotency_key_reused" in declared["description"]
    assert declared["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrorResponse"
    }


# 10. A crash inside a statement logs no parameter value.


async def test_a_failed_statement_logs_no_parameter_value(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = "leaked-parameter@example.com"

    async def failing_statement(self: UserRepository, _username: str, email: str) -> bool:
        await self.session.exec(
            text("SELECT no_such_column FROM users WHERE email = :email"), params={"email": email}
        )  # type: ignore[call-overload]
        return False

    logged: list[str] = []

    class Recorder:
        def exception(self, event: str, *, exc_info: BaseException) -> None:
            logged.append(event + "".join(traceback.format_exception(exc_info)))

        def info(self, *_args: Any, **_fields: Any) -> None:
            pass

    monkeypatch.setattr(UserRepository, "exists", failing_statement)
    monkeypatch.setattr("todo_api.main.log", Recorder())
    async with app_with(database_url) as (_app, _http):
        transport = httpx.ASGITransport(app=_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as quiet:
            response = await quiet.post(
                "/auth/register", json={"username": "leaker", "email": marker, "password": PASSWORD}
            )
    assert response.status_code == 500
    assert logged, "the crash was logged"
    assert "no_such_column" in logged[0]  # the statement is there, for whoever debugs it
    assert marker not in logged[0]
    assert marker not in response.text


# 11. Entity-tag lists, and clock skew between replicas.


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ('"a,*,b"', False),  # one quoted tag holding commas is not the wildcard
        ('"x,y", "1-a"', True),
        ('W/"1-a"', False),  # If-Match compares strongly
        ("*", True),
        ("garbage", False),
    ],
)
def test_if_match_reads_quoted_tags_whole(header: str, allowed: bool) -> None:
    assert if_match_allows(header, '"1-a"') is allowed


def test_if_none_match_reads_quoted_tags_whole() -> None:
    assert if_none_match_hits('"a,*,b"', '"1-a"') is False
    assert if_none_match_hits('"p,q", W/"1-a"', '"1-a"') is True


async def test_a_quoted_comma_tag_does_not_pass_if_match(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    task = (await client.post("/tasks", json={"title": "t"}, headers=user.headers)).json()
    response = await client.patch(
        f"/tasks/{task['id']}", json={"title": "changed"}, headers={**user.headers, "If-Match": '"a,*,b"'}
    )
    assert response.status_code == 412
    assert (await client.get(f"/tasks/{task['id']}", headers=user.headers)).json()["title"] == "t"


async def test_a_token_from_a_replica_a_few_seconds_ahead_is_accepted(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    claims = jwt.decode(user.token, options={"verify_signature": False})
    claims["iat"] += 5
    ahead = jwt.encode(claims, TEST_SECRET_KEY, algorithm="HS256")
    assert (await client.get("/auth/me", headers=bearer(ahead))).status_code == 200


# 12. The SQLite driver answers every result method SQLAlchemy's stock dialect does.


async def test_every_result_method_works(app: FastAPI) -> None:
    five = " UNION ALL ".join(f"SELECT {n}" + (" AS n" if n == 1 else "") for n in range(1, 6))
    numbers = select(text("*")).select_from(text(f"({five}) AS numbers"))
    async with app.state.database.engine.connect() as connection:

        async def run() -> Any:
            return await connection.execute(numbers.order_by(text("n")))

        assert (await run()).fetchone() == (1,)
        assert (await run()).fetchmany(2) == [(1,), (2,)]
        many = await run()
        assert many.fetchmany() == [(1,)]  # the DBAPI's default arraysize is 1
        assert [list(part) for part in (await run()).partitions(2)] == [[(1,), (2,)], [(3,), (4,)], [(5,)]]
        assert (await run()).fetchall() == [(1,), (2,), (3,), (4,), (5,)]
        assert (await run()).all() == [(1,), (2,), (3,), (4,), (5,)]
        assert (await run()).first() == (1,)
        assert (await run()).scalar() == 1
        assert (await run()).scalars().all() == [1, 2, 3, 4, 5]
        assert (await run()).scalars().fetchmany(3) == [1, 2, 3]
        assert (await run()).mappings().first() == {"n": 1}
        assert (await run()).keys() == ["n"]
        assert [row.n for row in await run()] == [1, 2, 3, 4, 5]
        single = await connection.execute(text("SELECT 42"))
        assert single.one() == (42,)
        assert (await connection.execute(text("SELECT 42"))).scalar_one() == 42
        assert (await connection.execute(text("SELECT 1 WHERE 1 = 0"))).one_or_none() is None
        streamed = await connection.stream(numbers.order_by(text("n")))
        assert [row async for row in streamed] == [(1,), (2,), (3,), (4,), (5,)]
        streamed = await connection.stream(numbers.order_by(text("n")))
        assert [list(part) async for part in streamed.partitions(3)] == [[(1,), (2,), (3,)], [(4,), (5,)]]


# 13. On SQLite a SELECT runs on the event loop's thread only while it is short (core/sqlite_driver.py).

# Counts to a number in a few hundred milliseconds of SQLite's time, whatever thread runs it.
_LONG_SELECT = (
    "SELECT (SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 1000000) SELECT x FROM c))"
)


async def test_a_long_select_does_not_hold_the_event_loop(app: FastAPI, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the inline reads are SQLite's")
    ticks = 0
    running = True

    async def tick() -> None:
        nonlocal ticks
        while running:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    try:
        for _ in range(2):  # the first run is interrupted and moves; the second starts on the thread
            before = ticks
            async with app.state.database.engine.connect() as connection:
                assert (await connection.execute(text(_LONG_SELECT))).scalar_one() == 1_000_000
            # The loop went on while SQLite counted (inline, not one tick could have happened).
            assert ticks - before >= 3
    finally:
        running = False
        await ticker
