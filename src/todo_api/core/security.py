"""Password hashing and access tokens: plain functions and one small hasher class."""

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import platform
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import anyio
import jwt
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from todo_api.core.errors import InvalidToken, TokenExpired
from todo_api.core.observability import PASSWORD_HASH_QUEUE

T = TypeVar("T")

JWT_ALGORITHM = "HS256"
# Replicas' clocks differ by a little: a token issued "in the future" by a second is still good.
CLOCK_SKEW_SECONDS = 10
# Verified access tokens remembered per process (a few hundred bytes each).
VERIFIED_TOKENS_KEPT = 4096
_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def _return_large_buffers_to_the_os() -> None:
    """Keep glibc from caching argon2's buffers (tens of MiB) in each hashing thread's arena.

    glibc raises its mmap threshold after a large mmapped block is freed, so later 19 MiB blocks
    come from the heap and stay with the thread that hashed: 40+ MB of resident memory kept for
    nothing with two hashing threads. Fixing the threshold (which also stops that adjustment)
    keeps every such block an mmap that goes back to the OS when the hash is done.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None or platform.libc_ver()[0] != "glibc":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(libc_name).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


class PasswordHasher:
    """argon2id off the event loop, with at most `max_concurrency` hashes at once.

    A hash costs tens of milliseconds of CPU and megabytes of memory; running it in a bounded
    thread pool keeps the event loop free for other requests during a burst of logins.
    """

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int, max_concurrency: int) -> None:
        _return_large_buffers_to_the_os()
        self._argon2 = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        # Verified against when the user is unknown, so that case costs the same as a wrong password.
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await self._on_a_hashing_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash, spend the same time and answer False."""
        return await self._on_a_hashing_thread(self._verify, password_hash, password)

    async def _on_a_hashing_thread(self, function: Callable[..., T], *args: object) -> T:
        """Run `function` once a hashing thread is free, counted in the queue depth until it starts."""
        started = False

        def start(*args: object) -> T:
            nonlocal started
            started = True
            PASSWORD_HASH_QUEUE.dec()
            return function(*args)

        PASSWORD_HASH_QUEUE.inc()
        try:
            return await anyio.to_thread.run_sync(start, *args, limiter=self._limiter)
        finally:
            # Cancelled while queued. Once the thread has it, run_sync waits for it to end.
            if not started:
                PASSWORD_HASH_QUEUE.dec()

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return (
                self._argon2.verify(password_hash or self._dummy_hash, password) and password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class TokenSubject:
    user_id: int
    # The account's random stamp when the token was issued. A password change draws a new one, and
    # an account that is deleted takes its stamp along: a token can never reach another account,
    # even one that gets the same id.
    stamp: str


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request speaks for, from its bearer token, before the database has been asked.

    `stamp` is an access token's stamp: the token is valid only while the account still has it, and
    the statement that reads the request's answer checks that (a hot read is then one statement).
    None when the database has been asked already (an API token, found by its hash). `scopes` is None
    for a password sign-in, which may do everything, else the scopes of the API token used.
    """

    user_id: int
    stamp: str | None
    scopes: frozenset[str] | None


def new_auth_stamp() -> str:
    return secrets.token_hex(16)


def create_access_token(user_id: int, stamp: str, *, secret_key: str, expires_minutes: int) -> AccessToken:
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=expires_minutes)
    claims = {
        "sub": str(user_id),
        "stamp": stamp,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


def decode_access_token(token: str, *, secret_key: str) -> TokenSubject:
    """Who a valid token names; raises TokenExpired or InvalidToken."""
    try:
        subject, expires = _verified(token, secret_key)
    except jwt.ExpiredSignatureError:
        raise TokenExpired from None
    except jwt.InvalidTokenError:
        raise InvalidToken from None
    # A token verified earlier is still checked for expiry at each use.
    if time.time() > expires + CLOCK_SKEW_SECONDS:
        raise TokenExpired
    return subject


@functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verified(token: str, secret_key: str) -> tuple[TokenSubject, float]:
    """The subject and expiry of a token whose signature and claims are good; remembered, since a
    client sends the same token with every request for half an hour and checking it costs more
    than a hot read's SQL. A token that fails is not remembered (an exception is never cached)."""
    claims = jwt.decode(
        token,
        secret_key,
        algorithms=[JWT_ALGORITHM],
        options={"require": ["exp", "iat", "sub"]},
        leeway=CLOCK_SKEW_SECONDS,
    )
    subject, stamp = claims["sub"], claims.get("stamp")
    if not isinstance(subject, str) or not subject.isdigit() or not isinstance(stamp, str):
        raise jwt.InvalidTokenError("no user id and stamp")
    return TokenSubject(user_id=int(subject), stamp=stamp), float(claims["exp"])


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """What the database keeps of a refresh token: its SHA-256, which cannot be turned back."""
    return hashlib.sha256(token.encode()).hexdigest()


API_TOKEN_PREFIX = "tdo_"  # noqa: S105 - a public prefix, not a secret


def new_api_token() -> str:
    """A personal API token: `tdo_` (so secret scanners can spot a leaked one) and 256 random bits."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
