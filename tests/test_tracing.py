"""Traces: off, and the SDK never loaded, without an OTLP endpoint; with one, a real `todo-api` process
sends a span for each request and each database statement to an OTLP/HTTP receiver run by this test,
continuing the caller's `traceparent` and naming the request id and the user."""

import asyncio
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from tests.live import LOCAL_ONLY, live_server

PASSWORD = "correct-horse-battery"
DEADLINE_SECONDS = 30.0


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(items: "list[KeyValue] | Any") -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


class Receiver:
    """An OTLP/HTTP trace receiver (POST /v1/traces, protobuf) that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(
                        ReceivedSpan(
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=_attributes(span.attributes),
                            resource=resource,
                        )
                        for span in scope_spans.spans
                    )

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def all(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)


def test_without_an_endpoint_tracing_is_off_and_the_sdk_is_never_loaded(tmp_path: Path) -> None:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "FASTAPI_OTEL"))
    }
    environment.update(LOCAL_ONLY)
    environment.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'off.db'}",
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "ERROR",
        }
    )
    probe = (
        "import sys\n"
        "from opentelemetry import trace\n"
        "from todo_api.core import tracing\n"
        "from todo_api.main import create_app\n"
        "create_app()\n"
        "sdk = ('opentelemetry.sdk', 'opentelemetry.exporter')\n"
        "loaded = [name for name in sys.modules if name.startswith(sdk)]\n"
        "print(type(trace.get_tracer_provider()).__name__, tracing.tracing_enabled(), sorted(loaded))\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "ProxyTracerProvider False []"


def descends_from(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    by_id = {candidate.span_id: candidate for candidate in spans}
    current: ReceivedSpan | None = span
    while current is not None:
        if current.parent_span_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_span_id)
    return False


async def test_requests_and_their_statements_arrive_as_spans_continuing_the_callers_trace(
    tmp_path: Path,
) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    title = "a title that must never appear in a span"
    with (
        otlp_receiver() as receiver,
        live_server(
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_SERVICE_NAME="todo-api-under-test",
            OTEL_BSP_SCHEDULE_DELAY="50",
        ) as base_url,
    ):
        async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client:
            body = {"username": "traced", "email": "traced@example.com", "password": PASSWORD}
            registered = await client.post("/auth/register", json=body)
            assert registered.status_code == 201, registered.text
            user_id = registered.json()["id"]
            login = await client.post("/auth/login", data={"username": "traced", "password": PASSWORD})
            token = login.json()["access_token"]
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
            created = await client.post(
                "/tasks",
                json={"title": title},
                headers={
                    "Authorization": f"Bearer {token}",
                    "traceparent": f"00-{trace_id}-{parent_id}-01",
                    "X-Request-ID": "trace-me-0001",
                },
            )
            assert created.status_code == 201, created.text

        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            spans = receiver.in_trace(trace_id)
            servers = [span for span in spans if span.kind == SpanProto.SPAN_KIND_SERVER]
            inserts = [
                span for span in spans if str(span.attributes.get("db.query.text", "")).startswith("INSERT")
            ]
            if servers and inserts:
                break
            await asyncio.sleep(0.1)
        everything = receiver.all()

    assert servers, f"no server span in trace {trace_id}; received: {[span.name for span in everything]}"
    (request,) = servers
    assert request.parent_span_id == parent_id  # the caller's traceparent is continued
    assert request.name == "POST /tasks"
    assert request.attributes["http.route"] == "/tasks"
    assert request.attributes["http.response.status_code"] == 201
    assert request.attributes["todo_api.request_id"] == "trace-me-0001"
    assert request.attributes["user.id"] == str(user_id)
    assert request.resource["service.name"] == "todo-api-under-test"

    statements = [span for span in spans if span.kind == SpanProto.SPAN_KIND_CLIENT]
    assert inserts, f"no INSERT statement span in the trace: {[span.name for span in statements]}"
    assert any("INSERT INTO tasks" in span.attributes["db.query.text"] for span in inserts)
    for span in statements:
        assert span.attributes["db.system.name"] == "sqlite"
        assert span.attributes["db.operation.name"] == span.name.split()[0]
        assert descends_from(span, request, spans), f"{span.name} is not inside the request's span"
        assert title not in span.attributes["db.query.text"], "a value leaked into a span"

    # Probes and scrapes are never traced; logins and registrations are, each in a trace of its own.
    paths = {
        span.attributes.get("url.path") for span in everything if span.kind == SpanProto.SPAN_KIND_SERVER
    }
    assert "/health" not in paths
    assert "/metrics" not in paths
    assert {"/auth/register", "/auth/login", "/tasks"} <= paths
