"""The metrics that the alerts of k8s/monitoring need, and those alerts and the dashboard against a real
Prometheus scraping a real `todo-api` process.

The real-Prometheus test runs Debian's `prometheus` (apt-get install prometheus; .ci/promtool installs it)
and is skipped, with that reason, where it is not installed.
"""

import asyncio
import importlib.util
import json
import math
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_settings
from tests.factories import UserFactory
from tests.live import free_port, live_server
from todo_api.core.db import Database, create_engine
from todo_api.core.security import PasswordHasher

MONITORING = Path(__file__).resolve().parents[1] / "k8s" / "monitoring"
RULES = MONITORING / "rules.yaml"
DASHBOARD = MONITORING / "dashboard.json"
PROMETHEUS = shutil.which("prometheus")
PROMETHEUS_DEADLINE_SECONDS = 45.0
# A metric name right before its label selector: every expression here selects job="todo-api".
SELECTED_METRIC = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{")


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("monitoring_generate", MONITORING / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recording_rules() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["record"]: rule["expr"] for group in groups for rule in group["rules"] if "record" in rule}


def alerting_rules() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"] if "alert" in rule}


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_generated_rules_prometheus_rule_and_dashboard_are_up_to_date() -> None:
    assert load_generator().main(["--check"]) == 0, "run: uv run python k8s/monitoring/generate.py"


def test_the_prometheus_rule_holds_the_same_groups_as_the_rules_file() -> None:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


async def test_every_metric_the_rules_and_the_dashboard_read_is_exposed(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    await client.get("/tasks")  # a 401: http_* series exist once a request was answered
    exposition = (await client.get("/metrics")).text
    exposed = {
        sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples
    }
    recorded = set(recording_rules())
    expressions = [*recording_rules().values(), *alerting_rules().values(), *dashboard_queries()]
    wanted = {name for expr in expressions for name in SELECTED_METRIC.findall(expr)}
    unknown = wanted - exposed - recorded - {"up"}  # `up` is Prometheus's own
    assert not unknown, f"read by rules or dashboard, exposed by nobody: {sorted(unknown)}"


BUDGETS = ("login-address", "login-account", "password-change", "register")


def refusals() -> dict[str, float]:
    return {budget: sample("todo_api_rate_limit_refusals_total", budget=budget) for budget in BUDGETS}


async def test_rate_limit_refusals_are_counted_once_under_the_first_budget_spent(users: UserFactory) -> None:
    user = await users.create()
    before = refusals()
    statuses = [(await users.login(user.username, "wrong-password")).status_code for _ in range(7)]
    after = refusals()
    # The default LOGIN_RATE_LIMIT (5/minute): the sixth and seventh failures are refused. Both the
    # address's and the account's budgets are spent; a refusal counts once, under the first.
    assert statuses == [401] * 5 + [429] * 2
    assert {budget: after[budget] - before[budget] for budget in BUDGETS} == {
        "login-address": 2,
        "login-account": 0,
        "password-change": 0,
        "register": 0,
    }


async def test_pool_gauges_count_connections_in_use_and_callers_waiting(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", db_pool_size=1, db_max_overflow=0)
    database = Database(create_engine(settings))
    in_use, waiters = sample("todo_api_db_pool_connections_in_use"), sample("todo_api_db_pool_waiters")
    waits = sample("todo_api_db_pool_wait_seconds_count")
    assert sample("todo_api_db_pool_connections_max") == 1
    try:
        async with database.engine.connect():
            assert sample("todo_api_db_pool_connections_in_use") == in_use + 1

            async def second() -> None:
                async with database.engine.connect():
                    pass

            waiting = asyncio.create_task(second())
            for _ in range(500):
                if sample("todo_api_db_pool_waiters") == waiters + 1:
                    break
                await asyncio.sleep(0.01)
            assert sample("todo_api_db_pool_waiters") == waiters + 1
        await asyncio.wait_for(waiting, timeout=10)
        assert sample("todo_api_db_pool_waiters") == waiters
        assert sample("todo_api_db_pool_connections_in_use") == in_use
        assert sample("todo_api_db_pool_wait_seconds_count") == waits + 2
    finally:
        await database.dispose()


class BlockingArgon2:
    """Stands in for argon2: every hash waits until the test lets it finish."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def hash(self, password: str) -> str:
        assert self.release.wait(timeout=10)
        return f"hashed:{password}"


async def wait_for_queue(depth: float) -> None:
    for _ in range(500):
        if sample("todo_api_password_hash_queue_depth") == depth:
            return
        await asyncio.sleep(0.01)
    assert sample("todo_api_password_hash_queue_depth") == depth


async def test_password_hashes_waiting_for_a_thread_are_the_queue_depth() -> None:
    hasher = PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1, max_concurrency=1)
    blocking = BlockingArgon2()
    hasher._argon2 = blocking  # type: ignore[assignment]
    baseline = sample("todo_api_password_hash_queue_depth")
    try:
        hashes = [asyncio.create_task(hasher.hash(f"password {n}")) for n in range(3)]
        await wait_for_queue(baseline + 2)  # one on the thread, two waiting
        cancelled = asyncio.create_task(hasher.hash("given up"))
        await wait_for_queue(baseline + 3)
        cancelled.cancel()
        await wait_for_queue(baseline + 2)  # a caller that gives up leaves the queue
    finally:
        blocking.release.set()
    assert await asyncio.gather(*hashes) == [f"hashed:password {n}" for n in range(3)]
    assert sample("todo_api_password_hash_queue_depth") == baseline


# ---- a real Prometheus --------------------------------------------------------------------------------


@contextmanager
def prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """Debian's prometheus on 127.0.0.1, scraping `target` every second and evaluating rules.yaml."""
    assert PROMETHEUS is not None
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [{"job_name": "todo-api", "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    log = tmp_path / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - Debian's prometheus binary
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/-/ready", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prometheus was not ready within 30 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def drive_traffic(client: httpx.AsyncClient, stop: asyncio.Event) -> None:
    """What a healthy day looks like: registrations, logins good and bad, a 429, 2xx and 4xx answers."""
    password = "correct-horse-battery"
    body = {"username": "watched", "email": "watched@example.com", "password": password}
    assert (await client.post("/auth/register", json=body)).status_code == 201
    # LOGIN_RATE_LIMIT=3/minute: the fourth failure is refused. From an address of their own (the
    # server believes 127.0.0.1's X-Forwarded-For), so that the logins below keep their budget.
    attacker = {"X-Forwarded-For": "198.51.100.7"}
    failures = [
        await client.post("/auth/login", data={"username": "watched", "password": "nope"}, headers=attacker)
        for _ in range(4)
    ]
    assert [response.status_code for response in failures] == [401, 401, 401, 429]
    second = {"username": "second", "email": "second@example.com", "password": password}
    assert (await client.post("/auth/register", json=second)).status_code == 201
    login = await client.post("/auth/login", data={"username": "second", "password": password})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    n = 0
    while not stop.is_set():
        n += 1
        created = await client.post("/tasks", json={"title": f"task {n}"}, headers=headers)
        assert created.status_code == 201, created.text
        assert (await client.get("/tasks", headers=headers)).status_code == 200
        assert (await client.get(f"/tasks/{created.json()['id']}", headers=headers)).status_code == 200
        assert (await client.get("/tasks/999999", headers=headers)).status_code == 404
        assert (await client.post("/tasks", json={"title": ""}, headers=headers)).status_code == 422
        assert (await client.get("/no-such-route")).status_code == 404
        assert (await client.get("/health")).status_code == 200
        if n % 5 == 0:
            login = await client.post("/auth/login", data={"username": "second", "password": password})
            assert login.status_code == 200
        await asyncio.sleep(0.05)


async def query(prometheus_client: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    response = await prometheus_client.get("/api/v1/query", params={"query": expr})
    assert response.status_code == 200, f"{expr}: {response.text}"
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def has_a_number(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(series["value"][1])) for series in result)


@pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus is not installed (Debian: apt-get install prometheus)"
)
async def test_a_real_prometheus_computes_every_rule_and_panel_and_no_alert_fires(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    expressions = {**{name: name for name in recording_rules()}, **{q: q for q in dashboard_queries()}}
    with live_server(server_dir, LOGIN_RATE_LIMIT="3/minute") as base_url:
        target = base_url.removeprefix("http://")
        with prometheus(tmp_path, target) as prometheus_url:
            stop = asyncio.Event()
            async with (
                httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as client,
                httpx.AsyncClient(base_url=prometheus_url, timeout=10, trust_env=False) as prom,
            ):
                traffic = asyncio.create_task(drive_traffic(client, stop))
                missing = dict(expressions)
                deadline = time.monotonic() + PROMETHEUS_DEADLINE_SECONDS
                try:
                    while missing and time.monotonic() < deadline and not traffic.done():
                        await asyncio.sleep(1)
                        for name, expr in list(missing.items()):
                            if has_a_number(await query(prom, expr)):
                                del missing[name]
                    assert not traffic.done() or traffic.exception() is None
                    assert not missing, (
                        f"no data within {PROMETHEUS_DEADLINE_SECONDS:.0f} s: {sorted(missing)}"
                    )

                    up = await query(prom, 'up{job="todo-api"}')
                    assert [series["value"][1] for series in up] == ["1"]
                    errors = await query(prom, "todo_api:http_request_errors:ratio_rate5m")
                    assert [float(series["value"][1]) for series in errors] == [0.0], "a 5xx was answered"
                    refusals = await query(prom, "sum(todo_api_rate_limit_refusals_total)")
                    assert [series["value"][1] for series in refusals] == ["1"]

                    rules = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
                    evaluated = [rule for group in rules for rule in group["rules"]]
                    assert len(evaluated) == len(recording_rules()) + len(alerting_rules())
                    broken = {
                        rule["name"]: rule.get("lastError") for rule in evaluated if rule["health"] != "ok"
                    }
                    assert not broken, broken
                    active = [
                        rule["name"] for rule in evaluated if rule.get("state", "inactive") != "inactive"
                    ]
                    assert not active, f"alerts pending or firing on a healthy service: {active}"
                    alerts = (await prom.get("/api/v1/alerts")).json()["data"]["alerts"]
                    assert alerts == []
                finally:
                    stop.set()
                    await traffic
