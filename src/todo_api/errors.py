"""Domain errors. Services raise these; `main` maps each to an HTTP status and a `code`."""

from typing import ClassVar


class DomainError(Exception):
    """Base of every error a client may cause."""

    message = "request failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class NotFound(DomainError):
    message = "not found"


class TaskNotFound(NotFound):
    message = "task not found"


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


class DatabaseUnavailable(DomainError):
    message = "the database did not answer in time"
    extra: ClassVar[dict[str, str]] = {"status": "unavailable", "database": "unavailable"}
