"""Housekeeping run from the command line (`todo-api purge-...`), e.g. daily from cron."""

from datetime import timedelta

from todo_api.auth.repository import RefreshTokenRepository
from todo_api.core.config import Settings
from todo_api.core.db import utcnow
from todo_api.idempotency.service import IdempotencyService
from todo_api.sync.repository import SyncRepository
from todo_api.tasks.service import TaskService
from todo_api.webhooks.service import WebhookService


class MaintenanceService:
    """Housekeeping run from the command line (`todo-api purge-…`), e.g. daily from cron."""

    def __init__(
        self,
        idempotency: IdempotencyService,
        refresh_tokens: RefreshTokenRepository,
        tasks: TaskService,
        changes: SyncRepository,
        webhooks: WebhookService,
        settings: Settings,
    ) -> None:
        self.idempotency = idempotency
        self.refresh_tokens = refresh_tokens
        self.tasks = tasks
        self.changes = changes
        self.webhooks = webhooks
        self.settings = settings

    async def purge_idempotency_keys(self) -> int:
        """Forget idempotency keys older than the replay window; how many went."""
        return await self.idempotency.purge()

    async def purge_expired_refresh_tokens(self) -> int:
        """Delete refresh tokens past their expiry; how many went.

        Rotated and revoked tokens stay until then: a rotated one presented again is how a stolen
        token is recognised, and that must keep working for as long as the token could be valid.
        """
        return await self.refresh_tokens.delete_expired(utcnow())

    async def purge_trash(self) -> int:
        """Delete for good the tasks in the trash for longer than TRASH_RETENTION_DAYS; how many."""
        return await self.tasks.purge_trash(self.settings.trash_retention_days)

    async def purge_sync_changes(self) -> int:
        """Delete the sync feed's change records older than SYNC_RETENTION_DAYS (older cursors then
        get 410); how many went."""
        return await self.changes.purge(utcnow() - timedelta(days=self.settings.sync_retention_days))

    async def purge_webhook_deliveries(self) -> int:
        """Delete webhook deliveries older than WEBHOOK_RETENTION_DAYS; how many went."""
        return await self.webhooks.purge(self.settings.webhook_retention_days)
