from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.errors import UserExists
from todo_api.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

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
