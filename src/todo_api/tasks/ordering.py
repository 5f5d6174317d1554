"""Positions among siblings: fractional-index keys, so that a move rewrites only the moved task.

A key is a short base-62 string (`a0`, `a1`, `a0V`, ...); keys sort in byte order, and there is
always room for another key between two neighbours, so siblings are never renumbered.

Two requests that place a task into the same gap at the same moment (possible on PostgreSQL, where
writers run side by side) would compute the same key. Each key therefore gets a few random
characters of jitter, which keep it inside the gap: equal keys are then a 1-in-200,000 chance, and
the unique index on (list, parent, position) refuses even that rather than let two siblings sort
by accident.
"""

import secrets

from fractional_indexing import BASE_62_DIGITS, generate_key_between, generate_n_keys_between

JITTER_LENGTH = 3


def _suffix() -> str:
    # A key must not end in "0" (it would equal a shorter one), hence the last digit's range.
    digits: str = BASE_62_DIGITS
    return "".join(secrets.choice(digits) for _ in range(JITTER_LENGTH - 1)) + secrets.choice(digits[1:])


def _jittered(key: str, after: str | None) -> str:
    # Appending keeps a key above `key`; it stays below `after` unless `key` is a prefix of `after`,
    # in which case a key between the two is taken first (it is not a prefix of `after` then).
    for _ in range(8):
        candidate = key + _suffix()
        if after is None or candidate < after:
            return candidate
        between_them: str = generate_key_between(key, after)
        key = between_them
    return key


def between(before: str | None, after: str | None) -> str:
    """A key after `before` and before `after` (None: the start or the end of the siblings)."""
    key: str = generate_key_between(before, after)
    return _jittered(key, after)


def first_keys(count: int) -> list[str]:
    """`count` ascending keys for siblings that have none yet (existing rows, in a migration)."""
    keys: list[str] = generate_n_keys_between(None, None, count)
    return keys
