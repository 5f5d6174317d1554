from fastapi import APIRouter, Response

from todo_api.observability import metrics_exposition

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    name="read_metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics."}},
)
async def read_metrics() -> Response:
    """Prometheus text exposition: request counts, latencies, requests in flight, process figures."""
    body, content_type = metrics_exposition()
    return Response(body, media_type=content_type)
