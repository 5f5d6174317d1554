"""wrk runs: a Lua script per scenario (bench/lua/), one JSON line from its done() parsed here."""

import asyncio
import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import HarnessError
from bench.seed import BenchUser

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_PREFIX = "BENCH_RESULT "
# sync before patch (which would add changes behind its cursors); create last: it grows every user's list.
SCENARIOS = ("list", "filtered", "get", "sync", "patch", "create")
WRK_TIMEOUT = "10s"


@dataclass(frozen=True)
class WrkOptions:
    wrk: str
    threads: int
    connections: int


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    non2xx_by_status: dict[str, int]
    socket_errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        """Non-2xx responses plus requests that never got one (connect, read, write errors, timeouts)."""
        return self.non2xx + sum(v for k, v in self.socket_errors.items() if k != "status")

    @property
    def mostly_errors(self) -> bool:
        return self.requests == 0 or self.failures * 2 > self.requests

    @classmethod
    def parse(cls, line: str) -> "WrkResult":
        data: dict[str, Any] = json.loads(line)
        latency = data["latency_us"]
        if data["responses"] != data["requests"]:
            raise HarnessError(f"wrk counted {data['requests']} responses, the script {data['responses']}")
        return cls(
            requests=data["requests"],
            seconds=data["duration_us"] / 1e6,
            p50_ms=latency["p50"] / 1000,
            p90_ms=latency["p90"] / 1000,
            p99_ms=latency["p99"] / 1000,
            max_ms=latency["max"] / 1000,
            non2xx=data["non2xx"],
            non2xx_by_status=data["non2xx_by_status"],
            socket_errors=data["errors"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "non2xx": self.non2xx,
            "non2xx_by_status": self.non2xx_by_status,
            "socket_errors": self.socket_errors,
        }


@dataclass
class ScenarioResult:
    """The rounds of one scenario on one server, and their medians."""

    rounds: list[WrkResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.rounds)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.rounds)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.rounds)

    @property
    def non2xx(self) -> int:
        return sum(r.non2xx for r in self.rounds)

    @property
    def socket_errors(self) -> int:
        return sum(r.failures - r.non2xx for r in self.rounds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "non2xx_all_rounds": self.non2xx,
            "socket_errors_all_rounds": self.socket_errors,
            "rounds": [r.as_dict() for r in self.rounds],
        }


def find_wrk(wrk: str) -> str:
    path = shutil.which(wrk)
    if path is None:
        raise HarnessError(f"wrk not found ({wrk!r}); install it (apt-get install wrk) or pass --wrk PATH")
    return path


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def write_script(scenario: str, users: list[BenchUser], threads: int, directory: Path) -> Path:
    """The scenario's script: the prelude with the users' tokens and ids, common.lua, then its own."""
    tokens = ", ".join(_lua_string(user.token) for user in users)
    ids = ",\n  ".join("{" + ", ".join(map(str, user.task_ids or [1])) + "}" for user in users)
    cursors = ", ".join(_lua_string(user.sync_cursor) for user in users)
    prelude = f"nthreads = {threads}\ntokens = {{{tokens}}}\ncursors = {{{cursors}}}\nids = {{\n  {ids}\n}}\n"
    parts = [prelude, (LUA_DIR / "common.lua").read_text(), (LUA_DIR / f"{scenario}.lua").read_text()]
    path = directory / f"{scenario}.lua"
    path.write_text("\n".join(parts))
    return path


async def run(options: WrkOptions, script: Path, base_url: str, seconds: int) -> WrkResult:
    """One wrk run; its result, or HarnessError if wrk failed or printed no result."""
    argv = [options.wrk, "-t", str(options.threads), "-c", str(options.connections), "-d", f"{seconds}s"]
    argv += ["--timeout", WRK_TIMEOUT, "-s", str(script), base_url]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = stdout.decode(errors="replace")
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            return WrkResult.parse(line.removeprefix(RESULT_PREFIX))
    errors = stderr.decode(errors="replace")
    raise HarnessError(f"wrk exited with {process.returncode} and no result line:\n{output}\n{errors}")
