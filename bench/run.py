"""One benchmark run: the ceiling, SQLite, then PostgreSQL if a URL is given; every figure in `results`."""

import math
import statistics
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench import probes, report, seed, wrk
from bench.config import BenchConfig
from bench.console import progress
from bench.errors import HarnessError
from bench.procfs import RssSampler, cpu_seconds, serving_pids
from bench.seed import BenchUser, Seeded
from bench.server import Server, new_secret_key, postgres_database, running_bare, running_service

WARM_UP_SECONDS = 1
WALL_BUDGET_SECONDS = 360


class Run:
    def __init__(self, config: BenchConfig, wrk_path: str, workdir: Path) -> None:
        self.config = config
        self.options = wrk.WrkOptions(wrk_path, config.threads, config.connections)
        self.workdir = workdir
        self.secret_key = new_secret_key()
        settings = {
            key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()
        }
        if config.postgres_url:
            settings["postgres_url"] = make_url(config.postgres_url).render_as_string(hide_password=True)
        self.results: dict[str, Any] = {
            "machine": report.machine_facts(wrk_path),
            "config": settings,
            "backends": {},
            "warnings": [],
            "errors": [],
        }
        self.ceiling: wrk.ScenarioResult | None = None

    def warn(self, message: str) -> None:
        progress(f"WARNING: {message}")
        self.results["warnings"].append(message)

    def fail(self, message: str) -> None:
        progress(f"ERROR: {message}")
        self.results["errors"].append(message)

    async def measure(self, server: Server, label: str, script: Path, seconds: int) -> wrk.ScenarioResult:
        """`rounds` wrk runs of one script; mostly errors is a broken harness, some errors a warning."""
        result = wrk.ScenarioResult()
        for number in range(self.config.rounds):
            run = await wrk.run(self.options, script, server.base_url, seconds)
            result.rounds.append(run)
            progress(
                f"{label} round {number + 1}: {run.rps:.0f} req/s, p50 {run.p50_ms:.2f} ms, "
                f"p99 {run.p99_ms:.2f} ms, non-2xx {run.non2xx}"
            )
            if run.mostly_errors:
                self.fail(
                    f"{label}: {run.failures} of {run.requests} requests failed {run.non2xx_by_status} "
                    f"{run.socket_errors}"
                )
            elif run.failures:
                self.warn(
                    f"{label}: {run.failures} failed requests {run.non2xx_by_status} {run.socket_errors}"
                )
        return result

    def script(self, server: Server, scenario: str, seeded: Seeded) -> Path:
        directory = self.workdir / f"lua-{server.name}"
        directory.mkdir(exist_ok=True)
        users = seeded.creators if scenario == "create" else seeded.users
        return wrk.write_script(scenario, users, self.config.threads, directory)

    async def warm_up(self, server: Server, seeded: Seeded) -> None:
        await wrk.run(self.options, self.script(server, "list", seeded), server.base_url, WARM_UP_SECONDS)

    async def measure_ceiling(self, seeded: Seeded) -> None:
        async with running_bare(self.workdir) as bare:
            await self.warm_up(bare, seeded)
            self.ceiling = await self.measure(
                bare, "ceiling", self.script(bare, "list", seeded), self.config.duration
            )
        self.results["ceiling"] = self.ceiling.as_dict()

    def ratio(self, rps: float) -> float | None:
        return round(rps / self.ceiling.rps, 4) if self.ceiling and self.ceiling.rps else None

    async def throughput(
        self, server: Server, seeded: Seeded, seconds: int, scenarios: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each scenario's medians and ratio, and the peak RSS of the serving processes meanwhile."""
        await self.warm_up(server, seeded)
        sampler = RssSampler(server.pid)
        figures: dict[str, Any] = {}
        async with sampler.sampling():
            for name in scenarios:
                if name == "sync":
                    await seed.prepare_sync(server.base_url, seeded.users, self.config.seed_concurrency)
                label = f"{server.name} {name}"
                result = await self.measure(server, label, self.script(server, name, seeded), seconds)
                figures[name] = {**result.as_dict(), "ratio": self.ratio(result.rps)}
        peaks = [round(sampler.peak_mb[pid], 1) for pid in sorted(sampler.peak_mb)]
        return figures, {"per_worker": peaks, "processes": len(peaks)}

    async def long_polling(self, server: Server, seeded: Seeded, seconds: int) -> dict[str, Any]:
        """The list scenario without and with `longpoll_clients` long polls held open, alternating
        round by round: the throughput and the server's CPU time per list request of each, and the
        cost as the median over the rounds of each round with polls against the one before it."""
        clients = self.config.longpoll_clients
        progress(f"{server.name}: list without and with {clients} clients long-polling /sync, alternating")
        script = self.script(server, "list", seeded)
        pids = serving_pids(server.pid)
        runs: dict[str, list[tuple[wrk.WrkResult, float]]] = {"without": [], "with": []}

        async def measured(kind: str, label: str) -> None:
            cpu = cpu_seconds(pids)
            run = await wrk.run(self.options, script, server.base_url, seconds)
            used = (cpu_seconds(pids) - cpu) * 1000 / run.requests if run.requests else math.nan
            runs[kind].append((run, used))
            progress(f"{label}: {run.rps:.0f} req/s, p50 {run.p50_ms:.2f} ms, CPU {used:.2f} ms per request")
            if run.failures:
                self.warn(f"{label}: {run.failures} failed requests {run.non2xx_by_status}")

        figures: dict[str, Any] = {}
        for number in range(1, self.config.rounds + 1):
            await measured("without", f"{server.name} list, round {number}")
            async with probes.long_pollers(server, seeded.users, self.config, self.workdir) as polls:
                await measured("with", f"{server.name} list + {clients} long polls, round {number}")
            figures.update(polls)
        for kind, measured_runs in runs.items():
            figures[f"list_{kind}"] = {
                "rps": round(statistics.median(run.rps for run, _ in measured_runs), 1),
                "rps_rounds": [round(run.rps, 1) for run, _ in measured_runs],
                "p50_ms": round(statistics.median(run.p50_ms for run, _ in measured_runs), 2),
                "cpu_ms_per_request": round(statistics.median(cpu for _, cpu in measured_runs), 3),
                "cpu_ms_rounds": [round(cpu, 3) for _, cpu in measured_runs],
            }
        # Each round with polls against the round without just before it: the machine's drift
        # between rounds (±25 % here) then mostly cancels out.
        pairs = list(zip(runs["without"], runs["with"], strict=True))
        figures["cost"] = round(1 - statistics.median(w.rps / wo.rps for (wo, _), (w, _) in pairs), 3)
        figures["cpu_cost"] = round(statistics.median(cw / co for (_, co), (_, cw) in pairs) - 1, 3)
        return figures

    async def seed(self, server: Server, data: dict[str, Any]) -> Seeded:
        config = self.config
        progress(
            f"{server.name}: seeding {config.users} users x {config.tasks_per_user} tasks through the API"
        )
        seeded = await seed.seed(
            server.base_url, config.users, config.tasks_per_user, config.seed_concurrency
        )
        data["seed"] = {
            "users": config.users,
            "tasks_per_user": config.tasks_per_user,
            "creator_users": len(seeded.creators),
            "seconds": round(seeded.seconds, 2),
        }
        progress(f"{server.name}: seeded in {seeded.seconds:.1f} s")
        return seeded

    async def sqlite(self) -> None:
        data: dict[str, Any] = {"database": "a fresh SQLite file in a temporary directory"}
        self.results["backends"]["sqlite"] = data
        database_url = f"sqlite+aiosqlite:///{self.workdir / 'bench.db'}"
        async with running_service("sqlite", database_url, self.secret_key, self.workdir) as service:
            data["first_start_s"] = round(service.ready_seconds, 3)
            seeded = await self.seed(service, data)
            await self.measure_ceiling(seeded)
            data["scenarios"], data["rss_mb"] = await self.throughput(
                service, seeded, self.config.duration, wrk.SCENARIOS
            )
            data["long_polling"] = await self.long_polling(service, seeded, self.config.duration)
            await self.probes(service, database_url, data, seeded.users)
        progress(f"sqlite: start-up time, {self.config.start_tries} tries")
        data["start"] = await probes.start_time(
            database_url, self.secret_key, self.config.start_tries, self.workdir
        )

    async def probes(
        self, service: Server, database_url: str, data: dict[str, Any], liveness_users: list[BenchUser]
    ) -> None:
        if liveness_users:
            progress(f"{service.name}: liveness under {self.config.login_clients} clients logging in")
            data["liveness"] = await probes.liveness(service, liveness_users, self.config, self.workdir)
        progress(f"{service.name}: {self.config.writers} concurrent writers on one user")
        data["writers"] = await probes.writers(service, self.config)
        progress(
            f"{service.name}: list latency at {self.config.small_tasks} and {self.config.large_tasks} tasks"
        )
        data["list_scaling"] = await probes.list_scaling(service, database_url, self.config)

    async def postgresql(self, admin_url: str) -> None:
        data: dict[str, Any] = {}
        self.results["backends"]["postgresql"] = data
        async with postgres_database(admin_url) as database_url:
            data["database"] = f"created for the run and dropped after: {make_url(database_url).database}"
            async with running_service("postgresql", database_url, self.secret_key, self.workdir) as service:
                data["first_start_s"] = round(service.ready_seconds, 3)
                seeded = await self.seed(service, data)
                data["scenarios"], data["rss_mb"] = await self.throughput(
                    service, seeded, self.config.pg_duration, wrk.SCENARIOS
                )
            # Two workers on the same data as the one worker just measured: the probes below add a
            # 20,000-task user and hundreds of tasks, which changes what the list costs.
            async with running_service(
                "postgresql-workers2", database_url, self.secret_key, self.workdir, workers=2
            ) as service:
                figures, rss = await self.throughput(service, seeded, self.config.pg_duration, ("list",))
            one = data["scenarios"]["list"]["rps"]
            data["workers2"] = {
                "list": figures["list"],
                "rss_mb": rss,
                "one_worker_rps": one,
                "speedup": round(figures["list"]["rps"] / one, 3) if one else None,
            }
            async with running_service("postgresql", database_url, self.secret_key, self.workdir) as service:
                data["long_polling"] = await self.long_polling(service, seeded, self.config.pg_duration)
                await self.probes(service, database_url, data, [])

    async def phase(self, name: str, coroutine: Any) -> None:
        """Run one backend's phase; a failure is recorded (the run exits non-zero) and the next one runs."""
        try:
            await coroutine
        except HarnessError as error:
            self.fail(f"{name}: {error}")
        except Exception as error:  # noqa: BLE001 - anything else broke the harness too: say where
            traceback.print_exc()
            self.fail(f"{name}: {type(error).__name__}: {error}")


async def main(config: BenchConfig) -> int:
    began = time.monotonic()
    try:
        wrk_path = wrk.find_wrk(config.wrk)
    except HarnessError as error:
        progress(f"ERROR: {error}")
        return 2
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as directory:
        run = Run(config, wrk_path, Path(directory))
        await run.phase("sqlite", run.sqlite())
        if config.postgres_url:
            await run.phase("postgresql", run.postgresql(config.postgres_url))
    results = run.results
    results["wall_seconds"] = round(time.monotonic() - began, 1)
    if not config.quick and results["wall_seconds"] > WALL_BUDGET_SECONDS:
        run.warn(f"the run took {results['wall_seconds']:.0f} s, over the {WALL_BUDGET_SECONDS} s budget")
    targets = report.evaluate(results)
    results["targets"] = [target.as_dict() for target in targets]
    report.write_json(results, config.json_path)
    print(report.render(results, targets))
    print(f"JSON written to {config.json_path}")
    return 1 if results["errors"] else 0
