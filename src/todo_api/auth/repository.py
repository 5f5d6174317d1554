"""Users, refresh tokens and API tokens: every SQL statement of the auth domain."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.errors import UserExists
from todo_api.models import STAMP_HELD, ApiToken, RefreshToken, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def holds_stamp(self, user_id: int, stamp: str) -> bool:
        """Whether the account exists and still has this stamp (its access tokens are still good)."""
        values = {"caller_id": user_id, "caller_stamp": stamp}
        return bool((await self.session.exec(STAMP_HELD, params=values)).first())

    async def get_by_login(self, login: str) -> User | None:
        """The user whose username or email is `login`, whatever its case."""
        login = login.strip().lower()
        column = col(User.email) if "@" in login else func.lower(User.username)
        result = await self.session.exec(select(User).where(column == login))
        return result.first()

    async def exists(self, username: str, email: str) -> bool:
        statement = select(User.id).where(
            or_(func.lower(User.username) == username.lower(), col(User.email) == email.lower())
        )
        result = await self.session.exec(statement.limit(1))
        return result.first() is not None

    async def delete(self, user: User) -> None:
        """Delete the user; the database cascades to their tasks and refresh tokens."""
        await self.session.exec(delete(User).where(col(User.id) == user.id))
        self.session.expunge(user)

    async def set_password(self, user_id: int, old_hash: str, new_hash: str, new_stamp: str) -> bool:
        """Replace the password hash if it is still `old_hash`; False when it changed meanwhile."""
        statement = (
            update(User)
            .where(col(User.id) == user_id, col(User.password_hash) == old_hash)
            .values(password_hash=new_hash, auth_stamp=new_stamp)
        )
        result = await self.session.exec(statement)
        return bool(result.rowcount)

    async def add(self, user: User) -> User:
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError:
            # A concurrent registration took the name between our check and our insert.
            raise UserExists from None
        return user


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        """The token row, locked until the transaction ends so two refreshes cannot both rotate it."""
        statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        result = await self.session.exec(statement)
        return result.first()

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        await self.session.exec(
            update(RefreshToken)
            .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )

    async def delete_expired(self, now: datetime) -> int:
        """Delete every token past its expiry; how many went."""
        statement = delete(RefreshToken).where(col(RefreshToken.expires_at) < now)
        result = await self.session.exec(statement)
        return int(result.rowcount)

    async def revoke_all_for_user(self, user_id: int, now: datetime) -> None:
        await self.session.exec(
            update(RefreshToken)
            .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )


class ApiTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: ApiToken) -> ApiToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get_by_hash(self, token_hash: str) -> ApiToken | None:
        statement = select(ApiToken).where(col(ApiToken.token_hash) == token_hash)
        return (await self.session.exec(statement)).first()

    async def for_user(self, user_id: int) -> Sequence[ApiToken]:
        """The user's tokens, newest first."""
        statement = (
            select(ApiToken)
            .where(col(ApiToken.user_id) == user_id)
            .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
        )
        return (await self.session.exec(statement)).all()

    async def delete(self, token_id: int, user_id: int) -> bool:
        """Delete the user's token `token_id`; False when they have none with that id."""
        statement = delete(ApiToken).where(col(ApiToken.id) == token_id, col(ApiToken.user_id) == user_id)
        result = await self.session.exec(statement)
        return bool(result.rowcount)

    async def mark_used(self, token_id: int, now: datetime, every: timedelta) -> None:
        """Record a use, unless one was recorded less than `every` ago (one write a minute at most)."""
        await self.session.exec(
            update(ApiToken)
            .where(
                col(ApiToken.id) == token_id,
                col(ApiToken.last_used_at).is_(None) | (col(ApiToken.last_used_at) < now - every),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
