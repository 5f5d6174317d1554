"""The `todo-api` command: read settings, migrate if asked, run uvicorn."""

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import structlog
import uvicorn

from todo_api.auth.repository import RefreshTokenRepository
from todo_api.core.config import ConfigurationError, Settings, load_settings
from todo_api.core.db import Database, create_engine, upgrade_database
from todo_api.core.observability import configure_logging
from todo_api.idempotency.repository import IdempotencyKeyRepository
from todo_api.idempotency.service import IdempotencyService
from todo_api.maintenance import MaintenanceService


async def purge(settings: Settings, what: Callable[[MaintenanceService], Awaitable[int]]) -> int:
    """Run one purge in its own transaction; how many rows went."""
    database = Database(create_engine(settings))
    try:
        async with database.write_session() as session, session.begin():
            idempotency = IdempotencyService(IdempotencyKeyRepository(session))
            service = MaintenanceService(idempotency, RefreshTokenRepository(session))
            return await what(service)
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="todo-api", description="Run the todo-api service.")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "purge-idempotency", "purge-refresh-tokens"],
        help="serve (default): migrate if AUTO_MIGRATE, then serve; migrate: upgrade to head and exit; "
        "purge-idempotency: delete idempotency keys older than 24 hours; "
        "purge-refresh-tokens: delete refresh tokens past their expiry",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"todo-api: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    log = structlog.get_logger()

    if args.command == "migrate" or settings.auto_migrate:
        upgrade_database(settings.database_url)
        log.info("database at the latest migration", database=settings.database_url.split(":", 1)[0])
    if args.command == "migrate":
        return 0
    if args.command == "purge-idempotency":
        purged = asyncio.run(purge(settings, MaintenanceService.purge_idempotency_keys))
        log.info("purged idempotency keys older than 24 hours", purged=purged)
        return 0
    if args.command == "purge-refresh-tokens":
        purged = asyncio.run(purge(settings, MaintenanceService.purge_expired_refresh_tokens))
        log.info("purged refresh tokens past their expiry", purged=purged)
        return 0
    serve(settings)
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
