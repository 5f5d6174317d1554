"""`todo-api backup` and `restore`: a consistent copy of a database being written, and putting it back.

The main test runs a real server with 64 clients creating tasks, takes a backup while they write, is
refused a restore while the server runs, restores once it has stopped, and finds every task that was
acknowledged (201) before the backup began, in a database that passes `PRAGMA integrity_check` and that
a new server serves.
"""

import asyncio
import itertools
import os
import sqlite3
import stat
import time
from pathlib import Path

import httpx
import pytest

from tests.live import live_server, run_command
from todo_api import backup
from todo_api.backup import BackupError, DatabaseInUse

WRITERS = 64
USERS = 8
PASSWORD = "correct-horse-battery"


def make_database(path: Path, revision: str = "0001", rows: int = 3) -> None:
    """A small database that looks like todo-api's: an alembic_version table and some rows, in WAL mode."""
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        connection.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        connection.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
        connection.executemany("INSERT INTO tasks (title) VALUES (?)", [(f"t{n}",) for n in range(rows)])
    connection.close()


def titles(path: Path) -> list[str]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [row[0] for row in connection.execute("SELECT title FROM tasks ORDER BY id")]
    finally:
        connection.close()


def integrity(path: Path) -> list[str]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


def is_one_file(path: Path) -> bool:
    return not any(path.with_name(path.name + suffix).exists() for suffix in ("-wal", "-shm", "-journal"))


async def sign_in(client: httpx.AsyncClient, n: int) -> dict[str, str]:
    name = f"writer{n}"
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert (await client.post("/auth/register", json=body)).status_code == 201
    login = await client.post("/auth/login", data={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_backup_while_64_writers_write_restores_every_acknowledged_task(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    database = server_dir / "live.db"
    database_url = f"sqlite+aiosqlite:///{database}"
    backup_file = tmp_path / "backup.db"
    acknowledged: list[tuple[str, float]] = []  # (title, when the 201 arrived)
    failures: list[str] = []
    stop = asyncio.Event()
    progress = asyncio.Event()

    with live_server(server_dir) as base_url:
        limits = httpx.Limits(max_connections=WRITERS, max_keepalive_connections=WRITERS)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits, trust_env=False) as client:
            headers = [await sign_in(client, n) for n in range(USERS)]

            async def write(writer: int) -> None:
                for n in itertools.count():
                    if stop.is_set():
                        return
                    title = f"w{writer}-{n}"
                    response = await client.post(
                        "/tasks", json={"title": title}, headers=headers[writer % USERS]
                    )
                    if response.status_code == 201:
                        acknowledged.append((title, time.monotonic()))
                    else:
                        failures.append(f"{title}: {response.status_code} {response.text}")
                    progress.set()

            async def until(count: int) -> None:
                while len(acknowledged) < count and not failures:
                    progress.clear()
                    await progress.wait()

            writers = [asyncio.create_task(write(n)) for n in range(WRITERS)]
            try:
                await asyncio.wait_for(until(2 * WRITERS), timeout=60)
                backup_began = time.monotonic()
                before_backup = {title for title, at in acknowledged if at < backup_began}
                made = await asyncio.to_thread(
                    run_command, "backup", str(backup_file), database_url=database_url
                )
                backup_ended = time.monotonic()
                assert made.returncode == 0, made.stderr + made.stdout
                # The writers go on after the backup, so the database moves past it.
                await asyncio.wait_for(until(len(acknowledged) + WRITERS), timeout=60)
                during_backup = [title for title, at in acknowledged if backup_began <= at <= backup_ended]

                # A restore while the server runs (another process, with idle pooled connections
                # and writing ones) is refused, and the database is left alone.
                with pytest.raises(DatabaseInUse, match="in use by another process"):
                    await asyncio.to_thread(backup.restore, backup_file, database)
            finally:
                stop.set()
                await asyncio.gather(*writers)
            assert not failures, failures[:5]
            acknowledged_in_all = len(acknowledged)

    assert during_backup, "no task was acknowledged while the backup ran: it did not run beside writers"
    assert integrity(backup_file) == ["ok"]
    assert is_one_file(backup_file), "a backup is one self-contained file: no -wal or -shm beside it"

    # The server has stopped: now the backup goes back in place of the live database.
    restored = await asyncio.to_thread(run_command, "restore", str(backup_file), database_url=database_url)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert integrity(database) == ["ok"]
    in_database = set(titles(database))
    missing = before_backup - in_database
    assert not missing, f"{len(missing)} tasks acknowledged before the backup began are missing"
    assert len(in_database) < acknowledged_in_all, "the restored database is the backup, not the live one"

    # A server started on the restored database serves it (and migrates it, if it needs to).
    with live_server(server_dir, DATABASE_URL=database_url) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:
            login = await client.post("/auth/login", data={"username": "writer0", "password": PASSWORD})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            listing = await client.get(
                "/tasks", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"}
            )
            assert listing.status_code == 200, listing.text
            served = listing.json()["total"]
    writer0 = {title for title in in_database if int(title[1:].split("-")[0]) % USERS == 0}
    assert served == len(writer0)


def test_backup_to_a_directory_keeps_the_newest(tmp_path: Path) -> None:
    database = tmp_path / "todo.db"
    make_database(database)
    backups = tmp_path / "backups"
    backups.mkdir()
    mine = backups / "todo-api-before-the-upgrade.db"  # named by someone else: never pruned
    mine.write_bytes(b"")
    made = [backup.backup(database, backups, keep=2).path for _ in range(3)]

    assert sorted(backups.iterdir()) == sorted([mine, *made[1:]])
    for path in made[1:]:
        assert path.name.startswith("todo-api-")
        assert path.name.endswith(".db")
        # The copy holds password hashes: it is readable by its owner only.
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert titles(path) == ["t0", "t1", "t2"]


def test_backup_copies_what_a_reader_would_see_including_the_wal(tmp_path: Path) -> None:
    database = tmp_path / "todo.db"
    make_database(database, rows=0)
    # An open writer whose commits sit in the WAL, not yet checkpointed into the file.
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.executemany("INSERT INTO tasks (title) VALUES (?)", [(f"w{n}",) for n in range(100)])
        result = backup.backup(database, tmp_path / "copy.db")
    finally:
        writer.close()
    assert result.revision == "0001"
    assert len(titles(result.path)) == 100
    connection = sqlite3.connect(result.path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        connection.close()


def test_backup_refuses_a_missing_database_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database file"):
        backup.backup(tmp_path / "absent.db", tmp_path / "copy.db")
    assert list(tmp_path.iterdir()) == []


def test_backup_refuses_a_database_that_is_not_todo_apis_and_leaves_no_file(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    with pytest.raises(BackupError, match="not a todo-api database"):
        backup.backup(other, tmp_path / "copy.db")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other.db"]


def test_restore_is_refused_while_a_connection_is_open_even_an_idle_one(tmp_path: Path) -> None:
    database = tmp_path / "todo.db"
    make_database(database, revision="0002", rows=5)
    saved = backup.backup(database, tmp_path / "saved.db").path
    with sqlite3.connect(database, isolation_level=None) as connection:
        connection.execute("INSERT INTO tasks (title) VALUES ('after the backup')")
    connection.close()

    idle = sqlite3.connect(database, isolation_level=None)
    try:
        idle.execute("SELECT count(*) FROM tasks").fetchone()  # opened, then idle: no transaction
        with pytest.raises(DatabaseInUse, match="in use by another process"):
            backup.restore(saved, database)
        assert titles(database)[-1] == "after the backup"
    finally:
        idle.close()

    result = backup.restore(saved, database)
    assert result.revision == "0002"
    assert titles(database) == [f"t{n}" for n in range(5)]
    assert integrity(database) == ["ok"]
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


def test_restore_refuses_a_damaged_or_foreign_backup_and_leaves_the_database_alone(tmp_path: Path) -> None:
    database = tmp_path / "todo.db"
    make_database(database)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()

    with pytest.raises(BackupError, match="not a readable SQLite database"):
        backup.restore(garbage, database)
    with pytest.raises(BackupError, match="not a todo-api backup"):
        backup.restore(foreign, database)
    with pytest.raises(BackupError, match="no backup file"):
        backup.restore(tmp_path / "absent.db", database)
    assert titles(database) == ["t0", "t1", "t2"]


def test_restore_into_a_new_file(tmp_path: Path) -> None:
    database = tmp_path / "todo.db"
    make_database(database)
    saved = backup.backup(database, tmp_path / "saved.db").path
    fresh = tmp_path / "elsewhere" / "todo.db"
    fresh.parent.mkdir()
    backup.restore(saved, fresh)
    assert titles(fresh) == ["t0", "t1", "t2"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/todo", "pg_dump"),
        ("sqlite+aiosqlite:///:memory:", "names no database file"),
        ("sqlite+aiosqlite://", "names no database file"),
    ],
)
def test_only_a_sqlite_file_can_be_backed_up(url: str, message: str) -> None:
    with pytest.raises(BackupError, match=message):
        backup.sqlite_path(url)


def test_the_command_explains_a_refusal(tmp_path: Path) -> None:
    result = run_command(
        "backup", str(tmp_path / "x.db"), database_url="postgresql+asyncpg://u@127.0.0.1/todo"
    )
    assert result.returncode == 1
    assert "pg_dump" in result.stderr
