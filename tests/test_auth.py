import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from tests.conftest import TEST_SECRET_KEY
from tests.factories import PASSWORD, UserFactory
from todo_api.models import User

OTHER_KEY = "another-secret-key-0123456789abcdef0123456789"
_HMAC_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def assert_unauthorized(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == code


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


def token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a token the server issued, read without checking anything."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims


def forge(
    header: dict[str, Any],
    claims: dict[str, Any],
    *,
    key: str = TEST_SECRET_KEY,
    sign_with: str | None = None,
) -> str:
    """`header.claims`, HMAC-signed with `key` by `sign_with` (default: the header's alg); "none": unsigned.

    Built by hand rather than by pyjwt, so that the header says exactly what the test wants it to say.
    test_a_valid_token_forged_again_is_accepted shows that, left unchanged, its tokens are accepted.
    """
    algorithm = sign_with or header["alg"]
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = ""
    if algorithm != "none":
        digest = _HMAC_DIGESTS[algorithm]
        signature = b64url(hmac.new(key.encode(), signing_input.encode(), digest).digest())
    return f"{signing_input}.{signature}"


async def get_me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


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


class CountingArgon2:
    """Passes everything to the real argon2 hasher; records the hash of each `verify` call."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return bool(self.real.verify(password_hash, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


async def test_an_unknown_user_costs_one_real_verification_like_a_wrong_password(
    app: FastAPI, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await users.create()
    async with app.state.database.read_session() as session:
        stored = await session.get(User, user.id)
    assert stored is not None
    argon2 = CountingArgon2(app.state.password_hasher._argon2)
    monkeypatch.setattr(app.state.password_hasher, "_argon2", argon2)

    assert_unauthorized(await users.login("nobody-here", "wrong-password"), "invalid_credentials")
    assert len(argon2.verified) == 1
    dummy = argon2.verified[0]

    assert_unauthorized(await users.login(user.username, "wrong-password"), "invalid_credentials")
    assert argon2.verified[1:] == [stored.password_hash]

    # A real argon2id hash of the same cost as the users' ones: `$argon2id$v=..$m=..,t=..,p=..$salt$hash`.
    assert dummy.split("$")[1:4] == stored.password_hash.split("$")[1:4]
    assert dummy.split("$")[1] == "argon2id"


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


# Forged tokens. Each one is a valid token of the server with exactly one thing changed, so that the
# server has exactly one reason to refuse it: the test fails if that one rule is gone.


async def test_a_valid_token_forged_again_is_accepted(client: httpx.AsyncClient, users: UserFactory) -> None:
    """The control: `forge` itself makes tokens the server accepts, so the refusals below are real."""
    user = await users.create()
    header, claims = token_parts(user.token)
    response = await get_me(client, forge(header, claims))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user.id


async def test_a_tampered_signature_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    head, payload, signature = user.token.split(".")
    # The first character: every bit of it is signature (the last one's low bits are only padding).
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert_unauthorized(await get_me(client, f"{head}.{payload}.{flipped}"), "invalid_token")


@pytest.mark.parametrize("change", ["exp_one_second_later", "sub_of_another_user", "payload_of_another_user"])
async def test_a_changed_payload_under_the_old_signature_is_invalid(
    client: httpx.AsyncClient, users: UserFactory, change: str
) -> None:
    user, other = await users.create(), await users.create()
    head, _payload, signature = user.token.split(".")
    _header, claims = token_parts(user.token)
    if change == "exp_one_second_later":
        payload = b64json({**claims, "exp": claims["exp"] + 1})
    elif change == "sub_of_another_user":
        payload = b64json({**claims, "sub": str(other.id)})
    else:  # a genuine payload, spliced from another user's token
        payload = other.token.split(".")[1]
    assert_unauthorized(await get_me(client, f"{head}.{payload}.{signature}"), "invalid_token")


async def test_a_token_signed_with_another_key_is_invalid(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.create()
    header, claims = token_parts(user.token)
    assert_unauthorized(await get_me(client, forge(header, claims, key=OTHER_KEY)), "invalid_token")


@pytest.mark.parametrize(
    ("alg", "sign_with"),
    [
        ("none", "none"),  # no signature at all
        ("HS512", "HS512"),  # the right key, another HMAC
        ("HS384", "HS384"),
        ("RS256", "HS256"),  # algorithm confusion: the header lies about the signature
    ],
)
async def test_only_hs256_is_accepted(
    client: httpx.AsyncClient, users: UserFactory, alg: str, sign_with: str
) -> None:
    user = await users.create()
    header, claims = token_parts(user.token)
    token = forge({**header, "alg": alg}, claims, sign_with=sign_with)
    if alg == "none":
        assert token.endswith(".")
    assert_unauthorized(await get_me(client, token), "invalid_token")


async def test_an_expired_token_is_token_expired(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    header, claims = token_parts(user.token)
    # Well past the ~10 s of clock skew the server allows.
    token = forge(header, {**claims, "exp": int(time.time()) - 120})
    assert_unauthorized(await get_me(client, token), "token_expired")


async def test_a_token_that_worked_is_token_expired_once_it_expires(
    client: httpx.AsyncClient, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server remembers tokens it has verified (core/security.py); each use still checks expiry.
    user = await users.create()
    assert (await get_me(client, user.token)).status_code == 200
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 30 * 60 + 11)
    assert_unauthorized(await get_me(client, user.token), "token_expired")


@pytest.mark.parametrize("missing", ["sub", "exp", "iat"])
async def test_a_token_without_a_required_claim_is_invalid(
    client: httpx.AsyncClient, users: UserFactory, missing: str
) -> None:
    user = await users.create()
    header, claims = token_parts(user.token)
    del claims[missing]
    assert_unauthorized(await get_me(client, forge(header, claims)), "invalid_token")


async def test_a_numeric_sub_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    header, claims = token_parts(user.token)
    assert_unauthorized(await get_me(client, forge(header, {**claims, "sub": user.id})), "invalid_token")


async def test_a_sub_naming_no_user_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    header, claims = token_parts(user.token)
    token = forge(header, {**claims, "sub": str(user.id + 1_000_000)})
    assert_unauthorized(await get_me(client, token), "invalid_token")


async def test_a_validly_signed_token_cannot_be_moved_to_another_user(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """Even signed with the right key, a token issued to one account does not reach another."""
    user, other = await users.create(), await users.create()
    header, claims = token_parts(user.token)
    assert_unauthorized(
        await get_me(client, forge(header, {**claims, "sub": str(other.id)})), "invalid_token"
    )


async def test_iat_a_few_seconds_ahead_is_accepted(client: httpx.AsyncClient, users: UserFactory) -> None:
    """Replicas' clocks may differ by a few seconds: a token from a replica that runs ahead still works."""
    user = await users.create()
    header, claims = token_parts(user.token)
    response = await get_me(client, forge(header, {**claims, "iat": int(time.time()) + 5}))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user.id


async def test_iat_far_in_the_future_is_invalid(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create()
    header, claims = token_parts(user.token)
    token = forge(header, {**claims, "iat": int(time.time()) + 3600})
    assert_unauthorized(await get_me(client, token), "invalid_token")


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
