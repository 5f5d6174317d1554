"""Standard Webhooks: secrets, event ids and the three headers every request carries."""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook as Signer

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not one
SECRET_BYTES = 32


def new_secret() -> str:
    """`whsec_` and 32 random bytes in base64: the form Standard Webhooks libraries take."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_event_id() -> str:
    """A unique event id (the `webhook-id` header): receivers use it to drop a repeated event."""
    return "evt_" + secrets.token_urlsafe(18)


def headers(secret: str, event_id: str, at: datetime, body: str) -> dict[str, str]:
    """The `webhook-id`, `webhook-timestamp` and `webhook-signature` headers for one attempt."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(event_id, at, body),
    }
