import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from todo_api.auth.rate_limit import RateLimits
from todo_api.auth.repository import ApiTokenRepository, RefreshTokenRepository, UserRepository
from todo_api.auth.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenList,
    ApiTokenPublic,
    PasswordChange,
    Token,
    UserCreate,
)
from todo_api.core.config import Settings
from todo_api.core.db import utcnow
from todo_api.core.errors import (
    InvalidCredentials,
    InvalidToken,
    NotFound,
    RefreshTokenReused,
    UserExists,
)
from todo_api.core.security import (
    PasswordHasher,
    create_access_token,
    hash_api_token,
    hash_refresh_token,
    new_api_token,
    new_auth_stamp,
    new_refresh_token,
)
from todo_api.lists.service import ListService
from todo_api.models import ApiToken, RefreshToken, User


class AuthService:
    def __init__(
        self,
        users: UserRepository,
        refresh_tokens: RefreshTokenRepository,
        api_tokens: ApiTokenRepository,
        lists: ListService,
        hasher: PasswordHasher,
        rate_limits: RateLimits,
        settings: Settings,
        release_connection: Callable[[], Awaitable[None]],
    ) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens
        self.api_tokens = api_tokens
        self.lists = lists
        self.hasher = hasher
        self.rate_limits = rate_limits
        self.settings = settings
        # Called before a password hash: no connection (nor SQLite's write lock) is held through it.
        self.release_connection = release_connection

    async def register(self, user_in: UserCreate, client: str) -> User:
        """Create a user; the username and email must be free whatever their case."""
        await self.rate_limits.registration_attempt(client)
        # Hash before touching the database: the write transaction then lasts a millisecond, not
        # the length of a hash, and a taken name costs as much time as a free one.
        password_hash = await self.hasher.hash(user_in.password)
        if await self.users.exists(user_in.username, user_in.email):
            raise UserExists
        user = await self.users.add(
            User(username=user_in.username, email=user_in.email.lower(), password_hash=password_hash)
        )
        assert user.id is not None
        await self.lists.create_inbox(user.id)
        return user

    async def login(self, login: str, password: str, client: str) -> Token:
        """Tokens for the user whose username or email is `login`, if the password matches."""
        user = await self.users.get_by_login(login)
        await self.release_connection()
        # One budget per account, whether it is named by username or by e-mail.
        account = f"user:{user.id}" if user else f"unknown:{login.strip().lower()}"
        attempt = await self.rate_limits.login_attempt(client, account)
        # Verify even for an unknown user (against a dummy hash): both failures cost the same.
        verified = await self.hasher.verify(user.password_hash if user else None, password)
        if user is None or not verified:
            raise InvalidCredentials
        await attempt.give_back()
        if self.hasher.needs_rehash(user.password_hash):
            user.password_hash = await self.hasher.hash(password)
        return await self._issue_tokens(user, family_id=uuid.uuid4().hex)

    async def refresh(self, refresh_token: str) -> Token:
        """Exchange a refresh token for new tokens; the old one stops working.

        A token that was already exchanged is taken as stolen: its whole family is revoked.
        """
        now = utcnow()
        stored = await self.refresh_tokens.get_by_hash_for_update(hash_refresh_token(refresh_token))
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise InvalidToken
        if stored.rotated_at is not None:
            await self.refresh_tokens.revoke_family(stored.family_id, now)
            raise RefreshTokenReused
        user = await self.users.get(stored.user_id)
        if user is None:
            raise InvalidToken
        stored.rotated_at = now
        return await self._issue_tokens(user, family_id=stored.family_id)

    async def logout(self, refresh_token: str) -> None:
        """Revoke the login the refresh token belongs to. Unknown or spent tokens are no error."""
        stored = await self.refresh_tokens.get_by_hash_for_update(hash_refresh_token(refresh_token))
        if stored is not None:
            await self.refresh_tokens.revoke_family(stored.family_id, utcnow())

    async def change_password(self, user: User, change: PasswordChange) -> None:
        """Set a new password; every access and refresh token issued before stops working."""
        assert user.id is not None
        old_hash = user.password_hash
        await self.release_connection()
        attempt = await self.rate_limits.password_change_attempt(user.id)
        if not await self.hasher.verify(old_hash, change.current_password):
            raise InvalidCredentials
        await attempt.give_back()
        new_hash = await self.hasher.hash(change.new_password)
        # Only if no other change came first: the password just proven must still be the current one.
        if not await self.users.set_password(user.id, old_hash, new_hash, new_auth_stamp()):
            raise InvalidCredentials
        await self.refresh_tokens.revoke_all_for_user(user.id, utcnow())

    async def delete_account(self, user: User) -> None:
        """Delete the user with the lists they own (and every task in them), their memberships and
        tokens. Tasks they made or were assigned in other lists stay, without them."""
        assert user.id is not None
        await self.lists.forget_user(user.id)
        await self.users.delete(user)

    async def create_api_token(self, user: User, token_in: ApiTokenCreate) -> ApiTokenCreated:
        """A new personal API token; its secret is in this answer only."""
        assert user.id is not None
        secret = new_api_token()
        now = utcnow()
        expires = now + timedelta(days=token_in.expires_in_days) if token_in.expires_in_days else None
        token = await self.api_tokens.add(
            ApiToken(
                user_id=user.id,
                name=token_in.name,
                token_hash=hash_api_token(secret),
                scopes=sorted(dict.fromkeys(scope.value for scope in token_in.scopes)),
                created_at=now,
                expires_at=expires,
            )
        )
        return ApiTokenCreated.model_validate({**token.model_dump(), "token": secret})

    async def api_tokens_of(self, user: User) -> ApiTokenList:
        """The user's API tokens, newest first, without their secrets."""
        assert user.id is not None
        return ApiTokenList(
            items=[ApiTokenPublic.model_validate(token) for token in await self.api_tokens.for_user(user.id)]
        )

    async def revoke_api_token(self, user: User, token_id: int) -> None:
        assert user.id is not None
        if not await self.api_tokens.delete(token_id, user.id):
            raise NotFound("no API token with this id")

    async def _issue_tokens(self, user: User, family_id: str) -> Token:
        assert user.id is not None
        access = create_access_token(
            user.id,
            user.auth_stamp,
            secret_key=self.settings.secret_key,
            expires_minutes=self.settings.access_token_expire_minutes,
        )
        refresh = new_refresh_token()
        lifetime = timedelta(days=self.settings.refresh_token_expire_days)
        await self.refresh_tokens.add(
            RefreshToken(
                user_id=user.id,
                family_id=family_id,
                token_hash=hash_refresh_token(refresh),
                expires_at=utcnow() + lifetime,
            )
        )
        return Token(
            access_token=access.token,
            expires_in=access.expires_in,
            refresh_token=refresh,
            refresh_expires_in=int(lifetime.total_seconds()),
        )
