"""Online backups of the embedded SQLite database (`todo-api backup`), and putting one back (`restore`).

Backup: SQLite's online backup API copies every page in one step, inside one read transaction. In WAL
mode (which the service always uses) a reader never blocks the writer, so the service keeps writing
while the copy is taken, and the copy is the database exactly as it was when that read transaction
began: every transaction committed before it, none after. The copy is written beside its destination,
checked (`PRAGMA integrity_check`), synced and only then renamed into place, so a backup file that
exists is always a complete one.

Restore: refused while any other process (a running server, a migration, a `sqlite3` shell) has the
database open. Each connection to a WAL database holds a shared lock on the file for as long as it is
open, even when idle, so one exclusive lock attempt that fails at once tells that someone uses it. The
exclusive lock is then kept while the backup is copied into the database through that same connection,
so nothing can open the database halfway through. PostgreSQL has its own tools (`pg_dump`, PITR):
docs/operations.md.
"""

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import make_url

# `todo-api backup DIRECTORY` names its files so; `--keep` prunes only files named like this.
BACKUP_PREFIX = "todo-api-"
BACKUP_SUFFIX = ".db"
POSTGRES_ADVICE = (
    "backup and restore are for the embedded SQLite database; for PostgreSQL use pg_dump/pg_restore "
    "or point-in-time recovery (docs/operations.md, 'Back up and restore')"
)


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


class DatabaseInUse(BackupError):
    """Another process has the database open: a restore would pull it from under a running server."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size_bytes: int
    revision: str | None
    seconds: float
    pruned: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class RestoreResult:
    database: Path
    revision: str | None
    seconds: float


def sqlite_path(database_url: str) -> Path:
    """The file behind a SQLite `DATABASE_URL`; BackupError for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(POSTGRES_ADVICE)
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"DATABASE_URL names no database file: {database_url}")
    return Path(url.database)


def _uri(path: Path, mode: str) -> str:
    # A URI so that `mode=rw` never creates a missing file; as_uri() escapes ?, # and %.
    return f"{path.resolve().as_uri()}?mode={mode}"


@contextlib.contextmanager
def _connect(uri: str, *, timeout_seconds: float) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(uri, uri=True, timeout=timeout_seconds, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def _revision(connection: sqlite3.Connection) -> str | None:
    """The Alembic revision a todo-api database is at; None when it has none (not one of ours)."""
    has_table = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    if has_table is None:
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _check_integrity(connection: sqlite3.Connection, what: str) -> None:
    problems = [str(row[0]) for row in connection.execute("PRAGMA integrity_check").fetchall()]
    if problems != ["ok"]:
        raise BackupError(f"{what} fails PRAGMA integrity_check: {'; '.join(problems[:5])}")


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def backup_target(destination: Path, now: datetime | None = None) -> Path:
    """The file a backup to `destination` writes: the path itself, or a time-stamped file in a directory."""
    if not destination.is_dir():
        return destination
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    return destination / f"{BACKUP_PREFIX}{stamp}{BACKUP_SUFFIX}"


def prune(directory: Path, keep: int) -> tuple[Path, ...]:
    """Delete all but the newest `keep` backups that `backup()` named in `directory`; what went."""
    # Only names this command gives (todo-api-20261201T031700.000000Z.db), which sort by time.
    backups = sorted(directory.glob(f"{BACKUP_PREFIX}[0-9]*Z{BACKUP_SUFFIX}"))
    doomed = tuple(backups[:-keep] if keep > 0 else backups)
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def backup(
    database: Path, destination: Path, *, keep: int | None = None, busy_timeout_ms: int = 15_000
) -> BackupResult:
    """Copy the live database at `database` to `destination` (a file, or a directory to add one to).

    With a directory and `keep`, older `todo-api-*.db` files there beyond the newest `keep` are deleted.
    """
    started = time.monotonic()
    if not database.is_file():
        raise BackupError(f"no database file at {database}")
    if keep is not None and (keep < 1 or not destination.is_dir()):
        raise BackupError("--keep needs a directory to write into and a count of at least 1")
    target = backup_target(destination)
    if not target.parent.is_dir():
        raise BackupError(f"the directory {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    # Created by us, readable by us only: the copy holds password hashes and e-mail addresses.
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        with (
            _connect(_uri(database, "rw"), timeout_seconds=busy_timeout_ms / 1000) as source,
            _connect(_uri(partial, "rw"), timeout_seconds=busy_timeout_ms / 1000) as copy,
        ):
            # pages=-1: every page in one step, so one read transaction: a consistent snapshot.
            source.backup(copy, pages=-1)
            # A single self-contained file: no -wal or -shm beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            _check_integrity(copy, "the copy")
            revision = _revision(copy)
        if revision is None:
            raise BackupError(f"{database} is not a todo-api database (it has no alembic_version table)")
        _fsync(partial)
        partial.replace(target)
        _fsync(target.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    pruned = prune(target.parent, keep) if keep is not None else ()
    return BackupResult(target, target.stat().st_size, revision, time.monotonic() - started, pruned)


def restore(backup_file: Path, database: Path) -> RestoreResult:
    """Replace the database at `database` with the backup `backup_file`; DatabaseInUse while it is open."""
    started = time.monotonic()
    if not backup_file.is_file():
        raise BackupError(f"no backup file at {backup_file}")
    if backup_file.resolve() == database.resolve():
        raise BackupError("the backup and the database are the same file")
    if not database.parent.is_dir():
        raise BackupError(f"the directory {database.parent} does not exist")
    with _connect(_uri(backup_file, "ro"), timeout_seconds=0) as source:
        try:
            _check_integrity(source, f"the backup {backup_file}")
            revision = _revision(source)
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{backup_file} is not a readable SQLite database ({error})") from None
        if revision is None:
            raise BackupError(f"{backup_file} is not a todo-api backup (it has no alembic_version table)")
        # timeout 0: a lock that is taken means a user; waiting for it would only wait for a server.
        with _connect(_uri(database, "rwc"), timeout_seconds=0) as target:
            # Held from the first access until the connection closes, not just for one transaction.
            target.execute("PRAGMA locking_mode=EXCLUSIVE")
            try:
                target.execute("BEGIN EXCLUSIVE")
                target.execute("ROLLBACK")
            except sqlite3.OperationalError as error:
                raise DatabaseInUse(
                    f"{database} is in use by another process (a running todo-api?): stop it, then "
                    f"restore again ({error})"
                ) from None
            source.backup(target, pages=-1)
            _check_integrity(target, "the restored database")
    return RestoreResult(database, revision, time.monotonic() - started)
