"""Alembic environment: async engine, URL from the service's settings."""

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, event, pool, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import todo_api.models  # noqa: F401 - registers every table on the metadata
from todo_api.core.config import load_settings
from todo_api.core.db import metadata

config = context.config
# Callers inside the service pass their own URL and keep their own logging.
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Serialises concurrent `alembic upgrade` runs on PostgreSQL (replicas starting together).
MIGRATION_LOCK_ID = 0x70D0A91


def database_url() -> str:
    url: str | None = config.attributes.get("database_url")
    return url or load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # SQLite runs DDL in transactions too once the transaction is begun by hand (see
        # _transactional_ddl_on_sqlite): a run of migrations is then all or nothing there too.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        context.run_migrations()


def _transactional_ddl_on_sqlite(engine: AsyncEngine) -> None:
    """Make each migration run all or nothing on SQLite too.

    Python's sqlite3 begins transactions only before INSERT/UPDATE/DELETE, so a migration that
    failed halfway would leave its earlier CREATE and ALTER statements applied. Here SQLAlchemy
    begins the transaction itself (as its documentation for pysqlite describes).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")


async def run_migrations_online() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        _transactional_ddl_on_sqlite(engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
