"""The application factory: lifespan, middleware, routers and the one error mapping."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_swagger import patch_fastapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp

from todo_api import __version__
from todo_api.auth import router as auth
from todo_api.auth.rate_limit import RateLimits, create_storage
from todo_api.core.clock import Clock, system_clock
from todo_api.core.config import ConfigurationError, Settings, load_settings
from todo_api.core.db import Database, create_engine, upgrade_database
from todo_api.core.errors import (
    AlreadyMember,
    CursorExpired,
    DatabaseUnavailable,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    InboxProtected,
    InsufficientScope,
    InvalidCredentials,
    InvalidField,
    InvalidToken,
    LimitReached,
    NotAuthenticated,
    NotFound,
    OwnerProtected,
    PreconditionFailed,
    RateLimited,
    TokenExpired,
    UserExists,
    UserNotFound,
)
from todo_api.core.http import error_response
from todo_api.core.middleware import CORS, DeclaredBodyLimit
from todo_api.core.observability import RequestObserver, TraceNaming, configure_logging
from todo_api.core.security import PasswordHasher
from todo_api.core.tracing import tracing_enabled
from todo_api.lists import router as lists
from todo_api.operations import router as operations
from todo_api.sync import router as sync
from todo_api.sync.notifier import Notifier
from todo_api.tasks import router as tasks
from todo_api.webhooks import router as webhooks
from todo_api.webhooks.deliverer import Deliverer

log = structlog.get_logger()

# Each domain error's HTTP status and machine-readable code. Looked up along the error's MRO.
DOMAIN_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    UserNotFound: (404, "user_not_found"),
    Forbidden: (403, "forbidden"),
    InsufficientScope: (403, "insufficient_scope"),
    UserExists: (409, "user_exists"),
    AlreadyMember: (409, "already_member"),
    InboxProtected: (409, "inbox_protected"),
    OwnerProtected: (409, "owner_protected"),
    LimitReached: (409, "limit_reached"),
    InvalidField: (422, "validation_error"),
    InvalidCredentials: (401, "invalid_credentials"),
    NotAuthenticated: (401, "not_authenticated"),
    TokenExpired: (401, "token_expired"),
    InvalidToken: (401, "invalid_token"),
    RateLimited: (429, "rate_limited"),
    PreconditionFailed: (412, "precondition_failed"),
    CursorExpired: (410, "cursor_expired"),
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    DatabaseUnavailable: (503, "service_unavailable"),
}
HTTP_CODES = {
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


async def handle_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status, code = next(DOMAIN_ERRORS[kind] for kind in type(exc).__mro__ if kind in DOMAIN_ERRORS)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, InsufficientScope):
        scope = f', scope="{exc.scope}"' if exc.scope else ""
        headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope"{scope}'
    if isinstance(exc, PreconditionFailed) and exc.etag is not None:
        headers["ETag"] = exc.etag
    detail: Any = exc.message
    if exc.loc is not None:
        kind = "value_error" if isinstance(exc, InvalidField) else code
        detail = [{"type": kind, "loc": list(exc.loc), "msg": exc.message}]
    return error_response(status, code, detail, headers, getattr(exc, "extra", None))


async def handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # `input` is left out: it would echo what the client sent, passwords included.
    errors = [{key: value for key, value in error.items() if key != "input"} for error in exc.errors()]
    for error in errors:
        if "ctx" in error:
            error["ctx"] = {key: str(value) for key, value in error["ctx"].items()}
    return error_response(422, "validation_error", errors)


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path (Starlette names only the first route's)."""
    allowed = [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's 400 is a body it could not decode (not UTF-8, say): to a client that is
        # a malformed body like any other, so it gets the same 422 as malformed JSON.
        error = {"type": "json_invalid", "loc": ["body"], "msg": str(exc.detail)}
        return error_response(422, "validation_error", [error])
    code = HTTP_CODES.get(exc.status_code, "error")
    detail = "request body too large" if exc.status_code == 413 else exc.detail
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return error_response(exc.status_code, code, detail, headers or None)


async def handle_crash(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


class TodoAPI(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # These sit outside Starlette's ServerErrorMiddleware and body limiter, so that their answers
        # (a 500, a body declared too large, a refused preflight) carry the request id, CORS and
        # security headers like every other answer, and a browser can read them.
        stack = super().build_middleware_stack()
        if self.max_body_size is not None:
            stack = DeclaredBodyLimit(stack, self.max_body_size)
        settings: Settings = self.state.settings
        stack = CORS(
            stack,
            allow_origins=settings.cors_origins,
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Location", "ETag", "Retry-After", "Idempotent-Replayed"],
        )
        return RequestObserver(stack)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.uses_dev_secret:
        log.warning("SECRET_KEY is not set: using the insecure development key; never do this in production")
    if settings.auto_migrate:
        await anyio.to_thread.run_sync(upgrade_database, settings.database_url)
    app.state.database = Database(create_engine(settings))
    app.state.notifier = Notifier()
    await app.state.notifier.start(settings.database_url)
    app.state.deliverer = None
    if settings.webhook_delivery:
        # The app's clock as it is at each attempt (tests swap `app.state.clock`).
        app.state.deliverer = Deliverer(app.state.database, settings, lambda: app.state.clock())  # noqa: PLW0108
        await app.state.deliverer.start()
    app.state.password_hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        max_concurrency=settings.password_hash_concurrency,
    )
    app.state.rate_limits = RateLimits(
        create_storage(settings.redis_url, settings.rate_limit_key_prefix),
        login=settings.login_rate_limit,
        register=settings.register_rate_limit,
    )
    log.info(
        "started", environment=settings.environment.value, database=app.state.database.engine.url.drivername
    )
    try:
        yield
    finally:
        if app.state.deliverer is not None:
            await app.state.deliverer.stop()
        await app.state.notifier.stop()
        await app.state.database.dispose()
        log.info("stopped")


def operation_id(route: APIRoute) -> str:
    """OpenAPI operation ids are the route names: `list_tasks`, not `list_tasks_tasks_get`."""
    return route.name


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings)
    app = TodoAPI(
        title="todo-api",
        version=__version__,
        description="Register, sign in, and manage tasks in lists you own or that others share with you.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        max_body_size=settings.max_body_bytes,
        redirect_slashes=False,
        # /docs is served below with Swagger UI's assets from a package, so it needs no internet.
        docs_url=None,
        swagger_ui_oauth2_redirect_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # What time it is for the services; tests set their own.
    app.state.clock = clock

    if tracing_enabled():
        app.add_middleware(TraceNaming)

    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(Exception, handle_crash)

    app.include_router(auth.router)
    app.include_router(lists.router)
    app.include_router(tasks.router)
    app.include_router(tasks.labels_router)
    app.include_router(tasks.trash_router)
    app.include_router(sync.router)
    app.include_router(webhooks.router)
    app.include_router(operations.router)
    app.include_router(operations.metrics_router)
    patch_fastapi(
        app,
        docs_url="/docs",
        redirect_from_root_to_docs=False,
        swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True, "filter": True},
    )
    return app


def _create_default_app() -> FastAPI:
    try:
        return create_app()
    except ConfigurationError as error:
        raise SystemExit(f"todo-api: {error}") from None


app = _create_default_app()
