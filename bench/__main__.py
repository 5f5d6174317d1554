"""`python -m bench`: benchmark todo-api against a bare ASGI ceiling (see --help)."""

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bench.config import DEFAULT_JSON, QUICK, BenchConfig
from bench.run import main as run_main

DESCRIPTION = """\
Benchmark the real service (python -m todo_api, ENVIRONMENT=production, one worker) on a fresh SQLite
database, and on a freshly created PostgreSQL database when --postgres-url (or BENCH_POSTGRES_URL) is
given. Seeds users and tasks through the public API, drives list, filtered list, get, create and patch
with wrk (Lua scripts rotating real bearer tokens), and measures a bare ASGI app through the same uvicorn
as the ceiling every figure is a ratio to. Probes: /health/live latency while clients log in, 64
concurrent writers on one user, list latency at 100 vs 20,000 tasks, WORKERS=2 vs 1 on PostgreSQL, RSS
per worker, start-up time. Prints a table with each target of issue 6 marked pass/MISS and writes JSON.
Timings never fail the run: the exit status is non-zero only when the harness itself broke."""


def parse_args(argv: list[str] | None) -> BenchConfig:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL"),
        help="an SQLAlchemy URL of a PostgreSQL server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/"
        "postgres; a database is created there for the run and dropped after (default: $BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 s, 1 round, 2 users x 20 tasks, "
        "a 2,000-task user instead of 20,000, shorter probes (well under a minute)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        help=f"seconds per wrk round, SQLite and the ceiling (default {defaults.duration})",
    )
    parser.add_argument(
        "--pg-duration",
        type=int,
        help=f"seconds per wrk round on PostgreSQL (default {defaults.pg_duration})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"wrk rounds per scenario; the median is reported (default {defaults.rounds})",
    )
    parser.add_argument("--users", type=int, help=f"seeded users (default {defaults.users})")
    parser.add_argument(
        "--tasks",
        dest="tasks_per_user",
        type=int,
        help=f"tasks per seeded user (default {defaults.tasks_per_user})",
    )
    parser.add_argument(
        "--large-tasks",
        type=int,
        help=f"tasks of the big user of the list-scaling probe; "
        f"0 skips that half (default {defaults.large_tasks})",
    )
    parser.add_argument(
        "--liveness-seconds",
        type=float,
        help=f"length of the liveness probe (default {defaults.liveness_seconds:g})",
    )
    parser.add_argument(
        "--json",
        dest="json_path",
        type=Path,
        default=DEFAULT_JSON,
        help="where to write the results (default bench/results/latest.json)",
    )
    parser.add_argument("--wrk", default=defaults.wrk, help="the wrk executable (default: wrk on PATH)")
    args = parser.parse_args(argv)

    values: dict[str, Any] = dict(QUICK) if args.quick else {}
    for key, value in vars(args).items():
        if value is not None and key != "quick":
            values[key] = value
    values["quick"] = args.quick
    config = dataclasses.replace(defaults, **values)
    for name in ("duration", "pg_duration", "rounds", "users", "tasks_per_user"):
        if getattr(config, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return config


async def _main(config: BenchConfig) -> int:
    # SIGTERM cancels the run like Ctrl-C does, so every `finally` stops what it started.
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    return await run_main(config)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        return asyncio.run(_main(config))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted; every process it started has been stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
