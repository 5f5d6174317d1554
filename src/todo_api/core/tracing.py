"""OpenTelemetry traces, on when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.

FastAPI makes the span of each request itself (continuing the trace of an incoming `traceparent`) once
a tracer provider is configured. `configure_tracing()` configures one that exports over OTLP/HTTP, adds
a span for each database statement (a SQLAlchemy event hook: the contrib SQLAlchemy instrumentation
refuses SQLAlchemy 2.1), and leaves out the probes and /metrics. The request's span is named with the
request id and the signed-in user's id.

Without the variable nothing is configured and the SDK is never imported: FastAPI sees no provider and
makes no spans, and the hooks here are not registered.
"""

import os
from contextvars import ContextVar
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Span, Tracer

SERVICE_NAME = "todo-api"
REQUEST_ID_ATTRIBUTE = "todo_api.request_id"
USER_ID_ATTRIBUTE = "user.id"
# Not traced: probes every few seconds and scrapes would bury the requests worth looking at.
UNTRACED_PATHS = frozenset({"/health", "/health/live", "/metrics"})

_tracer: "Tracer | None" = None
_request_span: ContextVar["Span | None"] = ContextVar("todo_api_request_span", default=None)


def tracing_requested() -> bool:
    """Whether the environment asks for traces (an OTLP endpoint is set, and the SDK is not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def tracing_enabled() -> bool:
    return _tracer is not None


def configure_tracing() -> bool:
    """Set the global tracer provider up, once per process, if the environment asks; whether it is on."""
    global _tracer  # noqa: PLW0603 - one provider per process, as OpenTelemetry's global is
    if _tracer is not None or not tracing_requested():
        return _tracer is not None
    # Imported only now: without an endpoint the SDK, the exporter and protobuf are never loaded.
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased  # noqa: PLC0415

    try:
        service_version = version("todo-api")
    except PackageNotFoundError:  # pragma: no cover - always installed as a package
        service_version = "unknown"
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME),
            "service.version": service_version,
        }
    )
    provider = TracerProvider(resource=resource, sampler=_skip_probes(ParentBased(ALWAYS_ON)))
    # The exporter reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT, ... itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("todo_api", service_version)
    _trace_statements()
    return True


def _skip_probes(sampler: "Sampler") -> "Sampler":
    """`sampler`, except that requests for the probes and /metrics are never traced."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult  # noqa: PLC0415
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    class SkipProbes(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind is SpanKind.SERVER and attributes and attributes.get("url.path") in UNTRACED_PATHS:
                return SamplingResult(Decision.DROP)
            return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"SkipProbes{{{sampler.get_description()}}}"

    return SkipProbes()


def _trace_statements() -> None:
    """A client span around every statement any engine runs, child of whatever span is current.

    The spans wait on a stack in the connection's `info` (SQLAlchemy's own recipe for timing
    statements): one connection runs one statement at a time.
    """
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: PLC0415
    from sqlalchemy import event  # noqa: PLC0415
    from sqlalchemy.engine import Engine  # noqa: PLC0415

    key = "todo_api.statement_spans"

    def before(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        spans = connection.info.setdefault(key, [])
        if _tracer is None or not trace.get_current_span().is_recording():
            # Outside a traced request (start-up, migrations, probes): no trace of its own.
            spans.append(None)
            return
        operation = statement.split(None, 1)[0].upper() if statement.strip() else "SQL"
        system = connection.dialect.name
        attributes: dict[str, Any] = {
            "db.system.name": system,
            # The statement's text only: values are bound parameters, never part of it.
            "db.query.text": statement,
            "db.operation.name": operation,
        }
        if connection.engine.url.database:
            attributes["db.namespace"] = connection.engine.url.database
        spans.append(_tracer.start_span(f"{operation} {system}", kind=SpanKind.CLIENT, attributes=attributes))

    def after(connection: Any, *_args: Any) -> None:
        spans = connection.info.get(key)
        span = spans.pop() if spans else None
        if span is not None:
            span.end()

    def failed(exception_context: Any) -> None:
        connection = exception_context.connection
        spans = connection.info.get(key) if connection is not None else None
        span = spans.pop() if spans else None
        if span is not None:
            error = exception_context.original_exception
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
            span.end()

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    event.listen(Engine, "handle_error", failed)


def start_request(request_id: str | None) -> None:
    """Remember the request's span (FastAPI's, current when the middleware runs) and name its request id."""
    if _tracer is None:
        return
    from opentelemetry import trace  # noqa: PLC0415

    span = trace.get_current_span()
    if not span.is_recording():
        _request_span.set(None)
        return
    _request_span.set(span)
    if request_id is not None:
        span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)


def name_user(user_id: int) -> None:
    """Name the signed-in user on the request's span (a dependency's own span may be current now)."""
    span = _request_span.get()
    if span is not None:
        span.set_attribute(USER_ID_ATTRIBUTE, str(user_id))
