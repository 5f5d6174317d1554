"""A smoke test of a running todo-api, with the standard library only.

    python .ci/smoke_api.py BASE_URL write USER      # health, register, log in, create a task
    python .ci/smoke_api.py BASE_URL read USER       # log in, the task written before is there
    python .ci/smoke_api.py BASE_URL drain USER N    # N registrations in flight, prints their results

The calls are the oldest ones of the API (POST /tasks with a title goes to the caller's
inbox since lists exist, and to the caller before), so the same smoke runs against the
previous release in .ci/rolling-update.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

PASSWORD = "smoke-password-1"  # noqa: S105 - a throwaway account in a throwaway database
TITLE = "written before the restart"


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    form: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")


def expect(what: str, got: tuple[int, Any], status: int) -> Any:
    code, body = got
    if code != status:
        raise SystemExit(f"smoke: {what}: expected {status}, got {code}: {body}")
    print(f"ok   {what} ({code})")
    return body


def login(base: str, user: str) -> str:
    body = expect(
        f"POST /auth/login as {user}",
        call(base, "POST", "/auth/login", form={"username": user, "password": PASSWORD}),
        200,
    )
    return str(body["access_token"])


def write(base: str, user: str) -> None:
    health = expect("GET /health", call(base, "GET", "/health"), 200)
    if health.get("status") != "ok":
        raise SystemExit(f"smoke: /health says {health}")
    expect("GET /health/live", call(base, "GET", "/health/live"), 200)
    expect(
        f"POST /auth/register {user}",
        call(
            base,
            "POST",
            "/auth/register",
            {"username": user, "email": f"{user}@example.com", "password": PASSWORD},
        ),
        201,
    )
    token = login(base, user)
    me = expect("GET /auth/me", call(base, "GET", "/auth/me", token=token), 200)
    if me["username"] != user:
        raise SystemExit(f"smoke: /auth/me is {me}")
    task = expect("POST /tasks", call(base, "POST", "/tasks", {"title": TITLE}, token=token), 201)
    fetched = expect(f"GET /tasks/{task['id']}", call(base, "GET", f"/tasks/{task['id']}", token=token), 200)
    if fetched["title"] != TITLE:
        raise SystemExit(f"smoke: the task came back as {fetched}")


def read(base: str, user: str) -> None:
    token = login(base, user)
    page = expect("GET /tasks", call(base, "GET", "/tasks", token=token), 200)
    titles = [item["title"] for item in page["items"]]
    if TITLE not in titles:
        raise SystemExit(f"smoke: the task written before is gone; /tasks has {titles}")
    print(f"ok   the task written before is there ({len(titles)} task(s))")


def drain(base: str, user: str, count: int) -> None:
    """Start `count` registrations at once; print, as JSON, when each one ended and how."""
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        started = time.time()
        try:
            code, _ = call(
                base,
                "POST",
                "/auth/register",
                {"username": f"{user}{i}", "email": f"{user}{i}@example.com", "password": PASSWORD},
                timeout=60,
            )
        except OSError as error:
            code = f"{type(error).__name__}: {error}"  # type: ignore[assignment]
        with lock:
            results.append({"status": code, "started": started, "ended": time.time()})
            if len(results) == 1:
                # Every connection has been accepted by now (the server took them together), so
                # whatever has not ended yet is a request in flight.
                print("first answered", flush=True)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    # Tell the caller that the requests are on their way, then wait for every answer.
    print("sent", flush=True)
    for thread in threads:
        thread.join()
    print(json.dumps(results), flush=True)


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    base, mode, user = argv[1].rstrip("/"), argv[2], argv[3]
    if mode == "write":
        write(base, user)
    elif mode == "read":
        read(base, user)
    elif mode == "drain":
        drain(base, user, int(argv[4]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
