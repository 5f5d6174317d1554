"""Field types shared by request schemas and the table models' base classes."""

import re
from datetime import datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from todo_api.core.db import as_utc

_ISO_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_8601_only(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as a Unix timestamp (0, 1.5, "1700000000")."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE_START.match(value.strip()):
        return value.strip()
    raise ValueError("must be an ISO 8601 date-time, such as 2026-11-25T10:00:00Z")


def _email(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        # test_environment: the reserved .test domain is a fine address for a todo list.
        checked = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValueError(f"value is not a valid email address: {error}") from None
    return checked.normalized.lower()


# An instant in UTC: ISO 8601 text with or without an offset (none means UTC).
UTCInstant = Annotated[datetime, BeforeValidator(_iso_8601_only), AfterValidator(as_utc)]
# An email address, normalised and lower-cased.
Email = Annotated[str, BeforeValidator(_email), WithJsonSchema({"type": "string", "format": "email"})]

# The white space of JSON Schema's regular expressions (ECMA-262 `\s`): what a client's validator
# takes for blank. Names and titles are trimmed of exactly these, and declare the pattern `\S` (at
# least one other character), so the schema and the server agree on what is blank.
WHITE_SPACE = (
    "\t\n\v\f\r \xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# One character that is not white space, spelled out: `\S` means something else to pydantic's
# regular expressions (Rust's, for which U+0085 is white space) than to JSON Schema's (ECMA-262's).
NOT_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


def trim(value: Any) -> Any:
    """A string without its leading and trailing white space (see WHITE_SPACE); anything else as is."""
    return value.strip(WHITE_SPACE) if isinstance(value, str) else value
