from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.models import RefreshToken


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
