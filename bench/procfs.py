"""From /proc: the server's serving processes, their resident memory under load, its group's members."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

PROC = Path("/proc")
SAMPLE_INTERVAL_SECONDS = 0.5


def rss_mb(pid: int) -> float | None:
    """VmRSS of the process in MiB, or None if it is gone."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far (those still there)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


def _processes() -> list[tuple[int, int, int, bytes]]:
    """(pid, parent pid, process group, command line) of every process still there."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # The fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        found.append((int(entry.name), int(fields[1]), int(fields[2]), cmdline))
    return found


def _children(pid: int) -> list[int]:
    return sorted(
        child
        for child, parent, _, cmdline in _processes()
        if parent == pid and b"resource_tracker" not in cmdline
    )


def group_members(pgid: int) -> list[int]:
    """The processes of a process group (the run starts each server in a session and group of its own)."""
    return sorted(pid for pid, _, group, _ in _processes() if group == pgid)


def serving_pids(pid: int) -> list[int]:
    """The processes that serve requests: the workers of a supervisor, else the process itself."""
    return _children(pid) or [pid]


class RssSampler:
    """The largest VmRSS seen per serving process while `sampling()` is open."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb: dict[int, float] = {}

    def sample(self) -> None:
        for pid in serving_pids(self.pid):
            value = rss_mb(pid)
            if value is not None:
                self.peak_mb[pid] = max(value, self.peak_mb.get(pid, 0.0))

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_INTERVAL_SECONDS)

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator["RssSampler"]:
        task = asyncio.create_task(self._loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
