"""A real `todo-api` process for tests that need a socket: browsers, generated clients.

`live_server(tmp_path)` starts ``python -m todo_api`` on 127.0.0.1 and a free port, on a fresh SQLite
file in ``tmp_path`` (which is also its working directory, so no ``.env`` of the checkout leaks in),
waits until ``/health/live`` answers, yields the base URL and stops the process afterwards. Rate
limits are off and argon2 is cheap; keyword arguments override or add environment variables.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.1
STOP_TIMEOUT_SECONDS = 10.0
SECRET_KEY = "live-server-secret-key-0123456789abcdef"
LOG_TAIL_CHARS = 4_000
# Nothing may stand between a test and the service, whatever the environment says.
LOCAL_ONLY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


class LiveServerError(RuntimeError):
    """The service did not come up; the message carries the tail of its output."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(*paths: Path) -> str:
    text = "".join(path.read_text(errors="replace") for path in paths if path.exists())
    return text[-LOG_TAIL_CHARS:] or "(empty)"


def _wait_until_live(process: "subprocess.Popen[bytes]", base_url: str, *logs: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                code = process.returncode
                raise LiveServerError(f"todo-api exited with {code} during start-up; output:\n{_tail(*logs)}")
            try:
                if client.get("/health/live").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(POLL_INTERVAL_SECONDS)
    raise LiveServerError(
        f"todo-api did not answer /health/live within {STARTUP_TIMEOUT_SECONDS:.0f} s; "
        f"output:\n{_tail(*logs)}"
    )


def _stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def run_command(*args: str, database_url: str) -> "subprocess.CompletedProcess[str]":
    """Run `todo-api ARGS` to completion against `database_url`, with JSON logs on stdout."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "todo_api", *args],
        env={**os.environ, **LOCAL_ONLY, "DATABASE_URL": database_url, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class LiveProcess:
    process: "subprocess.Popen[bytes]"
    base_url: str


@contextmanager
def live_process(tmp_path: Path, name: str = "todo-api", **env: str) -> Iterator[LiveProcess]:
    """Run `todo-api` (on a fresh database in `tmp_path`, unless DATABASE_URL is given) until the
    block ends; its output goes to `tmp_path/NAME.std{out,err}.log`.

    Raises LiveServerError, with the server's output, if it exits or does not answer within 30 s.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        **LOCAL_ONLY,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ENVIRONMENT": "test",
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "LOGIN_RATE_LIMIT": "0",
        "REGISTER_RATE_LIMIT": "0",
    }
    environment.pop("REDIS_URL", None)
    environment.update(env)
    stdout_path = tmp_path / f"{name}.stdout.log"
    stderr_path = tmp_path / f"{name}.stderr.log"
    with stdout_path.open("ab") as stdout, stderr_path.open("ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "todo_api"], cwd=tmp_path, env=environment, stdout=stdout, stderr=stderr
        )
    try:
        _wait_until_live(process, base_url, stdout_path, stderr_path)
        yield LiveProcess(process, base_url)
    finally:
        _stop(process)


@contextmanager
def live_server(tmp_path: Path, **env: str) -> Iterator[str]:
    """Run `todo-api` on a fresh database in `tmp_path`; yield its base URL, e.g. http://127.0.0.1:41234."""
    with live_process(tmp_path, **env) as live:
        yield live.base_url


@pytest.fixture
def live_url(tmp_path: Path) -> Iterator[str]:
    """The base URL of a real `todo-api` process of this test's own."""
    with live_server(tmp_path) as base_url:
        yield base_url
