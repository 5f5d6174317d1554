"""Personal API tokens (shared/API.md, "Personal API tokens"): the scope every route needs, what a
token gets without it, creation, expiry, revocation, `last_used_at`, and what a password change,
account deletion and /auth/refresh do with tokens.

The scope table is written from the contract, not read from the code, and a test fails when the app
has a route the table does not name (or the table names one the app lacks), so a new route cannot be
forgotten.

The auth service takes "now" from the wall clock (`todo_api.core.db.utcnow`), not from the app's
injectable clock, for a token's expiry and last use; so the expiry and `last_used_at` tests move the
token's stored timestamps instead (as test_sessions.py does for refresh tokens). Nothing sleeps.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import update
from sqlmodel import col

from tests.factories import PASSWORD, SignedInUser, UserFactory, create_task
from tests.list_factories import create_list, without_request_id
from tests.task_factories import instant
from todo_api.core.db import utcnow
from todo_api.models import ApiToken

TASKS_READ = "tasks:read"
TASKS_WRITE = "tasks:write"
LISTS_READ = "lists:read"
LISTS_WRITE = "lists:write"
SYNC = "sync"
WEBHOOKS = "webhooks"
ALL_SCOPES = frozenset({TASKS_READ, TASKS_WRITE, LISTS_READ, LISTS_WRITE, SYNC, WEBHOOKS})
NO_SCOPES: frozenset[str] = frozenset()

MISSING = 1_000_000
# A public address written as one: no DNS lookup. The webhook is never made (its list is missing).
HOOK_URL = "https://93.184.216.34/hook"
# Wrong for every route that takes a body: a JSON array where an object belongs.
INVALID_BODY = ["not", "an", "object"]
# Wrong for every route that pages, and for /sync; ignored by the rest.
INVALID_QUERY = "?limit=-1&skip=-1&cursor=not-ours"
SCOPE_CHALLENGE = re.compile(r'Bearer error="insufficient_scope", scope="([^"]+)"')
SESSION_CHALLENGE = 'Bearer error="insufficient_scope"'


@dataclass(frozen=True)
class Rule:
    """Who may call a route: API tokens with `scopes`, only a password sign-in (`session`), any
    signed-in caller (`any`), or anyone (`public`)."""

    kind: Literal["scopes", "session", "any", "public"]
    scopes: frozenset[str] = NO_SCOPES

    def __str__(self) -> str:
        return " ".join(sorted(self.scopes)) if self.kind == "scopes" else self.kind


def needs(*scopes: str) -> Rule:
    return Rule("scopes", frozenset(scopes))


SESSION_ONLY = Rule("session")
ANY_TOKEN = Rule("any")
PUBLIC = Rule("public")


@dataclass(frozen=True)
class Ids:
    """The ids a request aims at."""

    list: int
    task: int
    trashed: int
    member: int
    token: int
    webhook: int
    delivery: int


MISSING_IDS = Ids(*[MISSING] * 7)
# Ids that fail validation (ids start at 1): nothing about them may be looked at before the scope.
ZERO_IDS = Ids(*[0] * 7)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    data: dict[str, str] | None = None
    # Whose password sign-in makes the call when no API token is used (None: World.me).
    session: SignedInUser | None = None


@dataclass
class World:
    me: SignedInUser
    other: SignedInUser  # someone to name in member routes
    doomed: SignedInUser  # signs in only to delete their account
    refresh_token: str  # of a login of `me`, for POST /auth/refresh


Request = Callable[[World, Ids], Call]

# "METHOD /path as the app declares it": (who may call it, the request, the answer to a caller who
# may, with the ids of MISSING_IDS). Written from shared/API.md, not from the routers.
TABLE: dict[str, tuple[Rule, Request, int]] = {
    # Public: no token at all.
    "POST /auth/register": (
        PUBLIC,
        lambda w, at: Call(
            "POST",
            "/auth/register",
            {"username": "newcomer", "email": "newcomer@example.com", "password": PASSWORD},
        ),
        201,
    ),
    "POST /auth/login": (
        PUBLIC,
        lambda w, at: Call("POST", "/auth/login", data={"username": w.me.username, "password": PASSWORD}),
        200,
    ),
    "POST /auth/refresh": (
        PUBLIC,
        lambda w, at: Call("POST", "/auth/refresh", {"refresh_token": w.refresh_token}),
        200,
    ),
    "POST /auth/logout": (
        PUBLIC,
        lambda w, at: Call("POST", "/auth/logout", {"refresh_token": "unknown"}),
        204,
    ),
    "GET /health": (PUBLIC, lambda w, at: Call("GET", "/health"), 200),
    "GET /health/live": (PUBLIC, lambda w, at: Call("GET", "/health/live"), 200),
    "GET /metrics": (PUBLIC, lambda w, at: Call("GET", "/metrics"), 200),
    "GET /openapi.json": (PUBLIC, lambda w, at: Call("GET", "/openapi.json"), 200),
    "GET /docs": (PUBLIC, lambda w, at: Call("GET", "/docs"), 200),
    "GET /swagger/swagger-ui-bundle.js": (
        PUBLIC,
        lambda w, at: Call("GET", "/swagger/swagger-ui-bundle.js"),
        200,
    ),
    "GET /swagger/swagger-ui.css": (PUBLIC, lambda w, at: Call("GET", "/swagger/swagger-ui.css"), 200),
    "GET /swagger/favicon-32x32.png": (PUBLIC, lambda w, at: Call("GET", "/swagger/favicon-32x32.png"), 200),
    # Any signed-in caller, with an API token of whatever scopes.
    "GET /auth/me": (ANY_TOKEN, lambda w, at: Call("GET", "/auth/me"), 200),
    # Only a password sign-in.
    "POST /auth/tokens": (
        SESSION_ONLY,
        lambda w, at: Call("POST", "/auth/tokens", {"name": "made in the walk", "scopes": []}),
        201,
    ),
    "GET /auth/tokens": (SESSION_ONLY, lambda w, at: Call("GET", "/auth/tokens"), 200),
    "DELETE /auth/tokens/{token_id}": (
        SESSION_ONLY,
        lambda w, at: Call("DELETE", f"/auth/tokens/{at.token}"),
        404,
    ),
    # The walk does not change the password: a body without the current one is a 422.
    "POST /auth/password": (
        SESSION_ONLY,
        lambda w, at: Call("POST", "/auth/password", {"new_password": "another-password-1"}),
        422,
    ),
    "DELETE /auth/me": (SESSION_ONLY, lambda w, at: Call("DELETE", "/auth/me", session=w.doomed), 204),
    # tasks:read: tasks, labels, trash, completions.
    "GET /tasks": (needs(TASKS_READ), lambda w, at: Call("GET", "/tasks"), 200),
    "GET /tasks/{task_id}": (needs(TASKS_READ), lambda w, at: Call("GET", f"/tasks/{at.task}"), 404),
    "GET /tasks/{task_id}/completions": (
        needs(TASKS_READ),
        lambda w, at: Call("GET", f"/tasks/{at.task}/completions"),
        404,
    ),
    "GET /labels": (needs(TASKS_READ), lambda w, at: Call("GET", "/labels"), 200),
    "GET /trash": (needs(TASKS_READ), lambda w, at: Call("GET", "/trash"), 200),
    # tasks:write: every task write, trash restore and purge.
    "POST /tasks": (
        needs(TASKS_WRITE),
        lambda w, at: Call("POST", "/tasks", {"title": "New", "list_id": at.list}),
        404,
    ),
    "PUT /tasks/{task_id}": (
        needs(TASKS_WRITE),
        lambda w, at: Call("PUT", f"/tasks/{at.task}", {"title": "Replaced"}),
        404,
    ),
    "PATCH /tasks/{task_id}": (
        needs(TASKS_WRITE),
        lambda w, at: Call("PATCH", f"/tasks/{at.task}", {"title": "Changed"}),
        404,
    ),
    "POST /tasks/{task_id}/complete": (
        needs(TASKS_WRITE),
        lambda w, at: Call("POST", f"/tasks/{at.task}/complete"),
        404,
    ),
    "POST /tasks/{task_id}/move": (
        needs(TASKS_WRITE),
        lambda w, at: Call("POST", f"/tasks/{at.task}/move", {"after_id": None}),
        404,
    ),
    "DELETE /tasks/{task_id}": (needs(TASKS_WRITE), lambda w, at: Call("DELETE", f"/tasks/{at.task}"), 404),
    "POST /trash/{task_id}/restore": (
        needs(TASKS_WRITE),
        lambda w, at: Call("POST", f"/trash/{at.trashed}/restore"),
        404,
    ),
    "DELETE /trash/{task_id}": (
        needs(TASKS_WRITE),
        lambda w, at: Call("DELETE", f"/trash/{at.trashed}"),
        404,
    ),
    # lists:read: lists and members.
    "GET /lists": (needs(LISTS_READ), lambda w, at: Call("GET", "/lists"), 200),
    "GET /lists/{list_id}": (needs(LISTS_READ), lambda w, at: Call("GET", f"/lists/{at.list}"), 404),
    "GET /lists/{list_id}/members": (
        needs(LISTS_READ),
        lambda w, at: Call("GET", f"/lists/{at.list}/members"),
        404,
    ),
    # lists:write: list and member writes.
    "POST /lists": (
        needs(LISTS_WRITE),
        lambda w, at: Call("POST", "/lists", {"name": "Made in the walk"}),
        201,
    ),
    "PATCH /lists/{list_id}": (
        needs(LISTS_WRITE),
        lambda w, at: Call("PATCH", f"/lists/{at.list}", {"name": "Renamed"}),
        404,
    ),
    "DELETE /lists/{list_id}": (needs(LISTS_WRITE), lambda w, at: Call("DELETE", f"/lists/{at.list}"), 404),
    "POST /lists/{list_id}/members": (
        needs(LISTS_WRITE),
        lambda w, at: Call("POST", f"/lists/{at.list}/members", {"user": w.other.username, "role": "viewer"}),
        404,
    ),
    "PATCH /lists/{list_id}/members/{user_id}": (
        needs(LISTS_WRITE),
        lambda w, at: Call("PATCH", f"/lists/{at.list}/members/{at.member}", {"role": "viewer"}),
        404,
    ),
    "DELETE /lists/{list_id}/members/{user_id}": (
        needs(LISTS_WRITE),
        lambda w, at: Call("DELETE", f"/lists/{at.list}/members/{at.member}"),
        404,
    ),
    "POST /lists/{list_id}/transfer": (
        needs(LISTS_WRITE),
        lambda w, at: Call("POST", f"/lists/{at.list}/transfer", {"user_id": w.other.id}),
        404,
    ),
    # sync needs tasks:read and lists:read as well.
    "GET /sync": (needs(SYNC, TASKS_READ, LISTS_READ), lambda w, at: Call("GET", "/sync"), 200),
    # webhooks: every webhook route.
    "POST /webhooks": (
        needs(WEBHOOKS),
        lambda w, at: Call("POST", "/webhooks", {"url": HOOK_URL, "events": ["*"], "list_id": at.list}),
        404,
    ),
    "GET /webhooks": (needs(WEBHOOKS), lambda w, at: Call("GET", "/webhooks"), 200),
    "GET /webhooks/{webhook_id}": (
        needs(WEBHOOKS),
        lambda w, at: Call("GET", f"/webhooks/{at.webhook}"),
        404,
    ),
    "PATCH /webhooks/{webhook_id}": (
        needs(WEBHOOKS),
        lambda w, at: Call("PATCH", f"/webhooks/{at.webhook}", {"active": False}),
        404,
    ),
    "DELETE /webhooks/{webhook_id}": (
        needs(WEBHOOKS),
        lambda w, at: Call("DELETE", f"/webhooks/{at.webhook}"),
        404,
    ),
    "POST /webhooks/{webhook_id}/ping": (
        needs(WEBHOOKS),
        lambda w, at: Call("POST", f"/webhooks/{at.webhook}/ping"),
        404,
    ),
    "GET /webhooks/{webhook_id}/deliveries": (
        needs(WEBHOOKS),
        lambda w, at: Call("GET", f"/webhooks/{at.webhook}/deliveries"),
        404,
    ),
    "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": (
        needs(WEBHOOKS),
        lambda w, at: Call("POST", f"/webhooks/{at.webhook}/deliveries/{at.delivery}/redeliver"),
        404,
    ),
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def app_routes(app: FastAPI) -> set[str]:
    """Every "METHOD /path" the app answers: its routes (with those left out of the OpenAPI
    document) and the OpenAPI document's operations. HEAD comes with GET and is not counted."""
    found = {
        f"{method} {route.path}"
        for route in iter_route_contexts(app.routes)
        for method in route.methods or ()
        if method != "HEAD"
    }
    for path, operations in app.openapi()["paths"].items():
        found.update(f"{method.upper()} {path}" for method in operations)
    return found


class Tokens:
    """`me`'s API tokens, one per set of scopes, each made the first time it is asked for."""

    def __init__(self, client: httpx.AsyncClient, user: SignedInUser) -> None:
        self.client = client
        self.user = user
        self.made: dict[frozenset[str], dict[str, Any]] = {}

    async def record(self, scopes: frozenset[str]) -> dict[str, Any]:
        if scopes not in self.made:
            self.made[scopes] = await create_token(self.client, self.user, scopes=sorted(scopes))
        return self.made[scopes]

    async def headers(self, scopes: frozenset[str]) -> dict[str, str]:
        return bearer((await self.record(scopes))["token"])


async def create_token(client: httpx.AsyncClient, user: SignedInUser, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/auth/tokens", json={"name": "a script", "scopes": [], **fields}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def send(client: httpx.AsyncClient, call: Call, headers: dict[str, str]) -> httpx.Response:
    return await client.request(call.method, call.path, json=call.json, data=call.data, headers=headers)


def denied(call: Call) -> Call:
    """The call with a body and a query that are wrong for the route."""
    body = INVALID_BODY if call.method in {"POST", "PUT", "PATCH"} else None
    return replace(call, path=call.path + INVALID_QUERY, json=body, data=None)


def answer_problem(response: httpx.Response, status: int) -> str | None:
    if response.status_code == status:
        return None
    return f"wanted {status}, got {response.status_code} {response.text}"


def refusal_problem(response: httpx.Response, rule: Rule) -> str | None:
    """What is wrong with `response` as the 403 of a token `rule` does not let in; None if right."""
    if response.status_code != 403 or response.json().get("code") != "insufficient_scope":
        return f"wanted 403 insufficient_scope, got {response.status_code} {response.text}"
    challenge = response.headers.get("WWW-Authenticate", "")
    if rule.kind == "session":
        return None if challenge == SESSION_CHALLENGE else f"wanted {SESSION_CHALLENGE!r}, got {challenge!r}"
    match = SCOPE_CHALLENGE.fullmatch(challenge)
    if match is None or frozenset(match.group(1).split()) != rule.scopes:
        return f'wanted Bearer error="insufficient_scope", scope="{rule}" (any order), got {challenge!r}'
    return None


def refusal(response: httpx.Response) -> tuple[int, dict[str, Any], str | None]:
    return response.status_code, without_request_id(response), response.headers.get("WWW-Authenticate")


def tokens_refused(rule: Rule) -> list[frozenset[str]]:
    """The scopes of tokens that must be refused: every scope but those needed, and every scope but
    one of them (for /sync, a token missing only tasks:read, say)."""
    if rule.kind == "session":
        return [ALL_SCOPES, NO_SCOPES]
    assert rule.kind == "scopes", rule
    return [ALL_SCOPES - rule.scopes, *(ALL_SCOPES - {scope} for scope in sorted(rule.scopes))]


async def test_the_scope_table_names_every_route(app: FastAPI) -> None:
    routes = app_routes(app)
    assert routes - TABLE.keys() == set(), "routes with no scope in TABLE: add each with the scope it needs"
    assert TABLE.keys() - routes == set(), "TABLE names routes the app does not have"


@dataclass
class Walk:
    """One caller's walk through TABLE, noting every answer that is not the contract's."""

    client: httpx.AsyncClient
    world: World
    tokens: Tokens
    real_ids: Ids
    failures: list[str]

    async def route(self, route: str, rule: Rule, request: Request, status: int) -> None:
        call = request(self.world, MISSING_IDS)
        if rule.kind == "public":
            await self.expect(f"{route} [public] with no token", call, {}, status)
        elif rule.kind == "any":
            headers = await self.tokens.headers(NO_SCOPES)
            await self.expect(f"{route} [any token] with a token with no scopes", call, headers, status)
        elif rule.kind == "session":
            await self.refused(route, rule, request)
            session = bearer((call.session or self.world.me).token)
            await self.expect(f"{route} [session-only] with a password sign-in", call, session, status)
        else:
            await self.refused(route, rule, request)
            headers = await self.tokens.headers(rule.scopes)
            await self.expect(f"{route} [needs {rule}] with exactly that token", call, headers, status)

    async def expect(self, what: str, call: Call, headers: dict[str, str], status: int) -> None:
        if problem := answer_problem(await send(self.client, call, headers), status):
            self.failures.append(f"{what}: {problem}")

    async def refused(self, route: str, rule: Rule, request: Request) -> None:
        """Each token `rule` does not let in gets the same 403, for missing, real or invalid ids."""
        for scopes in tokens_refused(rule):
            what = f"{route} [needs {rule}] with a token of {sorted(scopes)}"
            headers = await self.tokens.headers(scopes)
            first = await send(self.client, request(self.world, MISSING_IDS), headers)
            if problem := refusal_problem(first, rule):
                self.failures.append(f"{what}: {problem}")
                continue
            # Nothing else about the request is looked at first: real or malformed ids, a bad body.
            for label, call in (
                ("at real ids", request(self.world, self.real_ids)),
                ("at ids 0, with a wrong body and query", denied(request(self.world, ZERO_IDS))),
            ):
                again = await send(self.client, call, headers)
                if refusal(again) != refusal(first):
                    self.failures.append(
                        f"{what}, {label}: got {refusal(again)}, unlike the missing ids' {refusal(first)}"
                    )


async def test_every_route_needs_its_scope_and_nothing_more(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me, other, doomed = await users.create(), await users.create(), await users.create()
    refresh_token = (await users.login(me.username)).json()["refresh_token"]
    tokens = Tokens(client, me)
    # Real objects of `me`'s, to show that a refusal reads the same whether they exist or not. There
    # is no real webhook (it would send to the internet); those ids stay missing.
    own_list = await create_list(client, me, "Mine")
    own_task = await create_task(client, me, list_id=own_list["id"])
    trashed = await create_task(client, me, list_id=own_list["id"])
    assert (await client.delete(f"/tasks/{trashed['id']}", headers=me.headers)).status_code == 204
    real_ids = Ids(
        list=own_list["id"],
        task=own_task["id"],
        trashed=trashed["id"],
        member=me.id,
        token=(await tokens.record(NO_SCOPES))["id"],
        webhook=MISSING,
        delivery=MISSING,
    )
    walk = Walk(client, World(me, other, doomed, refresh_token), tokens, real_ids, failures=[])
    for route, (rule, request, status) in TABLE.items():
        await walk.route(route, rule, request, status)

    # GET /auth/me works with every one of these tokens, whatever its scopes.
    for scopes, record in tokens.made.items():
        response = await client.get("/auth/me", headers=bearer(record["token"]))
        problem = answer_problem(response, 200)
        if problem is None and response.json()["id"] != me.id:
            problem = f"the wrong user: {response.text}"
        if problem:
            walk.failures.append(f"GET /auth/me [any token] with a token of {sorted(scopes)}: {problem}")
    assert not walk.failures, "\n".join(walk.failures)


async def test_a_token_is_shown_once_and_listed_newest_first(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.create()
    response = await client.post(
        "/auth/tokens",
        json={"name": "backup script", "scopes": [TASKS_READ, LISTS_READ], "expires_in_days": None},
        headers=me.headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    first = response.json()
    assert set(first) == {"id", "name", "scopes", "created_at", "expires_at", "last_used_at", "token"}
    assert re.fullmatch(r"tdo_[A-Za-z0-9_-]{32,}", first["token"]), first["token"]
    assert first["name"] == "backup script"
    assert sorted(first["scopes"]) == [LISTS_READ, TASKS_READ]
    assert first["expires_at"] is None
    assert first["last_used_at"] is None
    second = await create_token(client, me, name="second", scopes=[WEBHOOKS], expires_in_days=365)
    assert second["token"] != first["token"]

    listed = await client.get("/auth/tokens", headers=me.headers)
    assert listed.status_code == 200, listed.text
    assert listed.headers["Cache-Control"] == "no-store"
    items = listed.json()["items"]
    assert [item["id"] for item in items] == [second["id"], first["id"]]
    assert all("token" not in item for item in items), items
    assert "tdo_" not in listed.text
    assert items[1] == {key: value for key, value in first.items() if key != "token"}

    # Another user sees none of them.
    assert (await client.get("/auth/tokens", headers=(await users.create()).headers)).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["tasks:delete"]},
        {"name": "x", "scopes": [TASKS_READ], "expires_in_days": 0},
        {"name": "x", "scopes": [TASKS_READ], "expires_in_days": 366},
        {"name": "", "scopes": [TASKS_READ]},
        {"name": "x" * 101, "scopes": [TASKS_READ]},
        {"scopes": [TASKS_READ]},
    ],
    ids=["unknown scope", "0 days", "366 days", "empty name", "long name", "no name"],
)
async def test_an_invalid_token_request_is_422(
    client: httpx.AsyncClient, users: UserFactory, body: dict[str, Any]
) -> None:
    me = await users.create()
    response = await client.post("/auth/tokens", json=body, headers=me.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert (await client.get("/auth/tokens", headers=me.headers)).json()["items"] == []


async def set_token_times(app: FastAPI, token_id: int, **values: datetime) -> None:
    """Write a token's stored `expires_at` or `last_used_at`: the service reads the wall clock."""
    async with app.state.database.write_session() as session, session.begin():
        await session.exec(update(ApiToken).where(col(ApiToken.id) == token_id).values(**values))


async def stored_token(client: httpx.AsyncClient, user: SignedInUser, token_id: int) -> dict[str, Any]:
    response = await client.get("/auth/tokens", headers=user.headers)
    assert response.status_code == 200, response.text
    (record,) = [item for item in response.json()["items"] if item["id"] == token_id]
    found: dict[str, Any] = record
    return found


async def test_a_token_expires_after_its_days(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.create()
    token = await create_token(client, me, scopes=[TASKS_READ], expires_in_days=1)
    created_at, expires_at = instant(token["created_at"]), instant(token["expires_at"])
    assert created_at is not None
    assert expires_at == created_at + timedelta(days=1)
    assert (await client.get("/tasks", headers=bearer(token["token"]))).status_code == 200

    # A minute before the end it still works; at the end it is expired, on every route.
    await set_token_times(app, token["id"], expires_at=utcnow() + timedelta(minutes=1))
    assert (await client.get("/auth/me", headers=bearer(token["token"]))).status_code == 200
    await set_token_times(app, token["id"], expires_at=utcnow())
    for path in ("/tasks", "/auth/me"):
        response = await client.get(path, headers=bearer(token["token"]))
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "token_expired"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # Expiry is checked before the scope: a token that lacks the scope too is still 401.
    response = await client.post("/lists", json={"name": "x"}, headers=bearer(token["token"]))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "token_expired"


async def test_a_revoked_token_stops_at_once(client: httpx.AsyncClient, users: UserFactory) -> None:
    me, someone = await users.create(), await users.create()
    revoked = await create_token(client, me, scopes=[TASKS_READ])
    kept = await create_token(client, me, scopes=[TASKS_READ])
    assert (await client.get("/tasks", headers=bearer(revoked["token"]))).status_code == 200

    # Someone else's token id is as missing as one that never existed.
    response = await client.delete(f"/auth/tokens/{revoked['id']}", headers=someone.headers)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    assert (await client.get("/tasks", headers=bearer(revoked["token"]))).status_code == 200

    assert (await client.delete(f"/auth/tokens/{revoked['id']}", headers=me.headers)).status_code == 204
    response = await client.get("/tasks", headers=bearer(revoked["token"]))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    again = await client.delete(f"/auth/tokens/{revoked['id']}", headers=me.headers)
    assert again.status_code == 404, again.text
    assert again.json()["code"] == "not_found"

    listed = (await client.get("/auth/tokens", headers=me.headers)).json()["items"]
    assert [item["id"] for item in listed] == [kept["id"]]
    assert (await client.get("/tasks", headers=bearer(kept["token"]))).status_code == 200


async def test_last_used_at_is_written_at_most_once_a_minute(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.create()
    token = await create_token(client, me, scopes=[TASKS_READ])
    assert (await stored_token(client, me, token["id"]))["last_used_at"] is None

    before = utcnow()
    assert (await client.get("/tasks", headers=bearer(token["token"]))).status_code == 200
    first = instant((await stored_token(client, me, token["id"]))["last_used_at"])
    assert first is not None
    assert before <= first <= utcnow()

    # A second use within the minute leaves it as it was.
    assert (await client.get("/auth/me", headers=bearer(token["token"]))).status_code == 200
    assert instant((await stored_token(client, me, token["id"]))["last_used_at"]) == first

    # As if the last use were more than a minute ago: the next use is written.
    long_ago = first - timedelta(minutes=1, seconds=1)
    await set_token_times(app, token["id"], last_used_at=long_ago)
    assert instant((await stored_token(client, me, token["id"]))["last_used_at"]) == long_ago
    before = utcnow()
    assert (await client.get("/tasks", headers=bearer(token["token"]))).status_code == 200
    latest = instant((await stored_token(client, me, token["id"]))["last_used_at"])
    assert latest is not None
    assert before <= latest <= utcnow()


async def test_a_password_change_keeps_tokens_and_deleting_the_account_ends_them(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.create()
    token = await create_token(client, me, scopes=[TASKS_READ, TASKS_WRITE])
    headers = bearer(token["token"])
    created = await client.post("/tasks", json={"title": "By script"}, headers=headers)
    assert created.status_code == 201, created.text

    new_password = "another-horse-battery"
    change = {"current_password": PASSWORD, "new_password": new_password}
    assert (await client.post("/auth/password", json=change, headers=me.headers)).status_code == 204
    assert (await client.get("/auth/me", headers=me.headers)).status_code == 401  # the old session ends
    assert (await client.get(f"/tasks/{created.json()['id']}", headers=headers)).status_code == 200
    assert (await client.get("/auth/me", headers=headers)).json()["id"] == me.id

    login = await users.login(me.username, new_password)
    assert login.status_code == 200, login.text
    session = bearer(login.json()["access_token"])
    assert (await client.delete("/auth/me", headers=session)).status_code == 204
    for path in ("/auth/me", "/tasks"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_token"

    # Not even an account that takes the same name and e-mail afterwards.
    again = await users.register(username=me.username, email=me.email)
    assert again.status_code == 201, again.text
    response = await client.get("/auth/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"


async def test_a_token_is_no_refresh_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.create()
    token = await create_token(client, me, scopes=list(ALL_SCOPES))
    unknown = "tdo_" + "A" * 43

    as_token = await client.post("/auth/refresh", json={"refresh_token": token["token"]})
    as_unknown = await client.post("/auth/refresh", json={"refresh_token": unknown})
    assert as_token.status_code == 401, as_token.text
    assert as_token.json()["code"] == "invalid_token"
    assert refusal(as_token) == refusal(as_unknown)

    # Logging out with it is the no-op it is for any unknown refresh token: the API token lives on.
    assert (await client.post("/auth/logout", json={"refresh_token": token["token"]})).status_code == 204
    assert (await client.get("/auth/me", headers=bearer(token["token"]))).status_code == 200


async def test_a_body_that_is_not_json_is_refused_before_the_token_is_read(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """The one documented exception to "scope first" (README): FastAPI decodes the body before any
    dependency runs. It reveals nothing: the same 422 with any token, or none."""
    me = await users.create()
    token = await create_token(client, me, scopes=[TASKS_READ])
    answers = []
    for headers in (bearer(token["token"]), me.headers, {}):
        response = await client.post(
            "/lists", content=b"{not json", headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        answers.append(response.json()["detail"])
    assert answers[0] == answers[1] == answers[2]
