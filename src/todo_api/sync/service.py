"""The sync feed: what changed for a user since their cursor, complete and in commit order.

A cursor carries the change number the client has seen up to (see SyncChange for why no change can
later appear below it), when it was issued, and during a first full download how far that got. It
is signed with the service's key, so a cursor that is not ours is refused.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from todo_api.core.clock import Clock, system_clock
from todo_api.core.errors import CursorExpired, InvalidField
from todo_api.core.security import Caller
from todo_api.lists.service import ListView
from todo_api.sync.notifier import Notifier
from todo_api.sync.repository import SyncRepository
from todo_api.sync.schemas import Deleted, SyncAnswer, SyncParams
from todo_api.tasks.service import public_task


@dataclass(frozen=True, slots=True)
class Cursor:
    seq: int
    issued: float
    # During a full download: the last list and task id sent (None once it is done).
    lists_after: int | None = None
    tasks_after: int | None = None


def _has_news(answer: SyncAnswer) -> bool:
    return bool(answer.lists or answer.tasks or answer.deleted.lists or answer.deleted.tasks)


def _bad_cursor() -> InvalidField:
    return InvalidField(("query", "cursor"), "not a cursor of this service: start again without one")


@dataclass
class _Gathered:
    lists: dict[int, None] = field(default_factory=dict)
    tasks: dict[int, None] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lists) + len(self.tasks)


class SyncService:
    def __init__(
        self,
        changes: SyncRepository,
        notifier: Notifier,
        secret_key: str,
        retention_days: int,
        release_connection: Callable[[], Awaitable[None]],
        clock: Clock = system_clock,
    ) -> None:
        self.changes = changes
        self.notifier = notifier
        self.secret = hashlib.sha256(f"sync-cursor:{secret_key}".encode()).digest()
        self.retention = timedelta(days=retention_days)
        self.release_connection = release_connection
        self.clock = clock

    async def sync(
        self, caller: Caller, params: SyncParams, client_gone: Callable[[], Awaitable[None]] | None = None
    ) -> SyncAnswer:
        """The answer to GET /sync; a long poll also ends as soon as `client_gone` returns (the
        client hung up: nobody would read the answer, and the waiting request's memory goes)."""
        # First of all, in the same statement: is the caller's access token still good.
        newest, purged = await self.changes.marks(caller)
        user_id = caller.user_id
        if params.cursor is None:
            seq = newest if newest is not None else purged
            start = Cursor(seq=seq, issued=self.clock().timestamp(), lists_after=0)
            return await self._full(user_id, start, params.limit)
        cursor = self._decode(params.cursor)
        too_old = cursor.issued < (self.clock() - self.retention).timestamp()
        if too_old or cursor.seq < purged:
            raise CursorExpired
        if cursor.lists_after is not None or cursor.tasks_after is not None:
            return await self._full(user_id, cursor, params.limit)
        # A deadline on the monotonic clock: the app's clock may be set or stand still (in tests).
        deadline = time.monotonic() + params.wait
        hung_up = asyncio.ensure_future(client_gone()) if client_gone and params.wait else None
        try:
            while True:
                woken = self.notifier.subscribe(user_id)
                try:
                    answer = await self._changes(user_id, cursor, params.limit)
                    remaining = deadline - time.monotonic()
                    if _has_news(answer) or remaining <= 0 or (hung_up and hung_up.done()):
                        break
                    # No connection is held while waiting.
                    await self.release_connection()
                    waking = asyncio.ensure_future(woken.wait())
                    await asyncio.wait(
                        [waking, *([hung_up] if hung_up else [])],
                        timeout=remaining,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    waking.cancel()
                finally:
                    self.notifier.unsubscribe(user_id, woken)
        finally:
            if hung_up is not None:
                hung_up.cancel()
        if not _has_news(answer):
            answer.cursor = params.cursor  # nothing new: the same cursor
        return answer

    async def purge(self) -> int:
        """Delete change records older than the retention; how many went."""
        return await self.changes.purge(self.clock() - self.retention)

    async def _full(self, user_id: int, cursor: Cursor, limit: int) -> SyncAnswer:
        """A page of everything the user can see: lists by id, then tasks by id."""
        lists = []
        if cursor.lists_after is not None:
            lists = list(await self.changes.lists(user_id, after_id=cursor.lists_after, limit=limit))
        room = limit - len(lists)
        tasks_after = cursor.tasks_after if cursor.lists_after is None else 0
        tasks = []
        if room > 0 and tasks_after is not None:
            tasks = list(await self.changes.tasks(user_id, after_id=tasks_after, limit=room))
        if len(lists) == limit:
            following = Cursor(cursor.seq, cursor.issued, lists_after=lists[-1][0].id)
        elif tasks and len(tasks) == room:
            following = Cursor(cursor.seq, cursor.issued, tasks_after=tasks[-1].id)
        else:
            following = Cursor(cursor.seq, cursor.issued)
        done = following.lists_after is None and following.tasks_after is None
        return SyncAnswer(
            full=True,
            cursor=self._encode(following),
            has_more=not done,
            lists=[ListView(task_list, role).public() for task_list, role in lists],
            tasks=[public_task(task) for task in tasks],
            deleted=Deleted(),
        )

    async def _changes(self, user_id: int, cursor: Cursor, limit: int) -> SyncAnswer:
        """Objects changed after the cursor, each once, in their current state (or as deleted).

        Objects are taken in the order of their latest change, and the new cursor is the latest
        change of the last one taken: every record up to it belongs to an object sent now, so no
        object comes again in this walk unless it changes again.
        """
        latest = await self.changes.latest_after(user_id, cursor.seq, limit + 1)
        more = len(latest) > limit
        taken = latest[:limit]
        seq = taken[-1][0] if taken else cursor.seq
        gathered = _Gathered()
        for _, kind, object_id in taken:
            (gathered.lists if kind == "list" else gathered.tasks)[object_id] = None
        lists = await self.changes.lists(user_id, ids=gathered.lists) if gathered.lists else []
        tasks = await self.changes.tasks(user_id, ids=gathered.tasks) if gathered.tasks else []
        seen_lists = {task_list.id for task_list, _ in lists}
        seen_tasks = {task.id for task in tasks}
        return SyncAnswer(
            full=False,
            cursor=self._encode(Cursor(seq, self.clock().timestamp())),
            has_more=more,
            lists=[ListView(task_list, role).public() for task_list, role in lists],
            tasks=[public_task(task) for task in tasks],
            deleted=Deleted(
                lists=[list_id for list_id in gathered.lists if list_id not in seen_lists],
                tasks=[task_id for task_id in gathered.tasks if task_id not in seen_tasks],
            ),
        )

    def _encode(self, cursor: Cursor) -> str:
        body = json.dumps(
            [cursor.seq, round(cursor.issued, 3), cursor.lists_after, cursor.tasks_after],
            separators=(",", ":"),
        ).encode()
        return base64.urlsafe_b64encode(body + self._mac(body)).rstrip(b"=").decode()

    def _decode(self, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (ValueError, TypeError):
            raise _bad_cursor() from None
        body, mac = raw[:-16], raw[-16:]
        if len(raw) <= 16 or not hmac.compare_digest(mac, self._mac(body)):
            raise _bad_cursor()
        seq, issued, lists_after, tasks_after = json.loads(body)
        return Cursor(int(seq), float(issued), lists_after, tasks_after)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.secret, body, hashlib.sha256).digest()[:16]
