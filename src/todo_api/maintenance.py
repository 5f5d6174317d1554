"""Housekeeping run from the command line (`todo-api purge-...`), e.g. daily from cron."""

from todo_api.auth.repository import RefreshTokenRepository
from todo_api.core.db import utcnow
from todo_api.idempotency.service import IdempotencyService


class MaintenanceService:
    """Housekeeping run from the command line (`todo-api purge-…`), e.g. daily from cron."""

    def __init__(self, idempotency: IdempotencyService, refresh_tokens: RefreshTokenRepository) -> None:
        self.idempotency = idempotency
        self.refresh_tokens = refresh_tokens

    async def purge_idempotency_keys(self) -> int:
        """Forget idempotency keys older than the replay window; how many went."""
        return await self.idempotency.purge()

    async def purge_expired_refresh_tokens(self) -> int:
        """Delete refresh tokens past their expiry; how many went.

        Rotated and revoked tokens stay until then: a rotated one presented again is how a stolen
        token is recognised, and that must keep working for as long as the token could be valid.
        """
        return await self.refresh_tokens.delete_expired(utcnow())
