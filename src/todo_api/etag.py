"""Entity tags of tasks, and the RFC 9110 rules for If-Match and If-None-Match."""

import re

from todo_api.models import Task

# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, where etagc is any visible
# character but DQUOTE (commas included), or obs-text.
_ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')
_LIST_SEPARATOR = re.compile(r"[ \t]*,[ \t]*|[ \t]+")


def task_etag(task: Task) -> str:
    """A strong ETag: the task's version, plus its creation instant so a reused id never collides."""
    created = int(task.created_at.timestamp() * 1_000_000)
    return f'"{task.version}-{created:x}"'


def _tags(header: str) -> list[str] | None:
    """The entity-tags of a `#entity-tag` list, or None for `*`.

    A quoted tag may hold commas, so the list is read tag by tag, not split on commas. Reading
    stops at anything that is not a tag: what was read before it still counts.
    """
    header = header.strip(" \t")
    if header == "*":
        return None
    tags: list[str] = []
    position = 0
    while position < len(header):
        separator = _LIST_SEPARATOR.match(header, position)
        if separator is not None:
            position = separator.end()
            continue
        tag = _ENTITY_TAG.match(header, position)
        if tag is None:
            break
        tags.append(tag.group())
        position = tag.end()
    return tags


def if_match_allows(header: str | None, current: str) -> bool:
    """If-Match: absent, `*`, or one of the listed tags equal to `current` (strong comparison)."""
    if header is None:
        return True
    tags = _tags(header)
    return tags is None or current in tags


def if_none_match_hits(header: str | None, current: str) -> bool:
    """If-None-Match: `*` or a listed tag equal to `current` (weak comparison: W/ is ignored)."""
    if header is None:
        return False
    tags = _tags(header)
    return tags is None or current in [tag.removeprefix("W/") for tag in tags]
