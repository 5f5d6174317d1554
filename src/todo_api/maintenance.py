from todo_api.auth.repository import RefreshTokenRepository
from todo_api.core.db import utcnow
from todo_api.tasks.repository import IdempotencyKeyRepository
from todo_api.tasks.service import IDEMPOTENCY_WINDOW


class MaintenanceService:
    """Housekeeping run from the command line (`todo-api purge-…`), e.g. daily from cron."""

    def __init__(
        self, idempotency_keys: IdempotencyKeyRepository, refresh_tokens: RefreshTokenRepository
    ) -> None:
        self.idempotency_keys = idempotency_keys
        self.refresh_tokens = refresh_tokens

    async def purge_idempotency_keys(self) -> int:
        """Forget idempotency keys older than the replay window; how many went."""
        return await self.idempotency_keys.delete_older_than(utcnow() - IDEMPOTENCY_WINDOW)

    async def purge_expired_refresh_tokens(self) -> int:
        """Delete refresh tokens past their expiry; how many went.

        Rotated and revoked tokens stay until then: a rotated one presented again is how a stolen
        token is recognised, and that must keep working for as long as the token could be valid.
        """
        return await self.refresh_tokens.delete_expired(utcnow())
