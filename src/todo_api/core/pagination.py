"""The page shape every listing answers with: items plus skip, limit and the totals to page on."""

import math
from typing import Any

from pydantic import BaseModel, Field

MAX_SKIP = 2**31 - 1


class PageInfo(BaseModel):
    total: int = Field(description="Every item matching the filters, on all pages.")
    skip: int
    limit: int
    page: int = Field(description="skip // limit + 1")
    page_size: int = Field(description="The same as limit.")
    pages: int = Field(description="ceil(total / limit)")


def page_info(total: int, skip: int, limit: int) -> dict[str, Any]:
    """The page fields of a listing of `total` items read from `skip`, `limit` at a time."""
    return {
        "total": total,
        "skip": skip,
        "limit": limit,
        "page": skip // limit + 1,
        "page_size": limit,
        "pages": math.ceil(total / limit),
    }
