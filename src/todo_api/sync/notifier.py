"""Wakes the requests that wait on GET /sync?wait= when something changes for their user.

In this process a commit wakes its users directly. Other processes' commits arrive by PostgreSQL
LISTEN/NOTIFY (one connection per process, none per waiting request); on SQLite, by watching the
database file's `data_version`, which moves when another connection commits (checked twice a
second, and only while someone waits).
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import structlog
from sqlalchemy import make_url

from todo_api.sync.repository import NOTIFY_CHANNEL

log = structlog.get_logger()
SQLITE_POLL_SECONDS = 0.5
RECONNECT_SECONDS = 1.0


class Notifier:
    def __init__(self) -> None:
        self._waiting: dict[int, set[asyncio.Event]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._sqlite_path: Path | None = None
        self._waiter_arrived = asyncio.Event()

    @property
    def waiting(self) -> int:
        """How many requests wait right now."""
        return sum(len(events) for events in self._waiting.values())

    def subscribe(self, user_id: int) -> asyncio.Event:
        """An event set by the next change announced for `user_id`: subscribe before looking for
        changes, so that one committed in between is not missed."""
        event = asyncio.Event()
        self._waiting.setdefault(user_id, set()).add(event)
        self._waiter_arrived.set()
        return event

    def unsubscribe(self, user_id: int, event: asyncio.Event) -> None:
        events = self._waiting.get(user_id, set())
        events.discard(event)
        if not events:
            self._waiting.pop(user_id, None)

    def wake(self, user_ids: Iterable[int] | None) -> None:
        """Wake the requests of these users (None: everyone's)."""
        targets = self._waiting.keys() if user_ids is None else user_ids
        for user_id in list(targets):
            for event in self._waiting.get(user_id, ()):
                event.set()

    async def start(self, database_url: str) -> None:
        url = make_url(database_url)
        if url.get_backend_name() == "postgresql":
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._watcher = asyncio.create_task(self._listen(dsn))
        elif url.database and url.database != ":memory:":
            self._sqlite_path = Path(url.database)
            self._watcher = asyncio.create_task(self._watch_sqlite())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self.wake(None)

    def _announced(self, payload: str) -> None:
        if payload == "*" or not payload:
            self.wake(None)
            return
        self.wake(int(user_id) for user_id in payload.split(",") if user_id.isdigit())

    async def _listen(self, dsn: str) -> None:
        # Imported here: a SQLite service never loads the PostgreSQL driver (a start-up cost).
        import asyncpg  # noqa: PLC0415

        while True:
            try:
                connection = await asyncpg.connect(dsn)
            except (OSError, asyncpg.PostgresError):
                log.warning("sync notifications: cannot connect; retrying", exc_info=True)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            closed = asyncio.Event()
            try:
                connection.add_termination_listener(lambda _conn, closed=closed: closed.set())
                await connection.add_listener(
                    NOTIFY_CHANNEL, lambda _conn, _pid, _channel, payload: self._announced(payload)
                )
                # Anything may have changed while no one listened.
                self.wake(None)
                await closed.wait()
            finally:
                with contextlib.suppress(Exception):
                    await connection.close()
            self.wake(None)

    async def _watch_sqlite(self) -> None:
        assert self._sqlite_path is not None
        connection: sqlite3.Connection | None = None
        seen: int | None = None
        try:
            while True:
                if not self._waiting:
                    self._waiter_arrived.clear()
                    await self._waiter_arrived.wait()
                if connection is None:
                    connection = await asyncio.to_thread(
                        sqlite3.connect, self._sqlite_path, check_same_thread=False
                    )
                version = await asyncio.to_thread(_data_version, connection)
                if seen is not None and version != seen:
                    self.wake(None)
                seen = version
                await asyncio.sleep(SQLITE_POLL_SECONDS)
        finally:
            if connection is not None:
                connection.close()


def _data_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("PRAGMA data_version").fetchone()
    return int(row[0])
