"""Engine, session factories and the column types every table shares."""

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, NullPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core import sqlite_driver
from todo_api.core.config import Settings
from todo_api.core.observability import DB_POOL_IN_USE, DB_POOL_MAX, DB_POOL_WAIT, DB_POOL_WAITERS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so values are stored as UTC
    and given their offset back when read. Naive input is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys, a busy timeout, and transactions we begin ourselves.

    The driver's own implicit BEGIN is switched off so that a write session can start with
    BEGIN IMMEDIATE: it takes the write lock up front (waiting up to the busy timeout) instead
    of failing with "database is locked" when a read lock must be upgraded mid-transaction.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Write sessions take the write lock at once. Read sessions open no transaction at all:
        # each SELECT is its own consistent snapshot, and a read request needs no COMMIT.
        if connection.get_execution_options().get("sqlite_begin") == "IMMEDIATE":
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _render_sqlite_index_hints(engine: AsyncEngine) -> None:
    """Let `select().with_hint(table, "INDEXED BY ...", "sqlite")` reach SQLite.

    SQLAlchemy takes table hints for every dialect but renders them only for those that had them
    when it was written; SQLite's `INDEXED BY` is one it leaves out. A statement without a hint
    compiles exactly as before; tests/test_tasks_listing.py checks the hint arrives.
    """
    compiler: type[SQLCompiler] = engine.dialect.statement_compiler

    class WithIndexHints(compiler):  # type: ignore[valid-type,misc]
        def get_from_hint_text(self, table: Any, text: str) -> str:
            return text

    engine.dialect.statement_compiler = WithIndexHints


class ObservedPool(AsyncAdaptedQueuePool):
    """The async engines' usual pool, counting who waits for a connection, and for how long.

    `_do_get` is where every checkout takes a connection from the queue (waiting when it is empty)
    or opens a new one; SQLAlchemy has no public event for the wait. The SQLAlchemy bound in
    pyproject.toml and tests/test_monitoring.py keep that true.
    """

    def _do_get(self) -> ConnectionPoolEntry:
        DB_POOL_WAITERS.inc()
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            DB_POOL_WAITERS.dec()
            DB_POOL_WAIT.observe(time.perf_counter() - started)


def _observe_pool(engine: AsyncEngine, settings: Settings) -> None:
    DB_POOL_MAX.set(settings.pool_size + settings.pool_max_overflow)

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _on_checkout(_dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        DB_POOL_IN_USE.inc()

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        DB_POOL_IN_USE.dec()


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            module=sqlite_driver.dbapi(),
            hide_parameters=True,
            poolclass=ObservedPool,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        _render_sqlite_index_hints(engine)
    else:
        engine = create_async_engine(
            settings.database_url,
            poolclass=ObservedPool,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
            pool_pre_ping=True,
            # A failed statement's error (and so the crash log) shows its SQL but never its values:
            # those are e-mail addresses, password hashes, token hashes.
            hide_parameters=True,
        )
    _observe_pool(engine, settings)
    return engine


class Database:
    """The engine and two session factories: one for reads, one for requests that write."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Reads run each statement on its own, as SQLite's do (see `_configure_sqlite`): on
        # PostgreSQL that saves a BEGIN and a COMMIT, two round trips, around a one-statement read.
        read_engine = engine
        if engine.dialect.name == "postgresql":
            read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_session = async_sessionmaker(read_engine, class_=AsyncSession, expire_on_commit=False)
        write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        self.write_session = async_sessionmaker(write_engine, class_=AsyncSession, expire_on_commit=False)

    async def ping(self, within_seconds: float) -> bool:
        """One round trip to the database, within `within_seconds`."""
        try:
            async with asyncio.timeout(within_seconds), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


async def release_connection(session: AsyncSession) -> None:
    """End a transaction that has written nothing, so its connection goes back to the pool.

    For slow work that needs no database (a password hash): holding a connection, or on SQLite a
    write lock, through it would starve every other request. The session stays usable; its next
    statement takes a connection (and begins a transaction) again.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("release_connection() with unsaved changes would commit them")
    await session.commit()


def find_alembic_ini() -> Path:
    """alembic.ini in the working directory (a deployed image) or in the source checkout."""
    for candidate in (Path.cwd() / "alembic.ini", Path(__file__).resolve().parents[3] / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found in the working directory or the source tree")


# The newest migration in migrations/versions (tests/test_migrations.py keeps the two equal).
MIGRATIONS_HEAD = "0011"


def upgrade_database(database_url: str) -> None:
    """Apply every Alembic migration up to head. Blocking: call it from a thread inside a loop.

    A database already at head (every start but the first after a release) is recognised by one
    query, without importing Alembic: that costs about a quarter of a second at every start.
    """
    if asyncio.run(_schema_version(database_url)) == MIGRATIONS_HEAD:
        return
    # Imported here: Alembic costs most of a second and some memory, and serving never needs it.
    from alembic import command as alembic_command  # noqa: PLC0415
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415

    config = AlembicConfig(str(find_alembic_ini()))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging_config"] = True
    alembic_command.upgrade(config, "head")


async def _schema_version(database_url: str) -> str | None:
    """The migration the database is at; None when it has none yet (or cannot say: Alembic will)."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    except (SQLAlchemyError, OSError):
        return None
    finally:
        await engine.dispose()
    return str(versions[0][0]) if len(versions) == 1 else None
