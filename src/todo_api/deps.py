"""The dependencies handlers declare, each once, as Annotated aliases.

Every provider is `async def`, trivial as most are: FastAPI runs a plain `def` dependency in its
thread pool, a trip to another thread per dependency per request.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from todo_api.auth.authenticator import Authenticator
from todo_api.auth.rate_limit import RateLimits
from todo_api.auth.repository import ApiTokenRepository, RefreshTokenRepository, UserRepository
from todo_api.auth.schemas import Scope
from todo_api.auth.service import AuthService
from todo_api.core.clock import Clock
from todo_api.core.config import Settings
from todo_api.core.db import Database, release_connection, utcnow
from todo_api.core.errors import DomainError, InsufficientScope, InvalidToken, NotAuthenticated
from todo_api.core.http import ObjectId
from todo_api.core.observability import bind_user
from todo_api.core.security import Caller, PasswordHasher
from todo_api.idempotency.repository import IdempotencyKeyRepository
from todo_api.idempotency.service import IdempotencyService
from todo_api.lists.repository import ListRepository
from todo_api.lists.service import ListService
from todo_api.models import User
from todo_api.operations.service import HealthService
from todo_api.sync.notifier import Notifier
from todo_api.sync.repository import SyncRepository
from todo_api.sync.service import SyncService
from todo_api.tasks.repository import TaskRepository
from todo_api.tasks.service import TaskService
from todo_api.webhooks.deliverer import Deliverer
from todo_api.webhooks.repository import WebhookRepository
from todo_api.webhooks.service import WebhookService, publish

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Declares the password flow in OpenAPI (the "Authorize" button of /docs); the header is read below.
SESSION = "session"
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/login",
    auto_error=False,
    scopes={
        SESSION: "Signed in with a password (personal API tokens cannot do this)",
        **{scope.value: f"Personal API tokens: {scope.value}" for scope in Scope},
    },
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


async def get_rate_limits(request: Request) -> RateLimits:
    rate_limits: RateLimits = request.app.state.rate_limits
    return rate_limits


async def get_client_address(request: Request) -> str:
    """The client's address (behind a proxy, as uvicorn reads it from trusted forwarding headers)."""
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
PasswordHasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]
RateLimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]
ClientAddress = Annotated[str, Depends(get_client_address)]


async def get_notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(get_notifier)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed before the response is sent, rolled back on error.

    It and the providers below read the application's state themselves rather than through other
    dependencies: each dependency costs FastAPI some work on every request."""
    state = request.app.state
    database: Database = state.database
    factory = database.read_session if request.method in _READ_METHODS else database.write_session
    async with _unit_of_work(factory, state.notifier, state.deliverer, state.clock) as session:
        yield session


@asynccontextmanager
async def _unit_of_work(
    factory: async_sessionmaker[AsyncSession],
    notifier: Notifier,
    deliverer: Deliverer | None,
    clock: Clock = utcnow,
) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        try:
            yield session
        except DomainError as error:
            if not error.keeps_changes:
                await session.rollback()
                raise
            await _commit(session, notifier, deliverer, clock())
            raise
        except BaseException:
            await session.rollback()
            raise
        await _commit(session, notifier, deliverer, clock())


async def _commit(
    session: AsyncSession, notifier: Notifier, deliverer: Deliverer | None, now: datetime
) -> None:
    """Commit, with the transaction's webhook deliveries and its change records for the sync feed
    written last; then wake the users they are for, and this process's deliverer."""
    deliveries = await publish(WebhookRepository(session), now)
    users = await SyncRepository(session).publish(now)
    await session.commit()
    notifier.wake(users)
    if deliveries and deliverer is not None:
        deliverer.wake()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_list_service(session: SessionDep) -> ListService:
    return ListService(ListRepository(session), IdempotencyService(IdempotencyKeyRepository(session)))


ListServiceDep = Annotated[ListService, Depends(get_list_service)]


async def get_auth_service(
    session: SessionDep,
    hasher: PasswordHasherDep,
    rate_limits: RateLimitsDep,
    settings: SettingsDep,
    lists: ListServiceDep,
) -> AuthService:
    return AuthService(
        UserRepository(session),
        RefreshTokenRepository(session),
        ApiTokenRepository(session),
        lists,
        hasher,
        rate_limits,
        settings,
        release_connection=partial(release_connection, session),
    )


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


async def get_sync_service(
    session: SessionDep, notifier: NotifierDep, settings: SettingsDep, clock: ClockDep
) -> SyncService:
    return SyncService(
        SyncRepository(session),
        notifier,
        settings.secret_key,
        settings.sync_retention_days,
        release_connection=partial(release_connection, session),
        clock=clock,
    )


SyncServiceDep = Annotated[SyncService, Depends(get_sync_service)]


async def get_task_service(request: Request, session: SessionDep) -> TaskService:
    idempotency = IdempotencyService(IdempotencyKeyRepository(session))
    lists = ListService(ListRepository(session), idempotency)
    return TaskService(TaskRepository(session), lists, idempotency, request.app.state.clock)


async def get_health_service(database: DatabaseDep, settings: SettingsDep) -> HealthService:
    return HealthService(database, settings.health_timeout_seconds)


HealthServiceDep = Annotated[HealthService, Depends(get_health_service)]


async def get_webhook_service(session: SessionDep, settings: SettingsDep, clock: ClockDep) -> WebhookService:
    return WebhookService(
        WebhookRepository(session), allow_private_targets=settings.webhook_allow_private_targets, clock=clock
    )


WebhookServiceDep = Annotated[WebhookService, Depends(get_webhook_service)]
AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]
TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]


async def get_authenticator(request: Request, session: SessionDep) -> Authenticator:
    settings: Settings = request.app.state.settings
    return Authenticator(UserRepository(session), ApiTokenRepository(session), settings.secret_key)


AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


async def get_caller(
    request: Request,
    security_scopes: SecurityScopes,
    authenticator: AuthenticatorDep,
    _declared: Annotated[str | None, Depends(oauth2_scheme)],
) -> Caller:
    """Who the request's bearer token speaks for, if the token may do what the route needs.

    Routes declare what they need as scopes (`Security(..., scopes=[...])`); a password sign-in
    may do everything, a personal API token what its scopes say, and never what needs `session`.
    Checked here, before anything else about the request is looked at. An access token's stamp is
    checked where the account is first read: by `get_current_user`, or by a hot read's own statement.
    """
    header = request.headers.get("Authorization")
    if not header:
        raise NotAuthenticated
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise NotAuthenticated
    token = token.strip()
    if not token:
        raise InvalidToken
    caller = await authenticator.identify(token)
    needed = security_scopes.scopes
    if caller.scopes is not None:
        if SESSION in needed:
            raise InsufficientScope(None)
        if not caller.scopes.issuperset(needed):
            raise InsufficientScope(" ".join(needed))
    bind_user(caller.user_id)
    return caller


async def get_current_user(
    caller: Annotated[Caller, Security(get_caller)], authenticator: AuthenticatorDep
) -> User:
    """The caller's account, read and checked (their token not revoked)."""
    return await authenticator.user(caller)


async def get_checked_caller(
    caller: Annotated[Caller, Security(get_caller)], authenticator: AuthenticatorDep
) -> Caller:
    """The caller, their token checked against the database (one primary-key read; the account
    itself is not loaded: the task routes need only its id)."""
    await authenticator.check(caller)
    return caller


# Any signed-in user, with a password or with an API token of any scopes.
CurrentUser = Annotated[User, Security(get_current_user)]
# Signed in with a password: API tokens may not manage tokens, change the password or delete the account.
SessionUser = Annotated[User, Security(get_current_user, scopes=[SESSION])]
TasksReader = Annotated[Caller, Security(get_checked_caller, scopes=[Scope.tasks_read])]
TasksWriter = Annotated[Caller, Security(get_checked_caller, scopes=[Scope.tasks_write])]
ListsReader = Annotated[User, Security(get_current_user, scopes=[Scope.lists_read])]
ListsWriter = Annotated[User, Security(get_current_user, scopes=[Scope.lists_write])]
WebhooksUser = Annotated[User, Security(get_current_user, scopes=[Scope.webhooks])]
SyncCaller = Annotated[Caller, Security(get_caller, scopes=[Scope.sync, Scope.tasks_read, Scope.lists_read])]
# For the hot reads, whose own statement checks the token: the caller, not yet their account.
TasksReadCaller = Annotated[Caller, Security(get_caller, scopes=[Scope.tasks_read])]


async def refuse_inbox(list_id: ObjectId, user: ListsWriter, lists: ListServiceDep) -> None:
    """409 inbox_protected before anything else about a request to delete, share or transfer an inbox."""
    await lists.refuse_inbox(user, list_id)
