"""Processes the run starts: the service, the bare ceiling, a PostgreSQL database of its own.

Every process is started in a session of its own and stopped in a `finally`: SIGTERM to the
process, then SIGKILL to its whole group if it has not exited within the grace period.
"""

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.config import REPO_ROOT
from bench.console import progress
from bench.errors import HarnessError
from bench.procfs import group_members
from todo_api.core.config import Settings

STOP_GRACE_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 60.0
# Variables the service reads (its settings, and two that uvicorn and prometheus-client read): the run
# sets its own and inherits none of these from the caller's environment.
SERVICE_VARIABLES = {name.upper() for name in Settings.model_fields} | {
    "PROMETHEUS_MULTIPROC_DIR",
    "WEB_CONCURRENCY",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_secret_key() -> str:
    return secrets.token_urlsafe(30)  # 40 characters


def service_env(database_url: str, port: int, secret_key: str, workers: int = 1) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in SERVICE_VARIABLES}
    env.update(
        ENVIRONMENT="production",
        SECRET_KEY=secret_key,
        LOG_LEVEL="WARNING",
        LOGIN_RATE_LIMIT="0",
        REGISTER_RATE_LIMIT="0",
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=database_url,
        AUTO_MIGRATE="true",
        WORKERS=str(workers),
        GRACEFUL_SHUTDOWN_SECONDS="5",
    )
    return env


@dataclass
class Server:
    """A server process the run started, and where it answers."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    spawned_at: float  # time.monotonic() just before the spawn
    ready_seconds: float = field(default=0.0)  # spawn to the first 200 of the readiness path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text_lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text_lines[-lines:]) or "(empty log)"


def _spawn(name: str, argv: list[str], env: dict[str, str], port: int, log_dir: Path) -> Server:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        spawned_at = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, process, f"http://127.0.0.1:{port}", log_path, spawned_at)


async def wait_ready(server: Server, path: str) -> float:
    """Poll `path` until it answers 200; the seconds from the spawn. Raises if the process dies."""
    deadline = server.spawned_at + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise HarnessError(
                    f"{server.name} exited with {server.process.returncode} before answering {path}:\n"
                    f"{server.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(path)).status_code == 200:
                    server.ready_seconds = time.monotonic() - server.spawned_at
                    return server.ready_seconds
            if time.monotonic() > deadline:
                raise HarnessError(f"{server.name} did not answer {path} in {READY_TIMEOUT_SECONDS:.0f} s")
            await asyncio.sleep(0.01)


async def stop(server: Server) -> None:
    """SIGTERM, then SIGKILL to the process group after the grace period; never raises."""
    began = time.monotonic()
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            progress(f"WARNING: {server.name} ignored SIGTERM for {STOP_GRACE_SECONDS:.0f} s; killing it")
    # Whatever is left of its group: the process itself, or workers that outlived their supervisor.
    if process.poll() is None or group_members(process.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        await asyncio.to_thread(process.wait)
    progress(f"{server.name} stopped ({process.returncode}) in {time.monotonic() - began:.1f} s")


@contextlib.asynccontextmanager
async def running_service(
    name: str,
    database_url: str,
    secret_key: str,
    log_dir: Path,
    workers: int = 1,
    python: str = sys.executable,
) -> AsyncIterator[Server]:
    """`python -m todo_api` on a free port, ready (GET /health is 200) when this yields; `python` is
    the interpreter of the environment it runs from (the benchmark's own by default)."""
    port = free_port()
    argv = [python, "-m", "todo_api"]
    server = _spawn(name, argv, service_env(database_url, port, secret_key, workers), port, log_dir)
    try:
        await wait_ready(server, "/health")
        progress(f"{name} (WORKERS={workers}) answered /health in {server.ready_seconds:.2f} s")
        yield server
    finally:
        await stop(server)


@contextlib.asynccontextmanager
async def running_bare(log_dir: Path) -> AsyncIterator[Server]:
    """The bare ASGI ceiling through uvicorn's defaults (the loop and parser `todo-api` gets)."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "bench.bare:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-level", "warning", "--no-access-log", "--no-server-header"]  # as todo-api
    env = {name: value for name, value in os.environ.items() if name not in SERVICE_VARIABLES}
    server = _spawn("bare", argv, env, port, log_dir)
    try:
        await wait_ready(server, "/")
        yield server
    finally:
        await stop(server)


def _database_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"todo_bench_{stamp}_{secrets.token_hex(4)}"


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A freshly created, uniquely named database; dropped afterwards, whatever happened."""
    name = _database_name()
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        progress(f"created PostgreSQL database {name}")
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            try:
                async with engine.connect() as connection:
                    await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                progress(f"dropped PostgreSQL database {name}")
            except Exception as error:  # noqa: BLE001 - report, and let the run's own error win
                progress(f"WARNING: could not drop PostgreSQL database {name}: {error}")
    finally:
        await engine.dispose()


async def production_python(directory: Path) -> str | None:
    """The interpreter of the project installed as the image installs it (`uv sync --locked --no-dev
    --no-editable`, see the Dockerfile) into `directory`; None, with the reason printed, when uv
    cannot make one here."""
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(directory)}
    argv = ["uv", "sync", "--locked", "--no-dev", "--no-editable", "--quiet"]
    try:
        done = await asyncio.to_thread(
            subprocess.run, argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        progress(f"no production install to time: {error}")
        return None
    if done.returncode != 0:
        progress(f"no production install to time: uv sync said {done.stderr.strip()[-300:]}")
        return None
    return str(directory / "bin" / "python")
