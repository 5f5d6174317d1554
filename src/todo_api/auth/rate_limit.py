"""Login, password-change and registration limits, counted by `limits` in memory or in Redis.

An attempt is counted *before* the password is checked, with one atomic increment per budget, so
requests that arrive together cannot all slip past the check while each hash is still running. A
login (or password change) that then succeeds gives its attempt back: only failures spend a budget.
"""

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from todo_api.core.errors import RateLimited
from todo_api.core.observability import RATE_LIMIT_REFUSALS

log = structlog.get_logger()
# Every budget's refusal count exists from the start, at 0, so that a rate over it is 0 and not absent.
for _budget in ("login-address", "login-account", "password-change", "register"):
    RATE_LIMIT_REFUSALS.labels(_budget)


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


@dataclass(frozen=True, slots=True)
class _Budget:
    item: RateLimitItem
    key: tuple[str, ...]


class Attempt:
    """An attempt counted against its budgets; `give_back()` when it turned out not to be a failure."""

    def __init__(self, limits: "RateLimits", budgets: list[_Budget]) -> None:
        self._limits = limits
        self._budgets = budgets

    async def give_back(self) -> None:
        # If a window ended between the count and this call, the refund lands in the next window
        # and allows one more attempt there: at most one, and only within a hash's duration.
        for budget in self._budgets:
            await self._limits.add(budget, -1)


class RateLimits:
    """Budgets of failed logins per client address and per account, of failed password changes
    per account, and of registrations per client address.

    If the storage cannot be reached the request is let through and the failure logged: an
    unreachable Redis must not lock every user out.
    """

    def __init__(self, storage: Storage, *, login: str, register: str) -> None:
        self.storage = storage
        self._limiter = FixedWindowRateLimiter(storage)
        self._login = _limits(login)
        self._register = _limits(register)

    async def login_attempt(self, client: str, account: str) -> Attempt:
        """Count a login attempt for `client` and `account` (the user's id, or the unknown name tried).

        Raises RateLimited when either budget is spent; the refused attempt counts too.
        """
        budgets = [
            _Budget(item, key)
            for item in self._login
            for key in (("login-address", client), ("login-account", account))
        ]
        return await self._spend(budgets)

    async def password_change_attempt(self, user_id: int) -> Attempt:
        """Count an attempt to prove the current password before changing it."""
        return await self._spend([_Budget(item, ("password-change", str(user_id))) for item in self._login])

    async def registration_attempt(self, client: str) -> None:
        """Count a registration from `client`; raises RateLimited past the limit."""
        await self._spend([_Budget(item, ("register", client)) for item in self._register])

    async def _spend(self, budgets: list[_Budget]) -> Attempt:
        refused: _Budget | None = None
        for budget in budgets:
            if not await self.add(budget, 1) and refused is None:
                refused = budget
        if refused is not None:
            RATE_LIMIT_REFUSALS.labels(refused.key[0]).inc()
            raise RateLimited(retry_after=await self._seconds_to_reset(refused))
        return Attempt(self, budgets)

    async def add(self, budget: _Budget, cost: int) -> bool:
        """Add `cost` to the budget's count; False when that takes it past its limit."""
        try:
            return await self._limiter.hit(budget.item, *budget.key, cost=cost)
        except Exception:
            log.warning(
                "rate limit storage unavailable; attempt allowed", limit=str(budget.item), exc_info=True
            )
            return True

    async def _seconds_to_reset(self, budget: _Budget) -> int:
        try:
            stats = await self._limiter.get_window_stats(budget.item, *budget.key)
        except Exception:
            log.warning("rate limit storage unavailable", limit=str(budget.item), exc_info=True)
            return 1
        return max(1, math.ceil(stats.reset_time - time.time()))
