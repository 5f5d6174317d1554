"""Login and registration limits, counted by the `limits` library in memory or in Redis."""

import math
import time

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from todo_api.errors import RateLimited

log = structlog.get_logger()


def create_storage(redis_url: str | None, key_prefix: str) -> Storage:
    """Redis when a URL is given (shared by every worker and replica), else this process's memory."""
    if not redis_url:
        return MemoryStorage()
    uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
    storage = storage_from_string(uri, key_prefix=key_prefix)
    assert isinstance(storage, Storage)
    return storage


def _limits(text: str) -> list[RateLimitItem]:
    return [] if text == "0" else parse_many(text)


class RateLimits:
    """Failed logins per client address and per username; registrations per client address.

    If the storage cannot be reached the request is let through and the failure logged: an
    unreachable Redis must not lock every user out.
    """

    def __init__(self, storage: Storage, *, login: str, register: str) -> None:
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._login = _limits(login)
        self._register = _limits(register)

    async def check_login(self, client: str, login: str) -> None:
        """Raise RateLimited if this address or this username has failed too often of late."""
        for item in self._login:
            for key in self._login_keys(client, login):
                await self._refuse_if_spent(item, key)

    async def record_failed_login(self, client: str, login: str) -> None:
        for item in self._login:
            for key in self._login_keys(client, login):
                await self._hit(item, key)

    async def hit_registration(self, client: str) -> None:
        """Count a registration attempt; raise RateLimited past the limit."""
        for item in self._register:
            await self._refuse_if_spent(item, ("register", client))
            await self._hit(item, ("register", client))

    @staticmethod
    def _login_keys(client: str, login: str) -> list[tuple[str, str]]:
        return [("login-address", client), ("login-user", login.strip().lower())]

    async def _refuse_if_spent(self, item: RateLimitItem, key: tuple[str, str]) -> None:
        try:
            if await self._limiter.test(item, *key):
                return
            stats = await self._limiter.get_window_stats(item, *key)
        except Exception:
            log.warning("rate limit storage unavailable; request allowed", limit=str(item), exc_info=True)
            return
        raise RateLimited(retry_after=max(1, math.ceil(stats.reset_time - time.time())))

    async def _hit(self, item: RateLimitItem, key: tuple[str, str]) -> None:
        try:
            await self._limiter.hit(item, *key)
        except Exception:
            log.warning("rate limit storage unavailable; attempt not counted", limit=str(item), exc_info=True)
