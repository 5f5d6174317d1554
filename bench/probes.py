"""The probes (liveness under logins, 64 writers on one user, list latency at 100 vs 20,000 tasks,
long-polling clients held open) and the start-up time."""

import asyncio
import contextlib
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import seed
from bench.config import REPO_ROOT, BenchConfig
from bench.errors import HarnessError
from bench.seed import BenchUser
from bench.server import Server, production_python, running_service

LIST_PATHS = {"list": "/tasks?limit=20", "filtered": "/tasks?status_filter=todo&sort=-priority&limit=20"}
WARM_UP_REQUESTS = 10


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {"p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    return {
        "p50_ms": round(percentile(values_ms, 50), 3),
        "p99_ms": round(percentile(values_ms, 99), 3),
        "max_ms": round(max(values_ms), 3),
    }


async def _sample_liveness(base_url: str, seconds: float, hz: float) -> tuple[list[float], Counter[str]]:
    """GET /health/live on a fixed 20 Hz schedule (a late answer never shifts the next tick)."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
        start = time.monotonic()
        for tick in range(int(seconds * hz)):
            delay = start + tick / hz - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            began = time.perf_counter()
            try:
                status = str((await http.get("/health/live")).status_code)
            except httpx.HTTPError as error:
                status = type(error).__name__
            latencies.append((time.perf_counter() - began) * 1000)
            statuses[status] += 1
    return latencies, statuses


async def liveness(
    server: Server, users: list[BenchUser], config: BenchConfig, workdir: Path
) -> dict[str, Any]:
    """Liveness latency while `login_clients` clients log in without pause, from another process."""
    credentials = workdir / "credentials.json"
    credentials.write_text(json.dumps([[user.username, user.password] for user in users]))
    argv = [sys.executable, "-m", "bench.loginload", server.base_url, str(credentials)]
    argv += ["--clients", str(config.login_clients), "--seconds", str(config.liveness_seconds + 0.5)]
    load = await asyncio.create_subprocess_exec(*argv, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)
    assert load.stdout is not None
    try:
        first = (await asyncio.wait_for(load.stdout.readline(), 60)).decode().strip()
        if first != "ready":
            raise HarnessError(f"the login load did not start: {first!r}")
        latencies, statuses = await _sample_liveness(
            server.base_url, config.liveness_seconds, config.liveness_hz
        )
        rest, _ = await asyncio.wait_for(load.communicate(), 60)
    finally:
        if load.returncode is None:
            load.kill()
            await load.wait()
    logins: dict[str, int] = json.loads(rest.decode().strip().splitlines()[-1])["logins"]
    return {
        "samples": len(latencies),
        "hz": config.liveness_hz,
        "seconds": config.liveness_seconds,
        **latency_summary(latencies),
        "statuses": dict(statuses),
        "login_clients": config.login_clients,
        "logins": logins,
        "logins_per_second": round(logins.get("200", 0) / config.liveness_seconds, 1),
    }


async def _write_loop(
    http: httpx.AsyncClient, token: str, writer: int, count: int, tally: Counter[str]
) -> None:
    for number in range(count):
        try:
            response = await http.post(
                "/tasks", json=seed.task_body(number, writer), headers=seed.auth(token)
            )
        except httpx.HTTPError as error:
            tally[f"error:{type(error).__name__}"] += 1
            continue
        status = response.status_code
        tally["201" if status == 201 else "5xx" if status >= 500 else f"other:{status}"] += 1


async def writers(server: Server, config: BenchConfig) -> dict[str, Any]:
    """`writers` clients POST tasks for ONE user at once; afterwards `total` must equal the 201s."""
    tally: Counter[str] = Counter()
    async with seed.client(server.base_url, config.writers) as http:
        user = await seed.create_user(http, "bench_writer")
        began = time.monotonic()
        async with asyncio.TaskGroup() as group:
            for writer in range(config.writers):
                group.create_task(_write_loop(http, user.token, writer, config.tasks_per_writer, tally))
        seconds = time.monotonic() - began
        response = await http.get("/tasks?limit=1", headers=seed.auth(user.token))
        total: int = seed.expect(response, 200, "count the writer's tasks").json()["total"]
    created = tally["201"]
    return {
        "writers": config.writers,
        "tasks_per_writer": config.tasks_per_writer,
        "created_201": created,
        "server_errors_5xx": tally["5xx"],
        "other": sum(count for key, count in tally.items() if key not in ("201", "5xx")),
        "other_by_kind": {key: count for key, count in tally.items() if key not in ("201", "5xx")},
        "total_after": total,
        "lost_writes": created - total,
        "seconds": round(seconds, 2),
    }


async def _sequential_latency(http: httpx.AsyncClient, path: str, token: str, count: int) -> dict[str, Any]:
    headers = seed.auth(token)
    for _ in range(WARM_UP_REQUESTS):
        await http.get(path, headers=headers)
    latencies: list[float] = []
    non200 = 0
    for _ in range(count):
        began = time.perf_counter()
        response = await http.get(path, headers=headers)
        latencies.append((time.perf_counter() - began) * 1000)
        non200 += response.status_code != 200
    return {"requests": count, "non200": non200, **latency_summary(latencies)}


async def _measure_lists(http: httpx.AsyncClient, user: BenchUser, count: int) -> dict[str, Any]:
    return {
        name: await _sequential_latency(http, path, user.token, count) for name, path in LIST_PATHS.items()
    }


async def list_scaling(server: Server, database_url: str, config: BenchConfig) -> dict[str, Any]:
    """p50 of the plain and filtered list for one user at `small_tasks`, then at `large_tasks` tasks."""
    async with seed.client(server.base_url, config.seed_concurrency) as http:
        user = await seed.create_user(http, "bench_scaling")
        await seed.create_tasks([user], config.small_tasks, http, config.seed_concurrency)
        result: dict[str, Any] = {"small_tasks": config.small_tasks, "large_tasks": config.large_tasks}
        result["small"] = await _measure_lists(http, user, config.scaling_requests)
        if config.large_tasks <= config.small_tasks:
            result["large"] = None
            return result
        me = seed.expect(await http.get("/auth/me", headers=seed.auth(user.token)), 200, "GET /auth/me")
        extra = config.large_tasks - config.small_tasks
        began = time.monotonic()
        await seed.insert_tasks(database_url, me.json()["id"], extra)
        result["seed_method"] = f"SQL INSERT of {extra} rows through DATABASE_URL"
        result["seed_seconds"] = round(time.monotonic() - began, 2)
        response = await http.get("/tasks?limit=1", headers=seed.auth(user.token))
        total = seed.expect(response, 200, "count the large user's tasks").json()["total"]
        if total != config.large_tasks:
            raise HarnessError(f"the large user has {total} tasks, not {config.large_tasks}")
        result["large"] = await _measure_lists(http, user, config.scaling_requests)
    for name in LIST_PATHS:
        result[f"{name}_p50_ratio"] = round(
            result["large"][name]["p50_ms"] / result["small"][name]["p50_ms"], 2
        )
    return result


async def start_time(database_url: str, secret_key: str, tries: int, log_dir: Path) -> dict[str, Any]:
    """Spawn to the first 200 of GET /health, on an existing (migrated) SQLite database: as the image
    runs the service (the project installed without its development dependencies), which the target
    is on, and from the development environment the benchmark itself runs in (where structlog also
    loads rich, a development-only package)."""
    figures = {"development": await _start_times(database_url, secret_key, tries, log_dir, sys.executable)}
    python = await production_python(log_dir / "production-venv")
    if python is not None:
        figures["production"] = await _start_times(database_url, secret_key, tries, log_dir, python)
    return {"tries": tries, **figures.get("production", figures["development"]), "environments": figures}


async def _start_times(
    database_url: str, secret_key: str, tries: int, log_dir: Path, python: str
) -> dict[str, Any]:
    seconds: list[float] = []
    for attempt in range(tries):
        start = partial(running_service, f"start-{attempt}", database_url, secret_key, log_dir, python=python)
        async with start() as server:
            seconds.append(server.ready_seconds)
    return {
        "seconds": [round(value, 3) for value in seconds],
        "min_s": round(min(seconds), 3),
        "median_s": round(statistics.median(seconds), 3),
    }


async def _requests_in_flight(http: httpx.AsyncClient) -> float:
    text = (await http.get("/metrics")).text
    lines = [line for line in text.splitlines() if line.startswith("http_requests_in_flight")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


@contextlib.asynccontextmanager
async def long_pollers(
    server: Server, users: list[BenchUser], config: BenchConfig, workdir: Path
) -> AsyncIterator[dict[str, Any]]:
    """`longpoll_clients` clients waiting on `GET /sync?wait=...` from another process, all held open
    by the server (read off its `http_requests_in_flight`) before the body runs; the figures after."""
    tokens = workdir / "tokens.json"
    tokens.write_text(json.dumps([user.token for user in users]))
    argv = [sys.executable, "-m", "bench.longpoll", server.base_url, str(tokens)]
    argv += ["--clients", str(config.longpoll_clients), "--wait", str(config.longpoll_wait)]
    argv += ["--seconds", "3600"]
    load = await asyncio.create_subprocess_exec(*argv, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)
    assert load.stdout is not None
    figures: dict[str, Any] = {"clients": config.longpoll_clients, "wait_s": config.longpoll_wait}
    try:
        first = (await asyncio.wait_for(load.stdout.readline(), 120)).decode().strip()
        if first != "ready":
            raise HarnessError(f"the long-poll load did not start: {first!r}")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
            began = time.monotonic()
            while (held := await _requests_in_flight(http)) < config.longpoll_clients:
                if time.monotonic() - began > 60:
                    raise HarnessError(f"only {held:.0f} long polls held open after 60 s")
                await asyncio.sleep(0.2)
            figures["held_open"] = held - 1  # this /metrics request is in flight too
            figures["open_seconds"] = round(time.monotonic() - began, 2)
            yield figures
            figures["held_open_after"] = await _requests_in_flight(http) - 1
        load.terminate()
        rest, _ = await asyncio.wait_for(load.communicate(), 60)
        figures["answers"] = json.loads(rest.decode().strip().splitlines()[-1])["answers"]
    finally:
        if load.returncode is None:
            load.kill()
            await load.wait()
