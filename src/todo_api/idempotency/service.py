"""Idempotency-Key for creating requests: a retry with the same key and body gets the first answer."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from todo_api.core.db import utcnow
from todo_api.core.errors import IdempotencyKeyReused
from todo_api.idempotency.repository import IdempotencyKeyRepository

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a creating request answers: the new object as the client sees it, and its ETag."""

    body: dict[str, Any]
    etag: str
    replayed: bool = False


def fingerprint(fields: dict[str, Any]) -> str:
    """What makes two requests "the same body": the fields sent, as validated, in any order."""
    canonical = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyService:
    def __init__(self, keys: IdempotencyKeyRepository) -> None:
        self.keys = keys

    async def once(
        self,
        user_id: int,
        route: str,
        key: str | None,
        request_fingerprint: str,
        create: Callable[[], Awaitable[Answer]],
    ) -> Answer:
        """Run `create` unless this user already sent `key` to `route` within the window.

        A retry with the same body gets the stored answer back (`replayed`); another body is
        refused with IdempotencyKeyReused. Of two concurrent requests with one key, one creates
        and the other waits for its answer.
        """
        if key is None:
            return await create()
        record = await self.keys.get(user_id, route, key)
        if record is not None and record.created_at < utcnow() - IDEMPOTENCY_WINDOW:
            await self.keys.delete(record)
            record = None
        if record is None and await self.keys.claim(user_id, route, key, request_fingerprint, utcnow()):
            answer = await create()
            await self.keys.save_response(user_id, route, key, {"body": answer.body, "etag": answer.etag})
            return answer
        # Another request holds the key: it committed before our claim returned.
        record = record or await self.keys.get(user_id, route, key)
        assert record is not None
        assert record.response is not None
        if record.request_hash != request_fingerprint:
            raise IdempotencyKeyReused
        return Answer(body=record.response["body"], etag=record.response["etag"], replayed=True)

    async def purge(self) -> int:
        """Forget keys older than the replay window; how many went."""
        return await self.keys.delete_older_than(utcnow() - IDEMPOTENCY_WINDOW)
