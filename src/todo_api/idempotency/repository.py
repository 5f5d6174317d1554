"""Every SQL statement about idempotency keys."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.models import IdempotencyKey


class IdempotencyKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int, route: str, key: str) -> IdempotencyKey | None:
        statement = select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.route == route, IdempotencyKey.key == key
        )
        result = await self.session.exec(statement.execution_options(populate_existing=True))
        return result.first()

    async def claim(self, user_id: int, route: str, key: str, request_hash: str, now: datetime) -> bool:
        """Insert the key unless it exists; False when another request holds it.

        On PostgreSQL a concurrent claim waits here until the other transaction ends, so a False
        always means the other request's record (with its response) is committed and readable.
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(IdempotencyKey)
            .values(user_id=user_id, route=route, key=key, request_hash=request_hash, created_at=now)
            .on_conflict_do_nothing(index_elements=["user_id", "route", "key"])
            .returning(col(IdempotencyKey.id))
        )
        result = await self.session.exec(statement)
        return result.first() is not None

    async def save_response(self, user_id: int, route: str, key: str, response: dict[str, Any]) -> None:
        await self.session.exec(
            update(IdempotencyKey)
            .where(
                col(IdempotencyKey.user_id) == user_id,
                col(IdempotencyKey.route) == route,
                col(IdempotencyKey.key) == key,
            )
            .values(response=response)
        )

    async def delete(self, record: IdempotencyKey) -> None:
        await self.session.delete(record)
        await self.session.flush()

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Delete every record created before `cutoff`; how many went."""
        statement = delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < cutoff)
        result = await self.session.exec(statement)
        return int(result.rowcount)
