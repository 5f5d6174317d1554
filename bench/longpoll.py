"""Long-poll load in a process of its own: `clients` clients wait on `GET /sync?wait=N`, each in a loop.

    python -m bench.longpoll BASE_URL TOKENS_JSON --clients 500 --wait 30 --seconds 60

TOKENS_JSON is a file holding ["bearer token", ...]. Each token first walks a full sync to get a cursor
(once per token, not per client); then the clients, spread over the tokens, long-poll with that cursor
and poll again whenever an answer comes (with the answer's cursor). Prints `ready` once every client has
started (the probe then reads `http_requests_in_flight` to see them all held open); at the end (after
`seconds`, or on SIGTERM), one JSON line: how many answers came with each status, and transport errors.
"""

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections import Counter
from pathlib import Path

import httpx

FULL_SYNC_LIMIT = 1000


async def first_cursor(http: httpx.AsyncClient, token: str) -> str:
    """Walk a full sync to its last page: the cursor a client would wait on."""
    headers = {"Authorization": f"Bearer {token}"}
    params: dict[str, str | int] = {"limit": FULL_SYNC_LIMIT}
    while True:
        response = await http.get("/sync", params=params, headers=headers)
        response.raise_for_status()
        page = response.json()
        params = {"limit": FULL_SYNC_LIMIT, "cursor": page["cursor"]}
        if not page["has_more"]:
            return str(page["cursor"])


async def poll_loop(
    http: httpx.AsyncClient, token: str, cursor: str, wait: int, counts: Counter[str]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        try:
            response = await http.get("/sync", params={"cursor": cursor, "wait": wait}, headers=headers)
        except httpx.HTTPError as error:
            counts[type(error).__name__] += 1
            await asyncio.sleep(1)
            continue
        counts[str(response.status_code)] += 1
        if response.status_code == 200:
            cursor = response.json()["cursor"]
        else:
            await asyncio.sleep(1)


async def main_async(base_url: str, tokens: list[str], clients: int, wait: int, seconds: float) -> None:
    counts: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=clients + len(tokens), max_keepalive_connections=clients)
    timeout = httpx.Timeout(wait + 30.0, connect=30.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as http:
        cursors = await asyncio.gather(*(first_cursor(http, token) for token in tokens))
        loops = [
            asyncio.ensure_future(
                poll_loop(http, tokens[n % len(tokens)], cursors[n % len(tokens)], wait, counts)
            )
            for n in range(clients)
        ]
        print("ready", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    print(json.dumps({"answers": dict(counts)}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.longpoll", description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("tokens", type=Path)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--wait", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    tokens = json.loads(args.tokens.read_text())
    asyncio.run(main_async(args.base_url, tokens, args.clients, args.wait, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
