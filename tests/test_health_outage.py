"""Readiness follows the database: 503 within its budget while it is gone, 200 once it is back.

The app reaches PostgreSQL through a TCP proxy that the test starts and stops: stopping it cuts
every connection and refuses new ones, as a database restart does. A second mode accepts
connections and never answers, as a black-holed network does.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url

from tests.conftest import make_settings
from todo_api.main import create_app

# /health's budget is 2 s; this only guards against hanging, it measures nothing.
HANG_GUARD_SECONDS = 10


class DatabaseProxy:
    """Forwards 127.0.0.1:<port> to the database; can be stopped, restarted or made silent."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.silent = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        if self.silent:
            return  # accept, then say nothing
        db_reader, db_writer = await asyncio.open_connection(*self.target)
        self._writers.add(db_writer)
        await asyncio.gather(
            self._pipe(client_reader, db_writer), self._pipe(db_reader, client_writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def proxied(backend: str, database_url: str) -> AsyncIterator[tuple[DatabaseProxy, httpx.AsyncClient]]:
    if backend != "postgresql":
        pytest.skip("SQLite is a file in the process: there is no server to stop")
    url = make_url(database_url)
    proxy = DatabaseProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app: FastAPI = create_app(make_settings(through_proxy))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            yield proxy, http
    finally:
        with contextlib.suppress(Exception):
            await proxy.stop()


async def timed_get(http: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.get(path)
    return response, time.monotonic() - started


async def test_readiness_follows_the_database_down_and_up(
    proxied: tuple[DatabaseProxy, httpx.AsyncClient],
) -> None:
    proxy, http = proxied
    assert (await http.get("/health")).status_code == 200

    await proxy.stop()
    down, elapsed = await timed_get(http, "/health")
    assert down.status_code == 503
    assert down.json()["database"] == "unavailable"
    assert down.json()["code"] == "service_unavailable"
    assert elapsed < HANG_GUARD_SECONDS
    assert (await http.get("/health/live")).status_code == 200

    await proxy.start()  # same port: the app's URL does not change, and it is not restarted
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/health/live")).status_code == 200


async def test_readiness_answers_503_when_the_database_never_answers(
    proxied: tuple[DatabaseProxy, httpx.AsyncClient],
) -> None:
    proxy, http = proxied
    await proxy.stop()
    proxy.silent = True
    await proxy.start()
    down, elapsed = await timed_get(http, "/health")
    assert down.status_code == 503
    assert elapsed < HANG_GUARD_SECONDS
    assert (await http.get("/health/live")).status_code == 200
