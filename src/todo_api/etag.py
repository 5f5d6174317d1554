"""Entity tags of tasks, and the RFC 9110 rules for If-Match and If-None-Match."""

from todo_api.models import Task


def task_etag(task: Task) -> str:
    """A strong ETag: the task's version, plus its creation instant so a reused id never collides."""
    created = int(task.created_at.timestamp() * 1_000_000)
    return f'"{task.version}-{created:x}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def if_match_allows(header: str | None, current: str) -> bool:
    """If-Match: absent, `*`, or one of the listed tags equal to `current` (strong comparison)."""
    if header is None:
        return True
    tags = _tags(header)
    return "*" in tags or current in tags


def if_none_match_hits(header: str | None, current: str) -> bool:
    """If-None-Match: `*` or a listed tag equal to `current` (weak comparison: W/ is ignored)."""
    if header is None:
        return False
    tags = [tag.removeprefix("W/") for tag in _tags(header)]
    return "*" in tags or current in tags
