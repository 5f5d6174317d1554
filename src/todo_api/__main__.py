"""The `todo-api` command: read settings, migrate if asked, run uvicorn."""

import argparse
import os
import sys

import structlog
import uvicorn

from todo_api.config import ConfigurationError, load_settings
from todo_api.db import upgrade_database
from todo_api.observability import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="todo-api", description="Run the todo-api service.")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate"],
        help="serve (default): migrate if AUTO_MIGRATE, then serve; migrate: upgrade to head and exit",
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
