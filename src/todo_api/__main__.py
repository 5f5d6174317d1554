"""The `todo-api` command: read settings, migrate if asked, run uvicorn."""

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from todo_api import backup
from todo_api.auth.repository import RefreshTokenRepository
from todo_api.core.config import ConfigurationError, Settings, load_settings
from todo_api.core.db import Database, create_engine, upgrade_database
from todo_api.core.observability import configure_logging
from todo_api.idempotency.repository import IdempotencyKeyRepository
from todo_api.idempotency.service import IdempotencyService
from todo_api.lists.repository import ListRepository
from todo_api.lists.service import ListService
from todo_api.maintenance import MaintenanceService
from todo_api.sync.repository import SyncRepository
from todo_api.tasks.repository import TaskRepository
from todo_api.tasks.service import TaskService
from todo_api.webhooks.repository import WebhookRepository
from todo_api.webhooks.service import WebhookService


async def purge(settings: Settings, what: Callable[[MaintenanceService], Awaitable[int]]) -> int:
    """Run one purge in its own transaction; how many rows went."""
    database = Database(create_engine(settings))
    try:
        async with database.write_session() as session, session.begin():
            idempotency = IdempotencyService(IdempotencyKeyRepository(session))
            lists = ListService(ListRepository(session), idempotency)
            tasks = TaskService(TaskRepository(session), lists, idempotency)
            webhooks = WebhookService(
                WebhookRepository(session), allow_private_targets=settings.webhook_allow_private_targets
            )
            service = MaintenanceService(
                idempotency,
                RefreshTokenRepository(session),
                tasks,
                SyncRepository(session),
                webhooks,
                settings,
            )
            return await what(service)
    finally:
        await database.dispose()


# Each purge: what it runs, and what it logs when done.
PURGES: dict[str, tuple[Callable[[MaintenanceService], Awaitable[int]], str]] = {
    "purge-idempotency": (
        MaintenanceService.purge_idempotency_keys,
        "purged idempotency keys older than 24 hours",
    ),
    "purge-refresh-tokens": (
        MaintenanceService.purge_expired_refresh_tokens,
        "purged refresh tokens past their expiry",
    ),
    "purge-trash": (
        MaintenanceService.purge_trash,
        "purged tasks in the trash longer than TRASH_RETENTION_DAYS",
    ),
    "purge-sync": (
        MaintenanceService.purge_sync_changes,
        "purged sync change records older than SYNC_RETENTION_DAYS",
    ),
    "purge-webhook-deliveries": (
        MaintenanceService.purge_webhook_deliveries,
        "purged webhook deliveries older than WEBHOOK_RETENTION_DAYS",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="todo-api", description="Run the todo-api service.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="(the default) migrate if AUTO_MIGRATE, then serve")
    commands.add_parser("migrate", help="upgrade the database to the latest migration and exit")
    commands.add_parser("purge-idempotency", help="delete idempotency keys older than 24 hours")
    commands.add_parser("purge-refresh-tokens", help="delete refresh tokens past their expiry")
    commands.add_parser(
        "purge-trash", help="delete for good tasks in the trash longer than TRASH_RETENTION_DAYS"
    )
    commands.add_parser("purge-sync", help="delete sync change records older than SYNC_RETENTION_DAYS")
    commands.add_parser(
        "purge-webhook-deliveries", help="delete webhook deliveries older than WEBHOOK_RETENTION_DAYS"
    )
    backup_parser = commands.add_parser(
        "backup",
        help="copy the live SQLite database while the service keeps writing",
        description="Copy the SQLite database at DATABASE_URL to PATH, consistently, while it is in use. "
        "With a directory, the copy is named todo-api-<UTC time>.db inside it.",
    )
    backup_parser.add_argument("path", type=Path, help="the backup file to write, or a directory")
    backup_parser.add_argument(
        "--keep", type=int, metavar="N", help="with a directory: delete all but the newest N backups there"
    )
    restore_parser = commands.add_parser(
        "restore",
        help="replace the SQLite database with a backup (refused while anything uses the database)",
        description="Replace the SQLite database at DATABASE_URL with the backup at PATH. Stop every "
        "server first: the restore is refused while any process has the database open.",
    )
    restore_parser.add_argument("path", type=Path, help="the backup file to restore")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"todo-api: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    log = structlog.get_logger()

    if command in {"backup", "restore"}:
        # Never migrates: a backup reads the database as it is, and a restore puts one back as it was
        # (the server migrates it when it starts).
        return run_backup_command(command, args, settings)
    if command == "migrate" or settings.auto_migrate:
        upgrade_database(settings.database_url)
        log.info("database at the latest migration", database=settings.database_url.split(":", 1)[0])
    if command == "migrate":
        return 0
    if command in PURGES:
        what, done = PURGES[command]
        log.info(done, purged=asyncio.run(purge(settings, what)))
        return 0
    serve(settings)
    return 0


def run_backup_command(command: str, args: argparse.Namespace, settings: Settings) -> int:
    """`todo-api backup PATH [--keep N]` or `todo-api restore PATH`: 0 when done, 1 when refused."""
    log = structlog.get_logger()
    try:
        database = backup.sqlite_path(settings.database_url)
        if command == "backup":
            done = backup.backup(
                database, args.path, keep=args.keep, busy_timeout_ms=settings.sqlite_busy_timeout_ms
            )
            log.info(
                "backup written",
                path=str(done.path),
                size_bytes=done.size_bytes,
                revision=done.revision,
                seconds=round(done.seconds, 3),
                pruned=[str(path) for path in done.pruned],
            )
        else:
            restored = backup.restore(args.path, database)
            log.info(
                "database restored",
                database=str(restored.database),
                backup=str(args.path),
                revision=restored.revision,
                seconds=round(restored.seconds, 3),
            )
    except (backup.BackupError, sqlite3.Error) as error:
        print(f"todo-api {command}: {error}", file=sys.stderr)
        return 1
    return 0


APP_FACTORY = "todo_api.main:create_app"


class Server(uvicorn.Server):
    """uvicorn's server, except that a shutdown on SIGTERM or SIGINT that drained cleanly exits 0.

    uvicorn re-raises the signal once it has shut down, so the process would report death by
    SIGTERM (143) although every request in flight was answered and the engine disposed.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()


def serve(settings: Settings) -> None:
    # Migrated once, before serving: the workers must not all try again.
    os.environ["AUTO_MIGRATE"] = "false"
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own files here; /metrics adds them up (prometheus-client).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="todo-api-metrics-")
    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
    }
    if settings.workers > 1:
        # The supervisor stops its workers on SIGTERM and then returns normally.
        uvicorn.run(APP_FACTORY, **options)
    else:
        Server(uvicorn.Config(APP_FACTORY, **options)).run()


if __name__ == "__main__":
    sys.exit(main())
