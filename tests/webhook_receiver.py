"""A webhook receiver on 127.0.0.1 for tests: a real HTTP server in a thread of its own, so that both
the in-process app and `todo-api` processes can reach it, that records every request it gets."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook as Verifier

WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    def verify(self, secret: str) -> dict[str, Any]:
        """The body, if the signature is the secret's (standardwebhooks' own check); raises if not."""
        verified: dict[str, Any] = Verifier(secret).verify(self.body, self.headers)
        return verified


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []  # statuses for the next requests, in order; then 200
        self.delay = 0.0  # seconds between a request's arrival (when it is recorded) and the answer
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.answers.pop(0) if receiver.answers else 200
                time.sleep(receiver.delay)  # a slow receiver (in this request's thread)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def requests(self, type_: str | None = None) -> list[Received]:
        with self._lock:
            return [item for item in self.received if type_ is None or item.event["type"] == type_]

    def types(self) -> list[str]:
        return [str(item.event["type"]) for item in self.requests()]

    async def wait_for(self, count: int, type_: str | None = None) -> list[Received]:
        """At least `count` requests (of `type_`) have arrived; fails after 30 s."""
        deadline = time.monotonic() + WAIT_SECONDS
        while len(found := self.requests(type_)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)} of {count} {type_ or ''} requests arrived: {self.types()}"
                )
            await asyncio.sleep(0.02)
        return found


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
