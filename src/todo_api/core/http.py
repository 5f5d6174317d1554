"""The HTTP edges every domain shares: the error shape, declared error answers, entity tags."""

import re
from typing import Annotated, Any

from asgi_correlation_id import correlation_id
from fastapi import Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    detail: str = Field(examples=["task not found"])
    code: str = Field(examples=["not_found"])
    request_id: str | None = None


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    ctx: dict[str, Any] | None = None


class ValidationErrorResponse(BaseModel):
    """A 422: `detail` lists each field error, as FastAPI does."""

    detail: list[ValidationErrorItem]
    code: str = Field(examples=["validation_error"])
    request_id: str | None = None


def error_response(
    status_code: int,
    code: str,
    detail: Any,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """The contract's error shape: detail, code and the request id (plus any fields of `extra`)."""
    body = {**(extra or {}), "detail": detail, "code": code, "request_id": correlation_id.get()}
    return JSONResponse(body, status_code=status_code, headers=headers)


# Responses that hold tokens or tasks must not be kept by caches.
NO_STORE = {"Cache-Control": "no-store"}

ETAG_HEADER = {
    "ETag": {
        "description": "The object's version, for If-Match and If-None-Match.",
        "schema": {"type": "string"},
    }
}
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Apply the write only if the object's ETag is still this one; otherwise 412.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="Answer 304 with no body if the object's ETag is this one."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7E]+$",
        description="Retry safely: the same key with the same body within 24 hours replays the first answer.",
    ),
]
# What a creating route declares: its 201's headers, and the 422 an Idempotency-Key can cause.
CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "headers": {
            **ETAG_HEADER,
            "Location": {"description": "The new object's URL.", "schema": {"type": "string"}},
            "Idempotent-Replayed": {
                "description": "`true` when this is the stored answer to an earlier request "
                "with the same key.",
                "schema": {"type": "string"},
            },
        }
    },
    422: {
        "model": ValidationErrorResponse,
        "description": "Validation failed (`validation_error`), or the Idempotency-Key was used "
        'with another body (`idempotency_key_reused`, `loc` `["header", "Idempotency-Key"]`)',
    },
}
# What a route answering one object declares: its ETag, and 304 when it honours If-None-Match.
WITH_ETAG: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG_HEADER}}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the If-None-Match ETag is current.", "headers": ETAG_HEADER}
}

# The id of an object in a path: anything else is a 422, never a 500.
ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def created(response: Response, location: str, etag: str, *, replayed: bool) -> None:
    """The headers of a 201: where the new object is, its ETag, and whether this is a replay."""
    response.headers["Location"] = location
    response.headers["ETag"] = etag
    response.headers.update(NO_STORE)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"


async def client_gone(request: Request) -> None:
    """Return once the client has closed the connection (for a request whose body nobody reads)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def not_modified(etag: str) -> Response:
    """304 for a matching If-None-Match."""
    return Response(status_code=304, headers={"ETag": etag, **NO_STORE})


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid or expired credentials (`not_authenticated`, `invalid_token`, `token_expired`, "
    "`invalid_credentials`)",
    403: "Your role on the list does not allow this (`forbidden`), or your API token's scopes do not "
    '(`insufficient_scope`, with `WWW-Authenticate: Bearer error="insufficient_scope"`)',
    404: "Not found, or on a list you cannot see (`not_found`)",
    409: "Conflict (`user_exists`)",
    412: "If-Match does not match the current ETag (`precondition_failed`); nothing changed. "
    "The answer carries the current `ETag`.",
    410: "The sync cursor has expired (`cursor_expired`): sync again without one",
    413: "Request body too large (`payload_too_large`)",
    422: "Validation failed (`validation_error`)",
    429: "Too many attempts (`rate_limited`); see `Retry-After`",
    503: "Service unavailable",
}


def errors(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that may answer with these error statuses.

    A route whose 404 or 409 means something more (`user_not_found`, `inbox_protected`) says so
    with `s404=...`, `s409=...`.
    """
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = ValidationErrorResponse if status == 422 else ErrorResponse
        description = descriptions.get(f"s{status}", _DESCRIPTIONS[status])
        declared[status] = {"model": model, "description": description}
        if status == 429:
            declared[status]["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
        if status == 412:
            declared[status]["headers"] = ETAG_HEADER
    return declared


# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, where etagc is any visible
# character but DQUOTE (commas included), or obs-text.
_ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')
_LIST_SEPARATOR = re.compile(r"[ \t]*,[ \t]*|[ \t]+")


def _tags(header: str) -> list[str] | None:
    """The entity-tags of a `#entity-tag` list, or None for `*`.

    A quoted tag may hold commas, so the list is read tag by tag, not split on commas. Reading
    stops at anything that is not a tag: what was read before it still counts.
    """
    header = header.strip(" \t")
    if header == "*":
        return None
    tags: list[str] = []
    position = 0
    while position < len(header):
        separator = _LIST_SEPARATOR.match(header, position)
        if separator is not None:
            position = separator.end()
            continue
        tag = _ENTITY_TAG.match(header, position)
        if tag is None:
            break
        tags.append(tag.group())
        position = tag.end()
    return tags


def if_match_allows(header: str | None, current: str) -> bool:
    """If-Match: absent, `*`, or one of the listed tags equal to `current` (strong comparison)."""
    if header is None:
        return True
    tags = _tags(header)
    return tags is None or current in tags


def if_none_match_hits(header: str | None, current: str) -> bool:
    """If-None-Match: `*` or a listed tag equal to `current` (weak comparison: W/ is ignored)."""
    if header is None:
        return False
    tags = _tags(header)
    return tags is None or current in [tag.removeprefix("W/") for tag in tags]
