from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from todo_api.core.http import NO_STORE, ObjectId, errors
from todo_api.deps import WebhookServiceDep, WebhooksUser
from todo_api.webhooks.schemas import (
    DeliveryPage,
    DeliveryParams,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPublic,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

LIMIT = "You have 20 webhooks already (`limit_reached`)"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    name="create_webhook",
    responses=errors(401, 403, 404, 409, 413, 422, s409=LIMIT),
)
async def create_webhook(
    webhook_in: WebhookCreate, user: WebhooksUser, webhooks: WebhookServiceDep, response: Response
) -> WebhookCreated:
    """Be told of changes: a signed POST to `url` for each event. The secret is shown only now."""
    created = await webhooks.create(user, webhook_in)
    response.headers["Location"] = f"/webhooks/{created.id}"
    response.headers.update(NO_STORE)
    return created


@router.get("", response_model=WebhookList, name="list_webhooks", responses=errors(401, 403))
async def list_webhooks(user: WebhooksUser, webhooks: WebhookServiceDep) -> WebhookList:
    """Your webhooks, newest first, without their secrets."""
    return await webhooks.list(user)


@router.get(
    "/{webhook_id}", response_model=WebhookPublic, name="get_webhook", responses=errors(401, 403, 404, 422)
)
async def get_webhook(webhook_id: ObjectId, user: WebhooksUser, webhooks: WebhookServiceDep) -> WebhookPublic:
    return await webhooks.get(user, webhook_id)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookPublic,
    name="update_webhook",
    responses=errors(401, 403, 404, 413, 422),
)
async def update_webhook(
    webhook_id: ObjectId, webhook_in: WebhookUpdate, user: WebhooksUser, webhooks: WebhookServiceDep
) -> WebhookPublic:
    """Change the URL or the events; `active: false` stops it (what is pending fails), `true` resumes."""
    return await webhooks.update(user, webhook_id, webhook_in)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="delete_webhook",
    responses=errors(401, 403, 404, 422),
)
async def delete_webhook(webhook_id: ObjectId, user: WebhooksUser, webhooks: WebhookServiceDep) -> None:
    await webhooks.delete(user, webhook_id)


@router.post(
    "/{webhook_id}/ping",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryPublic,
    name="ping_webhook",
    responses=errors(401, 403, 404, 422),
)
async def ping_webhook(
    webhook_id: ObjectId, user: WebhooksUser, webhooks: WebhookServiceDep
) -> DeliveryPublic:
    """Send a `ping` event now; the answer is the delivery, to follow in the log."""
    return await webhooks.ping(user, webhook_id)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    name="list_webhook_deliveries",
    responses=errors(401, 403, 404, 422),
)
async def list_webhook_deliveries(
    webhook_id: ObjectId,
    params: Annotated[DeliveryParams, Query()],
    user: WebhooksUser,
    webhooks: WebhookServiceDep,
) -> DeliveryPage:
    """The webhook's deliveries of the last 30 days, newest first."""
    return await webhooks.deliveries(user, webhook_id, params)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryPublic,
    name="redeliver_webhook_delivery",
    responses=errors(401, 403, 404, 422),
)
async def redeliver_webhook_delivery(
    webhook_id: ObjectId, delivery_id: ObjectId, user: WebhooksUser, webhooks: WebhookServiceDep
) -> DeliveryPublic:
    """Send the delivery's event again (same `webhook-id`, same body) as a new delivery."""
    return await webhooks.redeliver(user, webhook_id, delivery_id)
