"""Bearer tokens: who a request speaks for, and with which scopes."""

import secrets
from datetime import timedelta

from todo_api.auth.repository import ApiTokenRepository, UserRepository
from todo_api.core.db import utcnow
from todo_api.core.errors import InvalidToken, TokenExpired
from todo_api.core.security import (
    API_TOKEN_PREFIX,
    Caller,
    decode_access_token,
    hash_api_token,
)
from todo_api.models import User

# last_used_at is written at most this often per token.
API_TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class Authenticator:
    def __init__(self, users: UserRepository, api_tokens: ApiTokenRepository, secret_key: str) -> None:
        self.users = users
        self.api_tokens = api_tokens
        self.secret_key = secret_key

    async def identify(self, token: str) -> Caller:
        """The caller a bearer token names; raises InvalidToken or TokenExpired.

        An access token is checked by its signature and expiry here, and by its stamp where the
        account is read (`user`, `check`, or a hot read's own statement). An API token is looked up
        by its hash, and its use recorded.
        """
        if not token.startswith(API_TOKEN_PREFIX):
            subject = decode_access_token(token, secret_key=self.secret_key)
            return Caller(subject.user_id, subject.stamp, scopes=None)
        found = await self.api_tokens.get_by_hash(hash_api_token(token))
        if found is None:
            raise InvalidToken
        now = utcnow()
        if found.expires_at is not None and found.expires_at <= now:
            raise TokenExpired
        assert found.id is not None
        await self.api_tokens.mark_used(found.id, now, every=API_TOKEN_USE_RESOLUTION)
        # The token goes with its account (ON DELETE CASCADE): finding it is finding the account.
        return Caller(found.user_id, stamp=None, scopes=frozenset(found.scopes))

    async def user(self, caller: Caller) -> User:
        """The caller's account; InvalidToken if it is gone or its access token was revoked."""
        user = await self.users.get(caller.user_id)
        if user is None:
            raise InvalidToken
        stamp = caller.stamp
        if stamp is not None and not secrets.compare_digest(user.auth_stamp.encode(), stamp.encode()):
            raise InvalidToken
        return user

    async def check(self, caller: Caller) -> None:
        """InvalidToken unless the caller's access token still holds, without loading the account
        (one primary-key read; an API token was checked when it was found)."""
        if caller.stamp is not None and not await self.users.holds_stamp(caller.user_id, caller.stamp):
            raise InvalidToken
