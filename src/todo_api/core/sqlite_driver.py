"""aiosqlite with one trip to its thread per statement, and short SELECTs with none.

aiosqlite runs each call on the connection's own thread, and SQLAlchemy's adapter makes four calls
per SELECT (cursor, execute, fetchall, close) plus one per COMMIT or ROLLBACK. Each trip wakes a
thread and hands the GIL back and forth; on a busy server those hand-offs, not SQLite, were most of
the time of a request. Here a statement is one function run on that thread: execute, fetch every
row, close. COMMIT and ROLLBACK are skipped when SQLite has no transaction open (the read path runs
in autocommit, see `db.py`).

Even one trip costs more than a short SELECT: a page of 20 tasks with its count takes SQLite about
0.09 ms, the trip about 0.17 ms of CPU. So a SELECT first runs right here, on the event loop's
thread, with a budget (`INLINE_BUDGET_SECONDS`): SQLite's progress handler interrupts it once the
budget is spent, and it runs again on the connection's thread, as do its next runs for a while
(`_SLOW_RUNS`). A SELECT never waits for a lock in WAL mode, so inline it only computes. Writes
always go to the thread: they may wait for the write lock (the busy timeout).

It is handed to SQLAlchemy's own aiosqlite dialect as its DBAPI module (`create_async_engine(...,
module=...)`), so dialect, types and pooling are SQLAlchemy's.
"""

import collections
import sqlite3
import time
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# A SELECT runs on the event loop's thread for at most this long before it goes to the connection's.
INLINE_BUDGET_SECONDS = 0.002
# SQLite calls the progress handler every this many virtual machine instructions (some microseconds).
_PROGRESS_STEPS = 1000
# A statement over the budget runs on the thread this many times before it is tried inline again.
_SLOW_RUNS = 200
_MAX_SLOW_STATEMENTS = 1000
_slow: dict[str, int] = {}


class _OverBudget(Exception):
    """An inline SELECT ran out of its budget: run it on the connection's thread."""


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


def _is_select(operation: str) -> bool:
    return operation[:6].upper() == "SELECT"


async def _run_inline(
    connection: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[_Outcome, list[Any]]:
    """On the event loop's thread, within the budget; _OverBudget when it ran out.

    A coroutine that never suspends: SQLAlchemy's async engine requires every statement to be
    awaited, and awaiting this costs no trip through the event loop."""
    deadline = time.perf_counter() + INLINE_BUDGET_SECONDS

    def spent() -> bool:
        return time.perf_counter() > deadline

    connection.set_progress_handler(spent, _PROGRESS_STEPS)
    try:
        return _run(connection, operation, parameters)
    except sqlite3.OperationalError:
        if spent():
            _slow_for_a_while(operation)
            raise _OverBudget from None
        raise
    finally:
        connection.set_progress_handler(None, 0)


def _slow_for_a_while(operation: str) -> None:
    if len(_slow) >= _MAX_SLOW_STATEMENTS:
        _slow.clear()
    _slow[operation] = _SLOW_RUNS


def _runs_inline(operation: str) -> bool:
    if not _is_select(operation):
        return False
    left = _slow.get(operation)
    if left is None:
        return True
    if left <= 1:
        del _slow[operation]
    else:
        _slow[operation] = left - 1
    return False


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
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        if _runs_inline(operation):
            try:
                outcome, rows = await_(_run_inline(connection._conn, operation, parameters))
            except _OverBudget:
                pass
            except Exception as error:  # noqa: BLE001 - translated to SQLAlchemy's errors below
                self._adapt_connection._handle_exception(error)
            else:
                self._cursor = outcome  # type: ignore[assignment]
                self._rows = collections.deque(rows)
                return
        try:
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
