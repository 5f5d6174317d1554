from typing import Any

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    detail: str = Field(examples=["task not found"])
    code: str = Field(examples=["not_found"])
    request_id: str | None = None


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    ctx: dict[str, Any] | None = None


class ValidationErrorResponse(BaseModel):
    """A 422: `detail` lists each field error, as FastAPI does."""

    detail: list[ValidationErrorItem]
    code: str = Field(examples=["validation_error"])
    request_id: str | None = None
