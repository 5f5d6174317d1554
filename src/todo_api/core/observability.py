"""structlog set-up, request ids, the access log, Prometheus metrics, and traces when asked for."""

import logging
import os
import re
import sys
import time
import uuid
from typing import Any

import structlog
from asgi_correlation_id import correlation_id
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.types import EventDict, Processor

from todo_api.core import tracing
from todo_api.core.config import Settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def is_sane_request_id(value: str) -> bool:
    """A client's X-Request-ID is echoed only when it is a short, plain token."""
    return bool(_REQUEST_ID.match(value))


def _add_request_id(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    request_id = correlation_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library (uvicorn included) through one renderer; start
    tracing if the environment asks for it (core/tracing.py)."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if settings.effective_log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # Plain tracebacks: rich's would print local variables, and a local may hold a password.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Below the level, a call returns at once: no processor runs (the access line is per request).
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level]
        ),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # RequestObserver writes the access line, with the route template and the user.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request it sends at INFO; the service's own lines are what matter.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # SQLAlchemy's engine logger repeats every statement at INFO; keep it to warnings.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    # Traces start with the logs, once per process and before the app serves (every worker
    # builds its app, and so comes here); only when OTEL_EXPORTER_OTLP_ENDPOINT asks for them.
    tracing.configure_tracing()


# Metrics. With several workers, PROMETHEUS_MULTIPROC_DIR is set before they start (see
# __main__), prometheus-client keeps each process's values in files there, and /metrics adds
# them up; with one worker they live in this process's default registry.
REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
# 0.3 is the latency SLO's threshold (k8s/monitoring): the share of requests under it is a bucket's count.
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being answered.", multiprocess_mode="livesum")
UNMATCHED_ROUTE = "<unmatched>"

# The database connection pool (core/db.py). With several workers each has a pool of its own, and
# livesum adds up the live ones: the figures are per pod.
DB_POOL_IN_USE = Gauge(
    "todo_api_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "todo_api_db_pool_connections_max",
    "Database connections the pool may hold at once (DB_POOL_SIZE + DB_MAX_OVERFLOW).",
    multiprocess_mode="livesum",
)
DB_POOL_WAITERS = Gauge(
    "todo_api_db_pool_waiters",
    "Callers waiting for a database connection (from the pool, or being opened).",
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "todo_api_db_pool_wait_seconds",
    "Time taken to get a database connection from the pool, opening one included.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# Attempts refused with 429 by a limit of auth/rate_limit.py, by the budget that was spent:
# login-address, login-account, password-change or register.
RATE_LIMIT_REFUSALS = Counter(
    "todo_api_rate_limit_refusals_total",
    "Attempts refused (429) by a login, password-change or registration limit.",
    ["budget"],
)

# Password hashes (core/security.py) waiting for one of PASSWORD_HASH_CONCURRENCY hashing threads.
PASSWORD_HASH_QUEUE = Gauge(
    "todo_api_password_hash_queue_depth",
    "Password hashes or verifications waiting for a free hashing thread.",
    multiprocess_mode="livesum",
)


def metrics_exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric, from all workers when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def bind_user(user_id: int) -> None:
    """Name the signed-in user in every later log line of this request, the access line included,
    and on the request's trace span when tracing is on."""
    structlog.contextvars.bind_contextvars(user_id=user_id)
    tracing.name_user(user_id)


class RequestObserver:
    """The request id, the access log line and the metrics of every HTTP request, and the security
    headers and request id on every answer; a trailing slash is forgiven (`/tasks/` is `/tasks`).

    One pure-ASGI layer, the outermost, for what used to be four: each layer is one more coroutine
    and `send` wrapper on every request. Outermost, it also sees the answers of the layers inside it
    (a 500, a refused CORS preflight, a body declared too large). The route template
    (`/tasks/{task_id}`, never `/tasks/17`) is read off the scope once the router has put it there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("todo_api.access")
        # The metric children of each (method, route, status), looked up once.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = _without_trailing_slash(scope)
        request_id = _request_id(scope["headers"])
        correlation_id.set(request_id)
        structlog.contextvars.clear_contextvars()
        started = time.perf_counter()
        status = 500
        answer_headers = [*SECURITY_HEADERS, (b"x-request-id", request_id.encode())]

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *answer_headers]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            method = scope["method"]
            key = (method, route, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (REQUESTS.labels(*key), LATENCY.labels(*key))
            children[0].inc()
            children[1].observe(elapsed)
            self.log.info(
                "request", method=method, route=route, status=status, duration_ms=round(elapsed * 1000, 2)
            )


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is a short, plain token, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if is_sane_request_id(text):
                return text
            break
    return uuid.uuid4().hex


def _without_trailing_slash(scope: Scope) -> Scope:
    path: str = scope["path"]
    scope = dict(scope, path=path.rstrip("/") or "/")
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path:
        scope["raw_path"] = raw_path.rstrip(b"/") or b"/"
    return scope


class TraceNaming:
    """Names the request's trace span (FastAPI's, current in here) with the request id; added only
    when tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            tracing.start_request(correlation_id.get())
        await self.app(scope, receive, send)
