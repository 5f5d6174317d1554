"""Every SQL statement of webhooks: the webhooks, their deliveries (the outbox), and what the
deliverer claims and records."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.core.changes import Event, take_events
from todo_api.models import ListMember, Role, Task, TaskList, User, Webhook, WebhookDelivery

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt, with what sending it needs."""

    delivery_id: int
    event_id: str
    payload: str
    attempts: int  # including this one
    webhook_id: int
    url: str
    secret: str


# Run at the commit of every write: built once, with the ids as (expanding) bound parameters.
_ACTIVE_FOR = select(Webhook).where(
    col(Webhook.active).is_(True),
    col(Webhook.user_id).in_(
        select(ListMember.user_id).where(col(ListMember.list_id).in_(bindparam("list_ids", expanding=True)))
    )
    | col(Webhook.user_id).in_(bindparam("user_ids", expanding=True)),
)


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # The webhooks.

    async def count_for_user(self, user_id: int) -> int:
        """How many webhooks the user has, with the user's row locked (PostgreSQL) so that two
        concurrent creations cannot both pass the limit; SQLite serialises writers anyway."""
        await self.session.exec(select(User.id).where(col(User.id) == user_id).with_for_update())
        statement = select(func.count()).select_from(Webhook).where(col(Webhook.user_id) == user_id)
        return int((await self.session.exec(statement)).one())

    async def add(self, webhook: Webhook) -> Webhook:
        self.session.add(webhook)
        await self.session.flush()
        return webhook

    async def get(self, webhook_id: int, user_id: int, *, for_update: bool = False) -> Webhook | None:
        """The user's webhook; None for anyone else's, as for one that never existed."""
        statement = select(Webhook).where(col(Webhook.id) == webhook_id, col(Webhook.user_id) == user_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.exec(statement)).first()

    async def for_user(self, user_id: int) -> Sequence[Webhook]:
        statement = select(Webhook).where(col(Webhook.user_id) == user_id).order_by(col(Webhook.id).desc())
        return (await self.session.exec(statement)).all()

    async def delete(self, webhook: Webhook) -> None:
        await self.session.delete(webhook)
        await self.session.flush()

    async def is_member(self, user_id: int, list_id: int) -> bool:
        statement = select(ListMember.list_id).where(
            col(ListMember.user_id) == user_id, col(ListMember.list_id) == list_id
        )
        return (await self.session.exec(statement)).first() is not None

    async def fail_pending(self, webhook_id: int, reason: str) -> None:
        """The webhook's deliveries still waiting end as failed (it was deactivated)."""
        await self.session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.webhook_id) == webhook_id, col(WebhookDelivery.status) == PENDING)
            .values(status=FAILED, last_error=reason, next_attempt_at=None)
        )

    # Deliveries, as their webhook's owner sees them.

    async def deliveries(
        self, webhook_id: int, skip: int, limit: int
    ) -> tuple[Sequence[WebhookDelivery], int]:
        where = col(WebhookDelivery.webhook_id) == webhook_id
        total = (
            await self.session.exec(select(func.count()).select_from(WebhookDelivery).where(where))
        ).one()
        statement = (
            select(WebhookDelivery)
            .where(where)
            .order_by(col(WebhookDelivery.id).desc())
            .offset(skip)
            .limit(limit)
        )
        return (await self.session.exec(statement)).all(), int(total)

    async def delivery(self, webhook_id: int, delivery_id: int) -> WebhookDelivery | None:
        statement = select(WebhookDelivery).where(
            col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.webhook_id) == webhook_id
        )
        return (await self.session.exec(statement)).first()

    async def add_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        self.session.add(delivery)
        await self.session.flush()
        return delivery

    # Turning a transaction's events into deliveries, just before it commits.

    def take_events(self) -> list[Event]:
        return take_events(self.session)

    async def memberships(self, list_ids: Iterable[int]) -> dict[int, dict[int, str]]:
        """list id -> {member's user id -> role}."""
        ids = list(set(list_ids))
        if not ids:
            return {}
        statement = select(ListMember.list_id, ListMember.user_id, ListMember.role).where(
            col(ListMember.list_id).in_(ids)
        )
        found: dict[int, dict[int, str]] = {}
        for list_id, user_id, role in (await self.session.exec(statement)).all():
            found.setdefault(list_id, {})[user_id] = Role(role).value
        return found

    async def active_for(self, list_ids: Iterable[int], user_ids: Iterable[int]) -> Sequence[Webhook]:
        """The active webhooks of the members of these lists and of these users: one statement,
        so a write where nobody has a webhook (the usual case) costs one query."""
        values = {"list_ids": list(set(list_ids)), "user_ids": list(set(user_ids))}
        return (await self.session.exec(_ACTIVE_FOR, params=values)).all()

    async def tasks(self, task_ids: Iterable[int]) -> dict[int, Task]:
        ids = list(set(task_ids))
        if not ids:
            return {}
        statement = select(Task).where(col(Task.id).in_(ids))
        return {task.id: task for task in (await self.session.exec(statement)).all() if task.id is not None}

    async def lists(self, list_ids: Iterable[int]) -> dict[int, TaskList]:
        ids = list(set(list_ids))
        if not ids:
            return {}
        statement = select(TaskList).where(col(TaskList.id).in_(ids))
        return {row.id: row for row in (await self.session.exec(statement)).all() if row.id is not None}

    async def members(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple[ListMember, str]]:
        """(list id, user id) -> the membership and the member's username."""
        wanted = set(keys)
        if not wanted:
            return {}
        statement = (
            select(ListMember, User.username)
            .join(User, col(User.id) == col(ListMember.user_id))
            .where(col(ListMember.list_id).in_({list_id for list_id, _ in wanted}))
        )
        found: dict[tuple[int, int], tuple[ListMember, str]] = {}
        for member, username in (await self.session.exec(statement)).all():
            if (member.list_id, member.user_id) in wanted:
                found[(member.list_id, member.user_id)] = (member, username)
        return found

    async def insert_deliveries(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.exec(insert(WebhookDelivery), params=rows)

    async def deactivate_for_list(self, list_id: int, reason: str) -> None:
        await self.session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.status) == PENDING,
                col(WebhookDelivery.webhook_id).in_(
                    select(Webhook.id).where(col(Webhook.list_id) == list_id).scalar_subquery()
                ),
                col(WebhookDelivery.type) != "list.deleted",
            )
            .values(status=FAILED, last_error=reason, next_attempt_at=None)
        )
        await self.session.exec(
            update(Webhook)
            .where(col(Webhook.list_id) == list_id, col(Webhook.active).is_(True))
            .values(active=False, disabled_reason=reason)
        )

    # The deliverer.

    async def has_due(self, now: datetime) -> bool:
        statement = select(WebhookDelivery.id).where(
            col(WebhookDelivery.status) == PENDING, col(WebhookDelivery.next_attempt_at) <= now
        )
        return (await self.session.exec(statement.limit(1))).first() is not None

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        """Take up to `limit` due deliveries for one attempt each: they are due again only at
        `lease_until` (if this process dies mid-attempt). Rows another replica is claiming are
        skipped, not waited for."""
        due = (
            select(WebhookDelivery.id)
            .where(col(WebhookDelivery.status) == PENDING, col(WebhookDelivery.next_attempt_at) <= now)
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = [int(row) for row in (await self.session.exec(due)).all() if row is not None]
        if not ids:
            return []
        await self.session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_(ids))
            .values(attempts=col(WebhookDelivery.attempts) + 1, next_attempt_at=lease_until)
        )
        statement = (
            select(WebhookDelivery, Webhook.url, Webhook.secret)
            .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
            .where(col(WebhookDelivery.id).in_(ids))
            .order_by(col(WebhookDelivery.id))
            .execution_options(populate_existing=True)
        )
        return [
            Claimed(
                delivery.id or 0,
                delivery.event_id,
                delivery.payload,
                delivery.attempts,
                delivery.webhook_id,
                url,
                secret,
            )
            for delivery, url, secret in (await self.session.exec(statement)).all()
        ]

    async def record_success(self, delivery_id: int, webhook_id: int, response_status: int) -> None:
        await self.session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .values(status=SUCCEEDED, response_status=response_status, last_error=None, next_attempt_at=None)
        )
        await self.session.exec(
            update(Webhook)
            .where(col(Webhook.id) == webhook_id, col(Webhook.failing_since).is_not(None))
            .values(failing_since=None)
        )

    async def record_failure(
        self,
        delivery_id: int,
        webhook_id: int,
        response_status: int | None,
        error: str,
        next_attempt_at: datetime | None,
        now: datetime,
    ) -> datetime | None:
        """The attempt failed: retry at `next_attempt_at`, or never (None). The instant the webhook
        started failing (now, unless it already was), or None if it is gone or inactive."""
        await self.session.exec(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .values(
                status=PENDING if next_attempt_at else FAILED,
                response_status=response_status,
                last_error=error[:500],
                next_attempt_at=next_attempt_at,
            )
        )
        await self.session.exec(
            update(Webhook)
            .where(col(Webhook.id) == webhook_id, col(Webhook.failing_since).is_(None))
            .values(failing_since=now)
        )
        statement = select(Webhook.failing_since).where(col(Webhook.id) == webhook_id, col(Webhook.active))
        return (await self.session.exec(statement)).first()

    async def disable(self, webhook_id: int, reason: str) -> None:
        await self.session.exec(
            update(Webhook).where(col(Webhook.id) == webhook_id).values(active=False, disabled_reason=reason)
        )
        await self.fail_pending(webhook_id, reason)

    # Retention.

    async def purge(self, cutoff: datetime) -> int:
        """Delete the deliveries created before `cutoff` (none is pending that long: the retry
        schedule ends first); how many went."""
        result = await self.session.exec(
            delete(WebhookDelivery).where(col(WebhookDelivery.created_at) < cutoff)
        )
        return int(result.rowcount)
