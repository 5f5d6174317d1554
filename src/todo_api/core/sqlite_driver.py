"""aiosqlite with one trip to its thread per statement.

aiosqlite runs each call on the connection's own thread, and SQLAlchemy's adapter makes four calls
per SELECT (cursor, execute, fetchall, close) plus one per COMMIT or ROLLBACK. Each trip wakes a
thread and hands the GIL back and forth; on a busy server those hand-offs, not SQLite, were most of
the time of a request. Here a statement is one function run on that thread: execute, fetch every
row, close. COMMIT and ROLLBACK are skipped when SQLite has no transaction open (the read path runs
in autocommit, see `db.py`).

It is handed to SQLAlchemy's own aiosqlite dialect as its DBAPI module (`create_async_engine(...,
module=...)`), so dialect, types and pooling are SQLAlchemy's.
"""

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


class _Outcome:
    """What SQLAlchemy reads off a cursor once its statement has run."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.arraysize = cursor.arraysize  # fetchmany()'s default batch
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid


def _run(connection: sqlite3.Connection, operation: str, parameters: Any) -> tuple[_Outcome, list[Any]]:
    """On aiosqlite's thread: the whole statement, start to finish."""
    cursor = connection.cursor()
    try:
        cursor.execute(operation, parameters if parameters is not None else ())
        rows = cursor.fetchall() if cursor.description else []
        return _Outcome(cursor), rows
    finally:
        cursor.close()


def _run_many(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return _Outcome(cursor)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    # The thread's cursor is closed with its statement: there is nothing left to close later.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor up front (that would be a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            outcome, rows = await_(
                connection._execute(_run, connection._conn, operation, parameters)  # type: ignore[no-untyped-call]
            )
        except Exception as error:  # noqa: BLE001 - translated to SQLAlchemy's errors below
            self._adapt_connection._handle_exception(error)
        self._cursor = outcome
        self._rows = collections.deque(rows)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            outcome = await_(
                connection._execute(  # type: ignore[no-untyped-call]
                    _run_many, connection._conn, operation, seq_of_parameters
                )
            )
        except Exception as error:  # noqa: BLE001 - translated to SQLAlchemy's errors below
            self._adapt_connection._handle_exception(error)
        self._cursor = outcome
        self._rows = collections.deque()

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    def _in_transaction(self) -> bool:
        connection: sqlite3.Connection | None = self._connection._connection
        return connection is not None and connection.in_transaction

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy does: never hold the interpreter open
        return OneTripConnection(self, await_(connection))


def dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
