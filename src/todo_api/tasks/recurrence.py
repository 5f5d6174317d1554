"""Recurring tasks: RFC 5545 RRULEs expanded by python-dateutil in the task's IANA time zone.

The rule is expanded in local wall-clock time from the series' first occurrence, so "every day at
09:00 Europe/Berlin" stays at 09:00 across daylight-saving changes; results are stored in UTC.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# A moment to parse rules against when checking them: only whether they parse matters.
_PROBE = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class InvalidRule(ValueError):
    """A recurrence or time zone the service cannot use; its message says why."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; InvalidRule if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRule(f"{name!r} is not an IANA time zone name, such as Europe/Berlin") from None


def normalise(text: str) -> str:
    """The rule as stored: without an `RRULE:` prefix or surrounding blanks, upper-cased keys.

    InvalidRule if it does not parse, or its FREQ is not DAILY, WEEKLY, MONTHLY or YEARLY.
    """
    value = text.strip()
    if value.upper().startswith("RRULE:"):
        value = value[len("RRULE:") :].strip()
    if not value or "\n" in value or "DTSTART" in value.upper():
        raise InvalidRule("must be one RRULE value, such as FREQ=WEEKLY;BYDAY=MO,WE")
    parts = dict(part.partition("=")[::2] for part in value.upper().split(";") if part)
    if parts.get("FREQ") not in FREQUENCIES:
        raise InvalidRule("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    _rule(value, _PROBE)
    return value


def _rule(text: str, start: datetime) -> rrule:
    try:
        parsed = rrulestr(text, dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise InvalidRule(f"not a valid RRULE: {error}") from None
    if not isinstance(parsed, rrule):
        raise InvalidRule("must be one RRULE value, such as FREQ=WEEKLY;BYDAY=MO,WE")
    return parsed


def next_occurrence(text: str, time_zone: str, series_start: datetime, after: datetime) -> datetime | None:
    """The series' first occurrence strictly after `after`, in UTC; None when the series has ended.

    `series_start` is the first occurrence (it counts for COUNT); the rule runs in `time_zone`'s
    wall-clock time from there.
    """
    local = zone(time_zone)
    rule = _rule(text, series_start.astimezone(local))
    found = rule.after(after.astimezone(local), inc=False)
    return None if found is None else found.astimezone(UTC)


def check(text: str, time_zone: str, series_start: datetime) -> None:
    """InvalidRule if the rule cannot run from `series_start` in `time_zone` (an UNTIL that is not
    in UTC, say)."""
    local = zone(time_zone)
    rule = _rule(text, series_start.astimezone(local))
    try:
        rule.after(series_start.astimezone(local), inc=True)
    except (ValueError, TypeError) as error:
        raise InvalidRule(f"not a valid RRULE: {error}") from None
