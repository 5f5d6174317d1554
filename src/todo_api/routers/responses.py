"""The error answers routes declare, so the OpenAPI document shows each of them."""

from typing import Any

from todo_api.schemas.error import ErrorResponse, ValidationErrorResponse

# Responses that hold tokens or tasks must not be kept by caches.
NO_STORE = {"Cache-Control": "no-store"}

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid or expired credentials (`not_authenticated`, `invalid_token`, `token_expired`, "
    "`invalid_credentials`)",
    404: "Not found, or not yours (`not_found`)",
    409: "Conflict (`user_exists`)",
    412: "If-Match does not match the task's current ETag (`precondition_failed`); nothing changed",
    413: "Request body too large (`payload_too_large`)",
    422: "Validation failed (`validation_error`)",
    429: "Too many attempts (`rate_limited`); see `Retry-After`",
    503: "Service unavailable",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that may answer with these error statuses."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = ValidationErrorResponse if status == 422 else ErrorResponse
        declared[status] = {"model": model, "description": _DESCRIPTIONS[status]}
        if status == 429:
            declared[status]["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
    return declared
