"""The ceiling: a bare ASGI app answering every request with one fixed 20-task page.

Served by `python -m uvicorn bench.bare:app` with uvicorn's defaults (uvloop and httptools when
installed, as `todo-api` gets them), so it measures what the server and the loop alone can do.
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PAGE_SIZE = 20


def _task(task_id: int) -> dict[str, Any]:
    stamp = f"2026-11-25T10:{task_id % 60:02d}:00Z"
    return {
        "id": task_id,
        "title": f"Benchmark task {task_id}",
        "description": None if task_id % 2 else f"Description of task {task_id}",
        "status": ("todo", "in_progress", "completed")[task_id % 3],
        "priority": ("low", "medium", "high")[task_id % 3],
        "due_date": None,
        "is_completed": task_id % 3 == 2,
        "completed_at": stamp if task_id % 3 == 2 else None,
        "created_at": stamp,
        "updated_at": stamp,
        "list_id": 1,
        "assignee_id": None,
        "created_by": 1,
    }


def page_body() -> bytes:
    """The JSON of a page of the contract's shape: 20 tasks of 200."""
    page = {
        "items": [_task(task_id) for task_id in range(1, PAGE_SIZE + 1)],
        "total": 200,
        "skip": 0,
        "limit": PAGE_SIZE,
        "page": 1,
        "page_size": PAGE_SIZE,
        "pages": 10,
    }
    return json.dumps(page, separators=(",", ":")).encode()


BODY = page_body()
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"cache-control", b"no-store"),
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    # Read the body, if any, so keep-alive connections stay in step.
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
