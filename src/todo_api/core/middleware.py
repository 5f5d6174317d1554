"""The body limit and CORS refusals; the rest of every request's edge is `observability.RequestObserver`."""

from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from todo_api.core.http import error_response


class DeclaredBodyLimit:
    """Answer a request whose Content-Length is over the limit with a 413 in the contract's shape.

    FastAPI's `max_body_size` counts streamed bytes (chunked bodies included), but when the declared
    length is already too large Starlette replaces whatever the app answers with a plain-text 413.
    This sits outside that limiter, so such requests get the JSON error body.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > self.max_body_size:
                # The connection stays open: the server reads and drops the rest of the body, so a
                # client that uploads it all before reading (httpx does) still gets this answer.
                response = error_response(413, "payload_too_large", "request body too large")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CORS(CORSMiddleware):
    """Starlette's CORS, except that a refused preflight is a 403 in the contract's error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        detail = f"CORS preflight refused: {bytes(response.body).decode()}"
        return error_response(403, "forbidden", detail)
