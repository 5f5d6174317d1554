"""What one run does: durations, sizes and switches, with the defaults and the `--quick` preset."""

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "latest.json"


@dataclass(frozen=True)
class BenchConfig:
    # Seconds of each wrk round, SQLite and the ceiling, and on PostgreSQL: chosen so that a full run
    # with PostgreSQL stays under 6 minutes on the 2-core machine.
    duration: int = 8
    pg_duration: int = 4
    rounds: int = 3
    connections: int = 32
    threads: int = 2
    users: int = 20
    tasks_per_user: int = 200
    seed_concurrency: int = 8  # more only adds SQLite lock waits
    liveness_seconds: float = 10.0
    liveness_hz: float = 20.0
    login_clients: int = 16
    writers: int = 64
    tasks_per_writer: int = 10
    small_tasks: int = 100  # the "100 tasks" user of the list-scaling probe
    large_tasks: int = 20_000  # 0 skips that half of the probe
    scaling_requests: int = 200
    start_tries: int = 3
    longpoll_clients: int = 500  # held open on GET /sync?wait=... while the list scenario runs again
    longpoll_wait: int = 30
    postgres_url: str | None = None
    json_path: Path = DEFAULT_JSON
    wrk: str = "wrk"
    quick: bool = False


QUICK = {
    "duration": 2,
    "pg_duration": 2,
    "rounds": 1,
    "users": 2,
    "tasks_per_user": 20,
    "liveness_seconds": 2.0,
    "tasks_per_writer": 2,
    "small_tasks": 50,
    "large_tasks": 2_000,
    "scaling_requests": 30,
    "start_tries": 1,
    "longpoll_clients": 50,
}
