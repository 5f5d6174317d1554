import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from tests.conftest import TEST_SECRET_KEY
from tests.factories import PASSWORD, UserFactory
from todo_api.models import User


def assert_unauthorized(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == code


def make_token(secret: str = TEST_SECRET_KEY, algorithm: str = "HS256", **claims: object) -> str:
    now = datetime.now(UTC)
    payload = {"sub": "1", "iat": now, "exp": now + timedelta(minutes=5), "jti": "x", **claims}
    return jwt.encode(payload, secret, algorithm=algorithm)


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# Registration


async def test_register_returns_the_user_without_any_hash(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"username": "Alice", "email": "Alice@Example.COM", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "username", "email", "created_at"}
    assert body["username"] == "Alice"
    assert body["email"] == "alice@example.com"
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    "clash",
    [
        {"username": "ALICE", "email": "other@example.com"},
        {"username": "alice"},
        {"username": "someone", "email": "ALICE@x.io"},
    ],
)
async def test_username_and_email_are_unique_whatever_their_case(
    users: UserFactory, clash: dict[str, str]
) -> None:
    assert (await users.register(username="Alice", email="alice@x.io")).status_code == 201
    response = await users.register(**clash)
    assert response.status_code == 409
    assert response.json()["code"] == "user_exists"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "ab"),
        ("username", "a" * 33),
        ("username", "has space"),
        ("username", "at@sign"),
        ("email", "not-an-email"),
        ("password", "short"),
        ("password", "p" * 129),
    ],
)
async def test_invalid_registration_is_422_and_stores_nothing(
    users: UserFactory, field: str, value: str
) -> None:
    fields = {"username": "keeper", "email": "keeper@example.com", field: value}
    response = await users.register(**fields)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert any(error["loc"] == ["body", field] for error in body["detail"])
    assert (await users.login(fields["username"], fields.get("password", PASSWORD))).status_code == 401


@pytest.mark.parametrize("length", [3, 32])
async def test_username_length_bounds_are_inclusive(users: UserFactory, length: int) -> None:
    assert (await users.register(username="u" * length)).status_code == 201


@pytest.mark.parametrize("length", [8, 128])
async def test_password_length_bounds_are_inclusive(users: UserFactory, length: int) -> None:
    assert (await users.register(password="p" * length)).status_code == 201


async def test_a_rejected_password_is_never_echoed(users: UserFactory) -> None:
    secret = "sh0rt!"
    response = await users.register(password=secret, email="bad")
    assert response.status_code == 422
    assert secret not in response.text


async def test_unknown_fields_in_registration_are_rejected(users: UserFactory) -> None:
    response = await users.register(is_admin=True)
    assert response.status_code == 422


# Login


@pytest.mark.parametrize("login_with", ["username", "username_upper", "email", "email_upper"])
async def test_login_by_username_or_email(users: UserFactory, login_with: str) -> None:
    await users.register(username="Bob", email="bob@example.com")
    login = {
        "username": "Bob",
        "username_upper": "BOB",
        "email": "bob@example.com",
        "email_upper": "BOB@Example.com",
    }[login_with]
    response = await users.login(login)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    assert response.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(body["access_token"], TEST_SECRET_KEY, algorithms=["HS256"])
    assert claims["sub"].isdigit()
    assert {"iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 1800


async def test_wrong_password_and_unknown_user_get_the_same_answer(users: UserFactory) -> None:
    user = await users.create()
    wrong = await users.login(user.username, "wrong-password")
    unknown = await users.login("nobody-here", "wrong-password")
    for response in (wrong, unknown):
        assert_unauthorized(response, "invalid_credentials")
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_login_form_needs_both_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", data={"username": "x"})
    assert response.status_code == 422


async def test_passwords_are_stored_as_argon2id_hashes(app: FastAPI, users: UserFactory) -> None:
    user = await users.create()
    async with app.state.database.read_session() as session:
        stored = await session.get(User, user.id)
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


# Bearer tokens


async def test_me_returns_the_signed_in_user(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    response = await client.get("/auth/me", headers=user.headers)
    assert response.status_code == 200
    assert response.json()["id"] == user.id
    assert "password_hash" not in response.text


async def test_missing_token_is_not_authenticated(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get("/auth/me"), "not_authenticated")


async def test_another_scheme_is_not_authenticated(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_unauthorized(response, "not_authenticated")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "Bearer"])
async def test_malformed_token_is_invalid(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, "invalid_token")


async def test_tampered_token_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    header, _payload, signature = user.token.split(".")
    forged = b64({"sub": "999999", "iat": 1, "exp": 4102444800})
    response = await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {header}.{forged}.{signature}"}
    )
    assert_unauthorized(response, "invalid_token")


async def test_alg_none_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    now = int(datetime.now(UTC).timestamp())
    unsigned = (
        f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': str(user.id), 'iat': now, 'exp': now + 60})}."
    )
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert_unauthorized(response, "invalid_token")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_other_algorithm_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    token = make_token(algorithm="HS512", sub=str(user.id))
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, "invalid_token")


async def test_wrong_key_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    token = make_token(secret="another-secret-key-0123456789abcdef", sub=str(user.id))
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, "invalid_token")


@pytest.mark.parametrize("missing", ["sub", "exp", "iat"])
async def test_token_without_a_required_claim_is_invalid(
    client: httpx.AsyncClient, users: UserFactory, missing: str
) -> None:
    user = await users.create()
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "iat": now, "exp": now + timedelta(minutes=5)}
    del claims[missing]
    token = jwt.encode(claims, TEST_SECRET_KEY, algorithm="HS256")
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, "invalid_token")


async def test_expired_token_is_token_expired(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    past = datetime.now(UTC) - timedelta(hours=1)
    token = make_token(sub=str(user.id), iat=past, exp=past + timedelta(minutes=30))
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response, "token_expired")


async def test_token_of_a_deleted_user_is_invalid(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    async with app.state.database.write_session() as session, session.begin():
        await session.exec(delete(User).where(User.id == user.id))  # type: ignore[call-overload]
    response = await client.get("/auth/me", headers=user.headers)
    assert_unauthorized(response, "invalid_token")


async def test_openapi_declares_the_password_flow(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    flows = [
        scheme["flows"]
        for scheme in schema["components"]["securitySchemes"].values()
        if scheme["type"] == "oauth2"
    ]
    assert flows
    assert flows[0]["password"]["tokenUrl"] == "/auth/login"
    assert schema["paths"]["/tasks"]["get"]["security"]
