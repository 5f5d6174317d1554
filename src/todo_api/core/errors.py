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


class PreconditionFailed(DomainError):
    message = "the task has changed since you read it (If-Match does not match its ETag)"


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
