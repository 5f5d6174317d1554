"""Machine facts, the targets of issue 6 with pass/miss marks, the table on stdout and the JSON file."""

import importlib.util
import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from bench.config import REPO_ROOT

Results = dict[str, Any]

# Throughput targets as ratios to the bare-ASGI ceiling (one process, SQLite).
# The fast-path issue's targets: x the bare-ASGI ceiling, one process, SQLite.
RATIO_TARGETS = {"list": 0.05, "filtered": 0.04, "get": 0.10, "sync": 0.04, "create": 0.06, "patch": 0.06}
LIVENESS_P99_MS = 25.0
SCALING_RATIO = 1.5
WORKERS_SPEEDUP = 1.6
RSS_MB = 150.0
START_SECONDS = 2.0


def _command(*argv: str) -> str:
    """The first line a command prints, or "unknown" if it cannot run."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed commands: git and wrk
            argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(wrk_path: str) -> dict[str, Any]:
    src_changes = _command("git", "status", "--porcelain", "--", "src", "migrations")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git_commit": _command("git", "rev-parse", "--short", "HEAD"),
        "git_src_modified": src_changes not in ("", "unknown"),
        "wrk": _command(wrk_path, "-v"),
        "uvicorn": uvicorn.__version__,
        # uvicorn's loop="auto" and http="auto", which `todo-api` and the ceiling both use.
        "uvicorn_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "uvicorn_http": "httptools" if importlib.util.find_spec("httptools") else "h11",
    }


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    op: str  # ">=", "<", "<=", "=="
    threshold: float
    unit: str = ""

    @property
    def ok(self) -> bool | None:
        if self.value is None or math.isnan(self.value):
            return None
        checks = {
            ">=": self.value >= self.threshold,
            "<": self.value < self.threshold,
            "<=": self.value <= self.threshold,
            "==": self.value == self.threshold,
        }
        return checks[self.op]

    @property
    def mark(self) -> str:
        return {True: "pass", False: "MISS", None: "n/a"}[self.ok]

    def describe(self) -> str:
        return f"{self.op} {self.threshold:g}{self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "target": self.describe(), "result": self.mark}


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data or data[key] is None:
            return None
        data = data[key]
    return data


def evaluate(results: Results) -> list[Target]:
    backends = results.get("backends", {})
    targets = [
        Target(
            f"{name} / ceiling (sqlite)", _get(backends, "sqlite", "scenarios", name, "ratio"), ">=", value
        )
        for name, value in RATIO_TARGETS.items()
    ]
    targets.append(
        Target(
            "liveness p99 (sqlite)",
            _get(backends, "sqlite", "liveness", "p99_ms"),
            "<",
            LIVENESS_P99_MS,
            " ms",
        )
    )
    for backend in backends:
        writers = _get(backends, backend, "writers") or {}
        targets.append(Target(f"64 writers lost writes ({backend})", writers.get("lost_writes"), "==", 0))
        targets.append(Target(f"64 writers 5xx ({backend})", writers.get("server_errors_5xx"), "==", 0))
    for backend in backends:
        cost = _get(backends, backend, "long_polling", "cost")
        name = f"list cost of long polls ({backend})"
        targets.append(Target(name, None if cost is None else round(cost * 100, 1), "<", 10, " %"))
    for name in ("list", "filtered"):
        value = _get(backends, "sqlite", "list_scaling", f"{name}_p50_ratio")
        targets.append(Target(f"{name} p50 20k / 100 tasks (sqlite)", value, "<=", SCALING_RATIO))
    if "postgresql" in backends:
        speedup = _get(backends, "postgresql", "workers2", "speedup")
        targets.append(Target("WORKERS=2 / 1 list (postgresql)", speedup, ">=", WORKERS_SPEEDUP))
    for backend, data in backends.items():
        for label, rss in _rss(data):
            peak = max(rss["per_worker"]) if rss.get("per_worker") else None
            targets.append(Target(f"RSS per worker ({backend}, {label})", peak, "<", RSS_MB, " MB"))
    targets.append(
        Target(
            "start to /health 200 (sqlite, median)",
            _get(backends, "sqlite", "start", "median_s"),
            "<",
            START_SECONDS,
            " s",
        )
    )
    return targets


def _rss(backend: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The RSS figures of a backend's runs: (WORKERS=n, figures)."""
    runs = [("WORKERS=1", backend.get("rss_mb")), ("WORKERS=2", _get(backend, "workers2", "rss_mb"))]
    return [(label, rss) for label, rss in runs if rss]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _throughput_rows(results: Results, marks: dict[str, Target]) -> list[str]:
    header = f"{'backend':<11}{'scenario':<10}{'req/s':>9}{'x ceiling':>11}  {'target':<13}"
    header += f"{'p50 ms':>8}{'p99 ms':>9}{'non-2xx':>9}"
    rows = [header]
    ceiling = results.get("ceiling")
    if ceiling:
        rows.append(
            f"{'ceiling':<11}{'bare ASGI':<10}{ceiling['rps']:>9.0f}{1.0:>11.3f}  {'':<13}"
            f"{ceiling['p50_ms']:>8.2f}{ceiling['p99_ms']:>9.2f}{ceiling['non2xx_all_rounds']:>9}"
        )
    for backend, data in results.get("backends", {}).items():
        scenarios = dict(data.get("scenarios", {}))
        if _get(data, "workers2", "list"):
            scenarios["list W=2"] = data["workers2"]["list"]
        for name, scenario in scenarios.items():
            target = marks.get(f"{name} / ceiling ({backend})")
            goal = f"{target.describe():<8} {target.mark}" if target else ""
            rows.append(
                f"{backend:<11}{name:<10}{scenario['rps']:>9.0f}{_fmt(scenario.get('ratio'), 3):>11}  "
                f"{goal:<13}{scenario['p50_ms']:>8.2f}{scenario['p99_ms']:>9.2f}"
                f"{scenario['non2xx_all_rounds']:>9}"
            )
    return rows


def _probe_rows(results: Results, marks: dict[str, Target]) -> list[str]:
    def mark(name: str) -> str:
        target = marks.get(name)
        return f"[target {target.describe()}: {target.mark}]" if target else ""

    rows: list[str] = []
    for backend, data in results.get("backends", {}).items():
        if live := data.get("liveness"):
            rows.append(
                f"{backend}: liveness /health/live {live['samples']} samples at {live['hz']:g} Hz while "
                f"{live['login_clients']} clients log in ({live['logins_per_second']} logins/s): "
                f"p50 {live['p50_ms']} ms, p99 {live['p99_ms']} ms, max {live['max_ms']} ms "
                f"{mark(f'liveness p99 ({backend})')}"
            )
        if w := data.get("writers"):
            rows.append(
                f"{backend}: {w['writers']} writers x {w['tasks_per_writer']} tasks on one user: "
                f"201 {w['created_201']}, other {w['other']}{_kinds(w['other_by_kind'])}, "
                f"total after {w['total_after']}; "
                f"5xx {w['server_errors_5xx']} {mark(f'64 writers 5xx ({backend})')}, "
                f"lost writes {w['lost_writes']} {mark(f'64 writers lost writes ({backend})')}"
            )
        rows += _scaling_rows(backend, data.get("list_scaling"), mark)
        if polls := data.get("long_polling"):
            without, polled = polls["list_without"], polls["list_with"]
            rows.append(
                f"{backend}: list {without['rps']:.0f} req/s {without['rps_rounds']}, "
                f"with {polls['clients']} clients long-polling /sync?wait={polls['wait_s']} "
                f"({polls['held_open']:.0f} held open) "
                f"{polled['rps']:.0f} req/s {polled['rps_rounds']}; median cost per pair of rounds "
                f"{_fmt((polls['cost'] or 0) * 100)} % {mark(f'list cost of long polls ({backend})')}; "
                f"CPU per list request {without['cpu_ms_rounds']} ms without, "
                f"{polled['cpu_ms_rounds']} ms with "
                f"(median per pair {_fmt((polls.get('cpu_cost') or 0) * 100)} %)"
            )
        if workers2 := data.get("workers2"):
            rows.append(
                f"{backend}: WORKERS=2 list {workers2['list']['rps']:.0f} req/s vs WORKERS=1 "
                f"{workers2['one_worker_rps']:.0f}: x{_fmt(workers2['speedup'], 2)} "
                f"{mark('WORKERS=2 / 1 list (postgresql)')}"
            )
        for label, rss in _rss(data):
            peaks = ", ".join(f"{value:.0f}" for value in rss["per_worker"])
            rows.append(
                f"{backend}: peak RSS per worker under load ({label}): {peaks} MB "
                f"{mark(f'RSS per worker ({backend}, {label})')}"
            )
        if start := data.get("start"):
            environments = start.get("environments", {})
            where = "production install" if "production" in environments else "development environment"
            development = environments.get("development") if "production" in environments else None
            beside = f"; development environment median {development['median_s']} s" if development else ""
            rows.append(
                f"{backend}: spawn to first /health 200 (migrated database, {start['tries']} tries, {where}):"
                " "
                f"min {start['min_s']} s, median {start['median_s']} s{beside}; fresh database with "
                f"migrations {_fmt(data.get('first_start_s'), 2)} s "
                f"{mark(f'start to /health 200 ({backend}, median)')}"
            )
    return rows


def _kinds(counts: dict[str, int]) -> str:
    return " (" + ", ".join(f"{kind} {count}" for kind, count in counts.items()) + ")" if counts else ""


def _scaling_rows(backend: str, scaling: dict[str, Any] | None, mark: Any) -> list[str]:
    if not scaling:
        return []
    rows = []
    for name in ("list", "filtered"):
        small = scaling["small"][name]
        line = (
            f"{backend}: {name} p50 for one user at {scaling['small_tasks']} tasks {small['p50_ms']} ms "
            f"(p99 {small['p99_ms']})"
        )
        if scaling.get("large"):
            large = scaling["large"][name]
            line += (
                f", at {scaling['large_tasks']} tasks {large['p50_ms']} ms (p99 {large['p99_ms']}): "
                f"x{scaling[f'{name}_p50_ratio']} "
                f"{mark(f'{name} p50 20k / 100 tasks ({backend})') or '(the target is on SQLite)'}"
            )
        rows.append(line)
    if scaling.get("seed_method"):
        rows.append(
            f"{backend}:   (large user seeded by {scaling['seed_method']}, {scaling['seed_seconds']} s)"
        )
    return rows


def render(results: Results, targets: list[Target]) -> str:
    marks = {target.name: target for target in targets}
    machine = results["machine"]
    config = results["config"]
    lines = [
        "",
        f"todo-api benchmark, {machine['date']}, commit {machine['git_commit']}"
        f"{' (src modified)' if machine['git_src_modified'] else ''}, "
        f"{machine['nproc']} x {machine['cpu_model']}, "
        f"Python {machine['python']}, uvicorn {machine['uvicorn']} ({machine['uvicorn_loop']}, "
        f"{machine['uvicorn_http']})",
        f"wrk {config['threads']} threads, {config['connections']} connections, median of {config['rounds']} "
        f"round(s) of {config['duration']} s (PostgreSQL {config['pg_duration']} s); non-2xx over all rounds",
        "",
        *_throughput_rows(results, marks),
        "",
        *_probe_rows(results, marks),
        "",
        f"targets: {sum(t.ok is True for t in targets)} pass, {sum(t.ok is False for t in targets)} missed, "
        f"{sum(t.ok is None for t in targets)} not measured",
    ]
    lines += [f"WARNING: {warning}" for warning in results.get("warnings", [])]
    lines += [f"ERROR: {error}" for error in results.get("errors", [])]
    lines.append(f"wall time {results.get('wall_seconds', 0):.0f} s")
    return "\n".join(lines)


def write_json(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
