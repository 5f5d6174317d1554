"""Domain errors. Services raise these; `main` maps each to an HTTP status and a `code`."""

from typing import ClassVar


class DomainError(Exception):
    """Base of every error a client may cause."""

    message = "request failed"
    # Where a 422 points: such an error's `detail` is a one-item list of field errors, as every 422 is.
    loc: ClassVar[tuple[str, ...] | None] = None
    # Most errors undo the request's writes; a few must keep them (revoking a stolen token family).
    keeps_changes: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class NotFound(DomainError):
    message = "not found"


class TaskNotFound(NotFound):
    message = "task not found"


class ListNotFound(NotFound):
    message = "list not found"


class WebhookNotFound(NotFound):
    message = "webhook not found"


class DeliveryNotFound(NotFound):
    message = "delivery not found"


class LimitReached(DomainError):
    message = "limit reached"


class UserNotFound(DomainError):
    message = "no user has this username or e-mail"


class Forbidden(DomainError):
    """The caller can see the object, but their role on its list does not allow this."""

    message = "your role on this list does not allow this"


class InsufficientScope(DomainError):
    """An API token whose scopes do not cover the route; `scope` is what the route needs (None for
    routes no API token may use)."""

    message = "this token's scopes do not allow this request"

    def __init__(self, scope: str | None) -> None:
        super().__init__(
            f"this token's scopes do not allow this request (it needs {scope})"
            if scope
            else "an API token cannot be used here: sign in with a password"
        )
        self.scope = scope


class InboxProtected(DomainError):
    message = "an inbox cannot be deleted, shared or transferred"


class OwnerProtected(DomainError):
    message = "the owner of a list cannot be demoted, removed or leave; transfer the list first"


class AlreadyMember(DomainError):
    message = "this user is already a member of the list"


class InvalidField(DomainError):
    """A value that is well-formed but not acceptable here: a 422 pointing at the field."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc  # type: ignore[misc]


class CursorExpired(DomainError):
    message = "this sync cursor is older than the changes kept: sync again without a cursor"


class PreconditionFailed(DomainError):
    message = "the object has changed since you read it (If-Match does not match its ETag)"

    def __init__(self, etag: str | None = None) -> None:
        super().__init__()
        # The object's current ETag, sent with the 412 so the client can read again and retry.
        self.etag = etag


class IdempotencyKeyReused(DomainError):
    message = "this Idempotency-Key was already used with a different request body"
    loc = ("header", "Idempotency-Key")


class UserExists(DomainError):
    message = "a user with this username or email already exists"


class InvalidCredentials(DomainError):
    message = "incorrect username or password"


class NotAuthenticated(DomainError):
    message = "not authenticated"


class InvalidToken(DomainError):
    message = "invalid token"


class TokenExpired(InvalidToken):
    message = "token expired"


class RefreshTokenReused(InvalidToken):
    """A rotated refresh token came back: its family is revoked, and that revocation is kept."""

    keeps_changes = True


class RateLimited(DomainError):
    message = "too many attempts; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


class DatabaseUnavailable(DomainError):
    message = "the database did not answer in time"
    extra: ClassVar[dict[str, str]] = {"status": "unavailable", "database": "unavailable"}
