from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from todo_api.deps import HealthServiceDep
from todo_api.schemas.error import ErrorResponse

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(Liveness):
    database: Literal["ok"] = "ok"


class Unavailable(ErrorResponse):
    status: Literal["unavailable"] = "unavailable"
    database: Literal["unavailable"] = "unavailable"


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
