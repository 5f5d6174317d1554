"""Progress lines on stderr, each with the seconds since the run began; the table goes to stdout."""

import sys
import time

STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"bench [{time.monotonic() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)
