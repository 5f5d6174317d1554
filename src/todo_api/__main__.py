"""The `todo-api` command: read settings, migrate if asked, run uvicorn."""

import argparse
import asyncio
import os
import sys

import structlog
import uvicorn

from todo_api.config import ConfigurationError, Settings, load_settings
from todo_api.db import Database, create_engine, upgrade_database
from todo_api.observability import configure_logging
from todo_api.repositories.idempotency_key import IdempotencyKeyRepository
from todo_api.repositories.task import TaskRepository
from todo_api.services.task import TaskService


async def purge_idempotency_keys(settings: Settings) -> int:
    database = Database(create_engine(settings))
    try:
        async with database.write_session() as session, session.begin():
            service = TaskService(TaskRepository(session), IdempotencyKeyRepository(session))
            return await service.purge_idempotency_keys()
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="todo-api", description="Run the todo-api service.")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "purge-idempotency"],
        help="serve (default): migrate if AUTO_MIGRATE, then serve; migrate: upgrade to head and exit; "
        "purge-idempotency: delete idempotency keys older than 24 hours and exit",
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
        purged = asyncio.run(purge_idempotency_keys(settings))
        log.info("purged idempotency keys older than 24 hours", purged=purged)
        return 0
    # Migrated once, here: the workers must not all try again.
    os.environ["AUTO_MIGRATE"] = "false"
    uvicorn.run(
        "todo_api.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
