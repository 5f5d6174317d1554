"""What the probes answer."""

from typing import Literal

from pydantic import BaseModel

from todo_api.core.http import ErrorResponse


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(Liveness):
    database: Literal["ok"] = "ok"


class Unavailable(ErrorResponse):
    status: Literal["unavailable"] = "unavailable"
    database: Literal["unavailable"] = "unavailable"
