"""A real `todo-api` process: SIGTERM drains, logs hold no secrets, /metrics counts by route."""

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.live import SECRET_KEY, free_port, live_server


async def wait_until_live(http: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        assert process.returncode is None, "todo-api exited during start-up"
        try:
            if (await http.get("/health/live")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("todo-api did not start")


PASSWORD = "a-secret-password-1"


async def sign_in(http: httpx.AsyncClient, password: str = PASSWORD) -> dict[str, str]:
    await http.post(
        "/auth/register", json={"username": "operator", "email": "op@example.com", "password": password}
    )
    tokens: dict[str, str] = (
        await http.post("/auth/login", data={"username": "operator", "password": password})
    ).json()
    return tokens


async def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "out.log").open("wb")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'drain.db'}",
        "PORT": str(port),
        "SECRET_KEY": SECRET_KEY,
        "LOG_FORMAT": "json",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "todo_api", env=env, stdout=log, stderr=log, cwd=tmp_path
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=60, trust_env=False
        ) as http:
            await wait_until_live(http, process)
            headers = {"Authorization": f"Bearer {(await sign_in(http))['access_token']}"}
            body_started = asyncio.Event()
            release = asyncio.Event()

            async def slow_body() -> AsyncIterator[bytes]:
                # The request is in flight for as long as its body is still arriving.
                yield b'{"title": "written during shutdown'
                body_started.set()
                await release.wait()
                yield b'"}'

            request = asyncio.create_task(
                http.post(
                    "/tasks", content=slow_body(), headers={**headers, "Content-Type": "application/json"}
                )
            )
            await body_started.wait()
            await asyncio.sleep(0.3)  # let the server read the first chunk
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)  # the server is shutting down with the request open
            release.set()
            response = await request
        assert response.status_code == 201
        assert response.json()["title"] == "written during shutdown"
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
        log.close()
    lines = [
        json.loads(line) for line in (tmp_path / "out.log").read_text().splitlines() if line.startswith("{")
    ]
    events = [line["event"] for line in lines]
    assert "stopped" in events  # the lifespan ran to its end: the engine is disposed
    # The write landed: a fresh process finds the task.
    with live_server(tmp_path, DATABASE_URL=env["DATABASE_URL"]) as base_url:
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
            token = (
                await http.post("/auth/login", data={"username": "operator", "password": PASSWORD})
            ).json()["access_token"]
            listing = await http.get("/tasks", headers={"Authorization": f"Bearer {token}"})
    assert listing.json()["total"] == 1


async def test_no_password_or_token_ever_reaches_the_logs(tmp_path: Path) -> None:
    password = "never-log-this-password-42"
    with live_server(tmp_path, LOG_LEVEL="DEBUG", LOG_FORMAT="json") as base_url:
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
            tokens = await sign_in(http, password)
            auth = {"Authorization": f"Bearer {tokens['access_token']}"}
            created = await http.post("/tasks", json={"title": "t"}, headers=auth)
            await http.get(f"/tasks/{created.json()['id']}", headers=auth)
            await http.post("/auth/login", data={"username": "operator", "password": password + "-wrong"})
            refreshed = (
                await http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            ).json()
            await http.post(
                "/auth/password",
                json={"current_password": password, "new_password": password + "-new"},
                headers={"Authorization": f"Bearer {refreshed['access_token']}"},
            )
            await http.post("/auth/register", json={"username": "x", "email": "bad", "password": password})
    output = (tmp_path / "todo-api.stdout.log").read_text() + (tmp_path / "todo-api.stderr.log").read_text()
    assert '"route": "/tasks/{task_id}"' in output  # the log was captured, at DEBUG
    secrets = [password, tokens["access_token"], tokens["refresh_token"], refreshed["access_token"]]
    for secret in secrets:
        assert secret not in output
    assert "Bearer " not in output
    assert "authorization" not in output.lower()


async def test_access_lines_and_metrics_use_the_route_template(tmp_path: Path) -> None:
    with live_server(tmp_path, LOG_LEVEL="INFO", LOG_FORMAT="json") as base_url:
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as http:
            auth = {"Authorization": f"Bearer {(await sign_in(http))['access_token']}"}
            task_id = (await http.post("/tasks", json={"title": "t"}, headers=auth)).json()["id"]
            await http.get(f"/tasks/{task_id}", headers=auth)
            await http.get("/tasks/999999", headers=auth)
            await http.get("/no/such/route", headers={"X-Request-ID": "trace-me-1"})
            metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'http_requests_total{method="GET",route="/tasks/{task_id}",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/tasks/{task_id}",status="404"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert f"/tasks/{task_id}" not in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/tasks/{task_id}"' in text
    assert "http_requests_in_flight" in text
    assert "process_resident_memory_bytes" in text

    lines = [json.loads(line) for line in (tmp_path / "todo-api.stdout.log").read_text().splitlines()]
    access = [line for line in lines if line.get("event") == "request"]
    get_task = next(line for line in access if line["route"] == "/tasks/{task_id}" and line["status"] == 200)
    assert {"request_id", "method", "route", "status", "duration_ms", "user_id", "timestamp"} <= set(get_task)
    assert get_task["method"] == "GET"
    unknown = next(line for line in access if line["route"] == "<unmatched>")
    assert unknown["request_id"] == "trace-me-1"
    assert "user_id" not in unknown
