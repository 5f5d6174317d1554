"""Probes and metrics: what Kubernetes and Prometheus call."""

from fastapi import APIRouter, Response

from todo_api.core.observability import metrics_exposition
from todo_api.deps import HealthServiceDep
from todo_api.operations.schemas import Liveness, Readiness, Unavailable

router = APIRouter(prefix="/health", tags=["health"])


@router.get(
    "",
    response_model=Readiness,
    name="check_readiness",
    responses={503: {"model": Unavailable, "description": "The database did not answer in time."}},
)
async def check_readiness(health: HealthServiceDep) -> Readiness:
    """Readiness: a real round trip to the database within the time budget."""
    await health.check_database()
    return Readiness()


@router.get("/live", response_model=Liveness, name="check_liveness")
async def check_liveness() -> Liveness:
    """Liveness: the process answers; the database is not touched."""
    return Liveness()


metrics_router = APIRouter(tags=["operations"])


@metrics_router.get(
    "/metrics",
    response_class=Response,
    name="read_metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics."}},
)
async def read_metrics() -> Response:
    """Prometheus text exposition: request counts, latencies, requests in flight, process figures."""
    body, content_type = metrics_exposition()
    return Response(body, media_type=content_type)
