"""The deliverer: sends due webhook deliveries from the outbox, inside the service, on every replica.

One loop per process (`WEBHOOK_DELIVERY=true`). Each round claims due deliveries in a short
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same one; SQLite
has one writer at a time), pushing their `next_attempt_at` past the attempt as a lease. It then
sends them with no transaction open, and records each outcome in another short transaction. A
process that dies mid-attempt leaves the lease to run out: the delivery is sent again later (at
least once). On shutdown it stops claiming and lets the attempts in flight finish.
"""

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError

from todo_api import __version__
from todo_api.core.clock import Clock, system_clock
from todo_api.core.config import Settings
from todo_api.core.db import Database
from todo_api.webhooks import signing, targets
from todo_api.webhooks.repository import Claimed, WebhookRepository

log = structlog.get_logger()

USER_AGENT = f"todo-api-webhooks/{__version__}"
MAX_IN_FLIGHT = 16
RESPONSE_BYTES = 4096  # of a receiver's answer read, at most
LEASE_MARGIN = timedelta(seconds=60)
DISABLE_AFTER = timedelta(days=3)
JITTER = 0.1  # a retry comes up to 10 % later than its schedule says
STOP_MARGIN_SECONDS = 10  # on shutdown, for recording the outcome of an attempt in flight


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the receiver's HTTP status, if it answered
    error: str | None  # None: delivered

    @property
    def ok(self) -> bool:
        return self.error is None


Send = Callable[[Claimed], Awaitable[Outcome]]


class Deliverer:
    def __init__(self, database: Database, settings: Settings, clock: Clock = system_clock) -> None:
        self.database = database
        self.timeout = settings.webhook_timeout_seconds
        self.schedule = settings.webhook_retry_schedule
        self.allow_private = settings.webhook_allow_private_targets
        self.poll_seconds = settings.webhook_poll_seconds
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None

    def wake(self) -> None:
        """Something was written to the outbox in this process: look now, not at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=0),
            trust_env=False,
        )
        self._loop = asyncio.create_task(self._run(), name="webhook deliverer")

    async def stop(self) -> None:
        """Stop claiming (a claim under way is rolled back) and let the attempts in flight finish
        and record their outcome. Should the database not answer, they are given up after the
        timeout and a margin: their leases run out and another process sends them again."""
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._in_flight:
            _, stuck = await asyncio.wait(self._in_flight, timeout=self.timeout + STOP_MARGIN_SECONDS)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        if self._http is not None:
            await self._http.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            claimed = 0
            try:
                claimed = await self.run_once()
            except (SQLAlchemyError, OSError):
                log.warning("webhook deliverer: cannot claim deliveries; retrying", exc_info=True)
            if claimed and len(self._in_flight) < MAX_IN_FLIGHT:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def run_once(self) -> int:
        """Claim what is due (as much as there is room for) and start sending it; how many."""
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0 or self._stopping:
            return 0
        now = self.clock()
        # A read first: an idle deliverer never takes SQLite's write lock.
        async with self.database.read_session() as session:
            if not await WebhookRepository(session).has_due(now):
                return 0
        async with self.database.write_session() as session, session.begin():
            lease = now + timedelta(seconds=self.timeout) + LEASE_MARGIN
            claimed = await WebhookRepository(session).claim(now, lease, room)
        for item in claimed:
            task = asyncio.create_task(self._attempt(item))
            self._in_flight.add(task)
            task.add_done_callback(self._done)
        return len(claimed)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) < MAX_IN_FLIGHT:
            self._wake.set()

    async def drain(self) -> None:
        """Wait until the attempts started so far are recorded."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    async def _attempt(self, item: Claimed) -> None:
        try:
            outcome = await self.send(item)
        except Exception as error:
            log.exception("webhook attempt crashed", delivery_id=item.delivery_id)
            outcome = Outcome(None, f"internal error: {type(error).__name__}")
        try:
            await self._record(item, outcome)
        except SQLAlchemyError:
            # The lease runs out and the delivery is attempted again: at least once.
            log.warning("webhook outcome not recorded", delivery_id=item.delivery_id, exc_info=True)

    async def send(self, item: Claimed) -> Outcome:
        """One POST of the delivery's body, signed, to an address checked just now."""
        assert self._http is not None
        try:
            target = await targets.check(item.url, allow_private=self.allow_private)
        except targets.TargetRefused as error:
            return Outcome(None, f"refused: {error}")
        url, extensions = _pinned(target)
        headers = {
            "Content-Type": "application/json",
            "Host": target.url.netloc.rpartition("@")[2],
            **signing.headers(item.secret, item.event_id, datetime.now(UTC), item.payload),
        }
        try:
            async with asyncio.timeout(self.timeout):
                request = self._http.build_request(
                    "POST", url, content=item.payload.encode(), headers=headers, extensions=extensions
                )
                response = await self._http.send(request, stream=True)
                try:
                    await _read_some(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            return Outcome(None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as error:
            return Outcome(None, f"{type(error).__name__}: {error}"[:500])
        if 200 <= response.status_code < 300:
            return Outcome(response.status_code, None)
        return Outcome(response.status_code, f"HTTP {response.status_code}")

    async def _record(self, item: Claimed, outcome: Outcome) -> None:
        now = self.clock()
        async with self.database.write_session() as session, session.begin():
            webhooks = WebhookRepository(session)
            if outcome.ok:
                assert outcome.status is not None
                await webhooks.record_success(item.delivery_id, item.webhook_id, outcome.status)
                return
            assert outcome.error is not None
            retry_at = self.retry_at(item.attempts, now)
            failing_since = await webhooks.record_failure(
                item.delivery_id, item.webhook_id, outcome.status, outcome.error, retry_at, now
            )
            if failing_since is not None and now - failing_since >= DISABLE_AFTER:
                reason = f"every delivery failed since {failing_since.isoformat()}"
                await webhooks.disable(item.webhook_id, reason)
                log.warning("webhook disabled", webhook_id=item.webhook_id, reason=reason)

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` failed attempts; None once the schedule is spent."""
        if attempts > len(self.schedule):
            return None
        delay = self.schedule[attempts - 1] * (1 + random.uniform(0, JITTER))  # noqa: S311 - not a secret
        return now + timedelta(seconds=delay)


def _pinned(target: targets.Target) -> tuple[str, dict[str, Any]]:
    """The URL with its host replaced by the checked address (so DNS is not asked twice), and
    for https the name the certificate must carry."""
    address = str(target.address)
    host = f"[{address}]" if target.address.version == 6 else address
    netloc = f"{host}:{target.port}"
    url = target.url._replace(netloc=netloc).geturl()
    extensions: dict[str, Any] = {}
    if target.url.scheme == "https":
        extensions["sni_hostname"] = target.host
    return url, extensions


async def _read_some(response: httpx.Response) -> bytes:
    """At most RESPONSE_BYTES of the answer: a receiver cannot make us read more."""
    received = b""
    async for chunk in response.aiter_raw():
        received += chunk
        if len(received) >= RESPONSE_BYTES:
            break
    return received[:RESPONSE_BYTES]
