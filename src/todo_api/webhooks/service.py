"""Webhooks: saved by their owner, fed at commit with the events of the lists the owner can see.

Every write transaction ends with `publish`: each event recorded in it becomes one delivery per
matching active webhook whose owner may see the event's list at that moment, in the same
transaction. A rolled-back change therefore sends nothing, and a committed one is in the outbox
before anyone is told it happened. `deliverer` sends them.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from todo_api.core.changes import Event
from todo_api.core.clock import Clock, system_clock
from todo_api.core.errors import DeliveryNotFound, InvalidField, LimitReached, ListNotFound, WebhookNotFound
from todo_api.core.pagination import page_info
from todo_api.lists.schemas import ListPublic, MemberPublic
from todo_api.models import Task, TaskList, User, Webhook, WebhookDelivery
from todo_api.tasks.schemas import TaskPublic
from todo_api.webhooks import signing, targets
from todo_api.webhooks.repository import PENDING, WebhookRepository
from todo_api.webhooks.schemas import (
    DeliveryPage,
    DeliveryParams,
    DeliveryPublic,
    EventType,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPublic,
    WebhookUpdate,
)

MAX_WEBHOOKS_PER_USER = 20
LIST_DELETED = "its list was deleted"
DEACTIVATED = "the webhook was deactivated"


class Envelope(BaseModel):
    """The body of every webhook request."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


def body(event_id: str, event_type: str, at: datetime, data: dict[str, Any]) -> str:
    return Envelope(id=event_id, type=event_type, created_at=at, data=data).model_dump_json()


class WebhookService:
    def __init__(
        self,
        webhooks: WebhookRepository,
        *,
        allow_private_targets: bool,
        clock: Clock = system_clock,
    ) -> None:
        self.webhooks = webhooks
        self.allow_private_targets = allow_private_targets
        self.clock = clock

    async def create(self, user: User, webhook_in: WebhookCreate) -> WebhookCreated:
        """A new webhook with a new secret, shown this once; at most 20 per user."""
        assert user.id is not None
        await self._check_url(webhook_in.url)
        if webhook_in.list_id is not None and not await self.webhooks.is_member(user.id, webhook_in.list_id):
            raise ListNotFound
        if await self.webhooks.count_for_user(user.id) >= MAX_WEBHOOKS_PER_USER:
            raise LimitReached(f"at most {MAX_WEBHOOKS_PER_USER} webhooks per user")
        webhook = await self.webhooks.add(
            Webhook(
                user_id=user.id,
                url=webhook_in.url,
                secret=signing.new_secret(),
                events=[event.value for event in webhook_in.events],
                list_id=webhook_in.list_id,
                created_at=self.clock(),
            )
        )
        return WebhookCreated.model_validate(webhook)

    async def list(self, user: User) -> WebhookList:
        assert user.id is not None
        return WebhookList(
            items=[WebhookPublic.model_validate(hook) for hook in await self.webhooks.for_user(user.id)]
        )

    async def get(self, user: User, webhook_id: int) -> WebhookPublic:
        return WebhookPublic.model_validate(await self._own(user, webhook_id))

    async def update(self, user: User, webhook_id: int, webhook_in: WebhookUpdate) -> WebhookPublic:
        """Change the URL or the events, or (de)activate: deactivating ends the deliveries still
        pending as failed; activating resumes with the events from then on."""
        assert user.id is not None
        webhook = await self._own(user, webhook_id, for_update=True)
        if webhook_in.url is not None and webhook_in.url != webhook.url:
            await self._check_url(webhook_in.url)
            webhook.url = webhook_in.url
        if webhook_in.events is not None:
            webhook.events = [event.value for event in webhook_in.events]
        if webhook_in.active is True and not webhook.active:
            if webhook.list_id is not None and not await self.webhooks.is_member(user.id, webhook.list_id):
                raise InvalidField(
                    ("body", "active"), "the webhook's list is gone, or you are no longer a member"
                )
            webhook.active, webhook.disabled_reason, webhook.failing_since = True, None, None
        elif webhook_in.active is False and webhook.active:
            webhook.active, webhook.disabled_reason = False, None
            assert webhook.id is not None
            await self.webhooks.fail_pending(webhook.id, DEACTIVATED)
        await self.webhooks.add(webhook)
        return WebhookPublic.model_validate(webhook)

    async def delete(self, user: User, webhook_id: int) -> None:
        """The webhook goes, with its delivery log and what it had still to send."""
        await self.webhooks.delete(await self._own(user, webhook_id, for_update=True))

    async def ping(self, user: User, webhook_id: int) -> DeliveryPublic:
        """A `ping` event for this webhook alone (sent even while it is inactive: it was asked for)."""
        webhook = await self._own(user, webhook_id)
        assert webhook.id is not None
        now = self.clock()
        event_id = signing.new_event_id()
        delivery = await self.webhooks.add_delivery(
            WebhookDelivery(
                webhook_id=webhook.id,
                event_id=event_id,
                type="ping",
                payload=body(event_id, "ping", now, {"webhook": {"id": webhook.id, "url": webhook.url}}),
                status=PENDING,
                created_at=now,
                next_attempt_at=now,
            )
        )
        return DeliveryPublic.model_validate(delivery)

    async def deliveries(self, user: User, webhook_id: int, params: DeliveryParams) -> DeliveryPage:
        webhook = await self._own(user, webhook_id)
        assert webhook.id is not None
        items, total = await self.webhooks.deliveries(webhook.id, params.skip, params.limit)
        return DeliveryPage(
            items=[DeliveryPublic.model_validate(item) for item in items],
            **page_info(total, params.skip, params.limit),
        )

    async def redeliver(self, user: User, webhook_id: int, delivery_id: int) -> DeliveryPublic:
        """A new delivery of the same event: same `webhook-id`, same body, a fresh set of attempts."""
        webhook = await self._own(user, webhook_id)
        assert webhook.id is not None
        original = await self.webhooks.delivery(webhook.id, delivery_id)
        if original is None:
            raise DeliveryNotFound
        now = self.clock()
        delivery = await self.webhooks.add_delivery(
            WebhookDelivery(
                webhook_id=webhook.id,
                event_id=original.event_id,
                type=original.type,
                payload=original.payload,
                status=PENDING,
                created_at=now,
                next_attempt_at=now,
            )
        )
        return DeliveryPublic.model_validate(delivery)

    async def purge(self, retention_days: int) -> int:
        """Delete deliveries older than `retention_days`; how many went."""
        return await self.webhooks.purge(self.clock() - timedelta(days=retention_days))

    async def _own(self, user: User, webhook_id: int, *, for_update: bool = False) -> Webhook:
        assert user.id is not None
        webhook = await self.webhooks.get(webhook_id, user.id, for_update=for_update)
        if webhook is None:
            raise WebhookNotFound
        return webhook

    async def _check_url(self, url: str) -> None:
        try:
            await targets.check(url, allow_private=self.allow_private_targets)
        except targets.TargetRefused as error:
            raise InvalidField(("body", "url"), str(error)) from None


# Publishing: a transaction's events become deliveries.


@dataclass(frozen=True)
class _Notice:
    """One kind of message about one event, for one audience."""

    type: str
    list_ids: frozenset[int]  # a webhook scoped to one of these lists hears it
    audience: dict[int, str]  # user id -> their role on the list
    data: Callable[[str], dict[str, Any]]  # the recipient's role -> `data`


@dataclass
class _Objects:
    tasks: dict[int, Task]
    lists: dict[int, TaskList]
    members: dict[tuple[int, int], Any]


def _list_data(task_list: TaskList | dict[str, Any], role: str) -> dict[str, Any]:
    fields = task_list if isinstance(task_list, dict) else task_list.model_dump()
    return ListPublic.model_validate({**fields, "role": role}).model_dump(mode="json")


def _member_data(user_id: int, username: str, role: str, added_at: datetime) -> dict[str, Any]:
    return MemberPublic(user_id=user_id, username=username, role=role, added_at=added_at).model_dump(
        mode="json"
    )


def _notices(event: Event, members: dict[int, dict[int, str]], found: _Objects) -> Iterator[_Notice]:
    audience = event.audience if event.audience is not None else members.get(event.list_id, {})
    kind = event.type.partition(".")[0]
    if kind == "task":
        task = found.tasks.get(event.object_id)
        if event.snapshot is not None:
            task_data = event.snapshot
        elif task is None or (task.deleted_at is not None and event.type != EventType.task_deleted):
            # Gone by commit (its list was deleted too), or in the trash, which was announced.
            return
        else:
            task_data = {"task": TaskPublic.model_validate(task).model_dump(mode="json")}
        lists = frozenset({event.list_id} | ({event.previous_list_id} if event.previous_list_id else set()))
        yield _Notice(event.type, lists, audience, lambda _role: task_data)
        if event.previous_list_id is not None:
            # Those who saw the task only in the list it left: for them it is gone.
            left = members.get(event.previous_list_id, {})
            stayed = {user: role for user, role in left.items() if user not in audience}
            gone_there = {"task": {"id": event.object_id, "list_id": event.previous_list_id}}
            previous = frozenset({event.previous_list_id})
            yield _Notice(EventType.task_deleted.value, previous, stayed, lambda _role: gone_there)
        return
    task_list: TaskList | dict[str, Any] | None = (
        event.snapshot["list"]
        if event.snapshot and "list" in event.snapshot
        else found.lists.get(event.list_id)
    )
    if task_list is None:
        return
    if kind == "list":
        only = frozenset({event.list_id})
        yield _Notice(event.type, only, audience, lambda role: {"list": _list_data(task_list, role)})
        return
    member: dict[str, Any] | None = event.snapshot.get("member") if event.snapshot else None
    if member is None:
        row = found.members.get((event.list_id, event.object_id))
        if row is None:
            return
        membership, username = row
        member = _member_data(membership.user_id, username, membership.role, membership.added_at)
    yield _Notice(
        event.type,
        frozenset({event.list_id}),
        audience,
        lambda role: {"list": _list_data(task_list, role), "member": member},
    )


def _matches(webhook: Webhook, event_type: str, list_ids: frozenset[int]) -> bool:
    if webhook.list_id is not None and webhook.list_id not in list_ids:
        return False
    return EventType.all.value in webhook.events or event_type in webhook.events


async def publish(webhooks: WebhookRepository, now: datetime) -> int:
    """Turn the transaction's events into deliveries (call it just before COMMIT); how many."""
    events = webhooks.take_events()
    if not events:
        return 0
    lists_deleted = [event.list_id for event in events if event.type == EventType.list_deleted]
    list_ids = {event.list_id for event in events}
    list_ids.update(event.previous_list_id for event in events if event.previous_list_id is not None)
    audience = {user for event in events if event.audience for user in event.audience}
    hooks = await webhooks.active_for(list_ids, audience)
    rows: list[dict[str, Any]] = []
    if hooks:
        members = await webhooks.memberships(list_ids)
        by_user: dict[int, list[Webhook]] = {}
        for hook in hooks:
            by_user.setdefault(hook.user_id, []).append(hook)
        found = _Objects(
            tasks=await webhooks.tasks(
                e.object_id for e in events if e.type.startswith("task.") and not e.snapshot
            ),
            lists=await webhooks.lists(e.list_id for e in events if not e.type.startswith("task.")),
            members=await webhooks.members(
                (e.list_id, e.object_id) for e in events if e.type.startswith("member.") and not e.snapshot
            ),
        )
        for event in events:
            for notice in _notices(event, members, found):
                event_id = signing.new_event_id()
                for user_id, role in notice.audience.items():
                    for hook in by_user.get(user_id, ()):
                        if _matches(hook, notice.type, notice.list_ids):
                            rows.append(
                                {
                                    "webhook_id": hook.id,
                                    "event_id": event_id,
                                    "type": notice.type,
                                    "payload": body(event_id, notice.type, now, notice.data(role)),
                                    "status": PENDING,
                                    "attempts": 0,
                                    "created_at": now,
                                    "next_attempt_at": now,
                                }
                            )
        await webhooks.insert_deliveries(rows)
    for list_id in lists_deleted:
        await webhooks.deactivate_for_list(list_id, LIST_DELETED)
    return len(rows)
