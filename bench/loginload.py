"""Login load in a process of its own: `clients` clients log in, each in a loop, for `seconds`.

    python -m bench.loginload BASE_URL CREDENTIALS_JSON --clients 16 --seconds 10

CREDENTIALS_JSON is a file holding [[username, password], ...]. Prints `ready` once the first login
succeeded, then, at the end, one JSON line: how many logins answered each status, and errors.
"""

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import httpx


async def login_loop(
    http: httpx.AsyncClient, credentials: list[list[str]], offset: int, deadline: float, counts: Counter[str]
) -> None:
    turn = offset
    while time.monotonic() < deadline:
        username, password = credentials[turn % len(credentials)]
        turn += 1
        try:
            response = await http.post("/auth/login", data={"username": username, "password": password})
            counts[str(response.status_code)] += 1
        except httpx.HTTPError as error:
            counts[type(error).__name__] += 1


async def main_async(base_url: str, credentials: list[list[str]], clients: int, seconds: float) -> None:
    counts: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as http:
        username, password = credentials[0]
        first = await http.post("/auth/login", data={"username": username, "password": password})
        print("ready" if first.status_code == 200 else f"login failed: {first.status_code}", flush=True)
        deadline = time.monotonic() + seconds
        async with asyncio.TaskGroup() as group:
            for offset in range(clients):
                group.create_task(login_loop(http, credentials, offset, deadline, counts))
    print(json.dumps({"logins": dict(counts)}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loginload", description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("credentials", type=Path)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    credentials = json.loads(args.credentials.read_text())
    asyncio.run(main_async(args.base_url, credentials, args.clients, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
