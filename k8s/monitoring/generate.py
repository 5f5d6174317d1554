"""todo-api's SLOs, alerts and Grafana dashboard, written from this one source.

    uv run python k8s/monitoring/generate.py           # rewrite the files below
    uv run python k8s/monitoring/generate.py --check   # exit 1 if a checked-in file is out of date

Writes, beside this script:
  rules.yaml           a plain Prometheus rules file (rule_files:)
  prometheusrule.yaml  the same groups as a Prometheus Operator PrometheusRule
  dashboard.json       the Grafana dashboard; tests/test_monitoring.py evaluates each of its queries

SLOs over 30 days, on the service's own requests (probes and /metrics left out):
  availability  99.9 % of requests are answered without a 5xx
  latency       99 % of requests are answered within 300 ms
Alerts follow the Google SRE workbook's multiwindow, multi-burn-rate scheme ("Alerting on SLOs"): a
page when 2 % of a month's budget goes in an hour or 5 % in six hours, a ticket when 10 % goes in
three days (by 1-day and 3-day windows), each confirmed by a window a twelfth as long, so that an
alert stops soon after the burning does. tests/*.yaml (promtool test rules) prove that each fires, and
stays quiet when it should.
"""

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
# Change this (and regenerate) if Prometheus scrapes the service under another job name; or relabel
# in the scrape configuration so that the job is "todo-api" (the ServiceMonitor here does that).
SELECTOR = 'job="todo-api"'
# Probes and scrapes are not user traffic: a scrape every 15 s would dilute the error ratio.
NOT_PROBES = 'route!~"/health|/health/live|/metrics"'
BY = "namespace, job"  # one SLO per deployment
BY_INSTANCE = "namespace, job, instance"
RUNBOOK = "https://github.com/example/todo-api/blob/main/docs/operations.md"

AVAILABILITY_OBJECTIVE = 0.999
LATENCY_OBJECTIVE = 0.99
LATENCY_THRESHOLD = "0.3"  # seconds: a bucket boundary of http_request_duration_seconds
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (long window, short window, burn rate): the workbook's table for a 30-day SLO.
FAST_BURN = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
SLOW_BURN = (("1d", "2h", 3.0), ("3d", "6h", 1.0))

ERRORS = "todo_api:http_request_errors:ratio_rate"
SLOW = "todo_api:http_request_slow:ratio_rate"
READINESS = "todo_api:readiness_failures:ratio_rate5m"


def number(value: float) -> str:
    """A threshold as PromQL text, without float noise (14.4 * 0.001 is 0.0144, not 0.014400000000000001)."""
    return f"{value:.10g}"


def error_ratio(window: str) -> str:
    requests = f"http_requests_total{{{SELECTOR}, {NOT_PROBES}}}"
    errors = f'http_requests_total{{{SELECTOR}, {NOT_PROBES}, status=~"5.."}}'
    # "or ... * 0": a service that has never answered a 5xx has no such series; its ratio is 0, not absent.
    return (
        f"(\n  sum by ({BY}) (rate({errors}[{window}]))\n  or\n"
        f"  sum by ({BY}) (rate({requests}[{window}])) * 0\n)\n"
        f"/\nsum by ({BY}) (rate({requests}[{window}]))\n"
    )


def slow_ratio(window: str) -> str:
    fast = f'http_request_duration_seconds_bucket{{{SELECTOR}, {NOT_PROBES}, le="{LATENCY_THRESHOLD}"}}'
    answered = f"http_request_duration_seconds_count{{{SELECTOR}, {NOT_PROBES}}}"
    return (
        f"1 - (\n  sum by ({BY}) (rate({fast}[{window}]))\n  /\n"
        f"  sum by ({BY}) (rate({answered}[{window}]))\n)\n"
    )


def readiness_failure_ratio() -> str:
    health = f'http_requests_total{{{SELECTOR}, route="/health"}}'
    failed = f'http_requests_total{{{SELECTOR}, route="/health", status!~"2.."}}'
    return (
        f"(\n  sum by ({BY_INSTANCE}) (rate({failed}[5m]))\n  or\n"
        f"  sum by ({BY_INSTANCE}) (rate({health}[5m])) * 0\n)\n"
        f"/\nsum by ({BY_INSTANCE}) (rate({health}[5m]))\n"
    )


def burn_condition(series: str, budget: float, windows: tuple[tuple[str, str, float], ...]) -> str:
    parts = [
        f"(\n  {series}{long}{{{SELECTOR}}} > {number(rate * budget)}\n  and\n"
        f"  {series}{short}{{{SELECTOR}}} > {number(rate * budget)}\n)"
        for long, short, rate in windows
    ]
    return "\nor\n".join(parts) + "\n"


def annotations(summary: str, description: str, alert: str) -> dict[str, str]:
    return {"summary": summary, "description": description, "runbook_url": f"{RUNBOOK}#{alert.lower()}"}


def burn_alerts(slo: str, series: str, objective: float, what: str) -> list[dict[str, Any]]:
    budget = 1 - objective
    alerts = []
    for speed, windows, severity, wait in (
        ("Fast", FAST_BURN, "critical", "2m"),
        ("Slow", SLOW_BURN, "warning", "15m"),
    ):
        name = f"TodoApi{slo.capitalize()}{speed}Burn"
        spent = ", ".join(f"{number(rate)}x over {long}" for long, _short, rate in windows)
        alerts.append(
            {
                "alert": name,
                "expr": burn_condition(series, budget, windows),
                "for": wait,
                "labels": {"severity": severity, "slo": slo},
                "annotations": annotations(
                    f"todo-api is burning its {slo} error budget {speed.lower()}",
                    f"{what.capitalize()} than the SLO allows ({spent}): at this pace the 30-day error "
                    f"budget is gone in {number(30 / min(rate for _l, _s, rate in windows))} days or less.",
                    name,
                ),
            }
        )
    return alerts


def rule_groups() -> list[dict[str, Any]]:
    recording = [
        *({"record": f"{ERRORS}{window}", "expr": error_ratio(window)} for window in WINDOWS),
        *({"record": f"{SLOW}{window}", "expr": slow_ratio(window)} for window in WINDOWS),
        {"record": READINESS, "expr": readiness_failure_ratio()},
    ]
    alerts = [
        *burn_alerts("availability", ERRORS, AVAILABILITY_OBJECTIVE, "more requests get a 5xx answer"),
        *burn_alerts("latency", SLOW, LATENCY_OBJECTIVE, f"more requests take over {LATENCY_THRESHOLD} s"),
        {
            "alert": "TodoApiReadinessFailing",
            "expr": f"{READINESS}{{{SELECTOR}}} > 0.5\n",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": annotations(
                "A todo-api instance is not ready",
                "Most of its readiness checks (GET /health) over 5 minutes failed: it cannot reach the "
                "database in time, and it gets no traffic.",
                "TodoApiReadinessFailing",
            ),
        },
        {
            "alert": "TodoApiNoReadyInstance",
            "expr": f"min by ({BY}) ({READINESS}{{{SELECTOR}}}) > 0.5\n",
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": annotations(
                "No todo-api instance is ready",
                "Every instance fails its readiness checks: the Service has no endpoints, and clients get "
                "errors from the ingress that the service's own SLIs never see.",
                "TodoApiNoReadyInstance",
            ),
        },
        {
            "alert": "TodoApiInstanceDown",
            "expr": f"up{{{SELECTOR}}} == 0\n",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": annotations(
                "A todo-api instance cannot be scraped",
                "Prometheus has failed to scrape it for 5 minutes: it crashed, hangs or cannot be reached.",
                "TodoApiInstanceDown",
            ),
        },
        {
            "alert": "TodoApiDatabasePoolSaturated",
            "expr": (
                f"sum by ({BY_INSTANCE}) (rate(todo_api_db_pool_wait_seconds_sum{{{SELECTOR}}}[10m]))\n/\n"
                f"sum by ({BY_INSTANCE}) (rate(todo_api_db_pool_wait_seconds_count{{{SELECTOR}}}[10m]))\n"
                "> 0.1\n"
            ),
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": annotations(
                "todo-api waits for database connections",
                "Getting a connection from the pool took over 100 ms on average for 10 minutes.",
                "TodoApiDatabasePoolSaturated",
            ),
        },
        {
            "alert": "TodoApiPasswordHashBacklog",
            "expr": f"avg_over_time(todo_api_password_hash_queue_depth{{{SELECTOR}}}[10m]) > 5\n",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": annotations(
                "todo-api password hashes are queueing",
                "Over 5 password hashes waited for a hashing thread, on average over 10 minutes.",
                "TodoApiPasswordHashBacklog",
            ),
        },
        {
            "alert": "TodoApiRateLimitRefusals",
            "expr": (f"sum by ({BY}) (rate(todo_api_rate_limit_refusals_total{{{SELECTOR}}}[10m])) > 1\n"),
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": annotations(
                "todo-api refuses many attempts with 429",
                "More than one login, password change or registration a second was refused by a rate "
                "limit, over 10 minutes.",
                "TodoApiRateLimitRefusals",
            ),
        },
    ]
    return [
        {"name": "todo-api-slo", "rules": recording},
        {"name": "todo-api-alerts", "rules": alerts},
    ]


def panel(title: str, unit: str, targets: list[tuple[str, str]], description: str = "") -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "type": "timeseries",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
            }
            for index, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard() -> dict[str, Any]:
    requests = f"http_requests_total{{{SELECTOR}, {NOT_PROBES}}}"
    buckets = f"http_request_duration_seconds_bucket{{{SELECTOR}, {NOT_PROBES}}}"
    availability_budget = number(1 - AVAILABILITY_OBJECTIVE)
    latency_budget = number(1 - LATENCY_OBJECTIVE)
    panels = [
        panel(
            "Requests per second by route",
            "reqps",
            [(f"sum by (route) (rate({requests}[5m]))", "{{route}}")],
        ),
        panel(
            "Responses per second by status",
            "reqps",
            [(f"sum by (status) (rate({requests}[5m]))", "{{status}}")],
        ),
        panel(
            "Error ratio (5xx); SLO: under 0.1 %",
            "percentunit",
            [
                (f"{ERRORS}5m{{{SELECTOR}}}", "5m"),
                (f"{ERRORS}1h{{{SELECTOR}}}", "1h"),
            ],
        ),
        panel(
            "Latency percentiles",
            "s",
            [
                (f"histogram_quantile({q}, sum by (le) (rate({buckets}[5m])))", f"p{int(q * 100)}")
                for q in (0.5, 0.9, 0.99)
            ],
        ),
        panel(
            f"Requests slower than {LATENCY_THRESHOLD} s; SLO: under 1 %",
            "percentunit",
            [
                (f"{SLOW}5m{{{SELECTOR}}}", "5m"),
                (f"{SLOW}1h{{{SELECTOR}}}", "1h"),
            ],
        ),
        panel(
            "Error budget burn rate (1 = spent in exactly 30 days; pages at 14.4 and 6)",
            "none",
            [
                (f"{ERRORS}1h{{{SELECTOR}}} / {availability_budget}", "availability 1h"),
                (f"{ERRORS}6h{{{SELECTOR}}} / {availability_budget}", "availability 6h"),
                (f"{SLOW}1h{{{SELECTOR}}} / {latency_budget}", "latency 1h"),
                (f"{SLOW}6h{{{SELECTOR}}} / {latency_budget}", "latency 6h"),
            ],
        ),
        panel(
            "Requests in flight",
            "short",
            [(f"sum by (instance) (http_requests_in_flight{{{SELECTOR}}})", "{{instance}}")],
        ),
        panel(
            "Readiness checks failing (share of GET /health)",
            "percentunit",
            [(f"{READINESS}{{{SELECTOR}}}", "{{instance}}")],
        ),
        panel(
            "Database pool: connections",
            "short",
            [
                (
                    f"sum by (instance) (todo_api_db_pool_connections_in_use{{{SELECTOR}}})",
                    "in use {{instance}}",
                ),
                (f"sum by (instance) (todo_api_db_pool_connections_max{{{SELECTOR}}})", "max {{instance}}"),
                (f"sum by (instance) (todo_api_db_pool_waiters{{{SELECTOR}}})", "waiting {{instance}}"),
            ],
        ),
        panel(
            "Database pool: time to get a connection",
            "s",
            [
                (
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(todo_api_db_pool_wait_seconds_bucket{{{SELECTOR}}}[5m])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
        ),
        panel(
            "Password hashes waiting for a thread",
            "short",
            [(f"sum by (instance) (todo_api_password_hash_queue_depth{{{SELECTOR}}})", "{{instance}}")],
        ),
        panel(
            "Rate-limit refusals per second (429)",
            "reqps",
            [(f"sum by (budget) (rate(todo_api_rate_limit_refusals_total{{{SELECTOR}}}[5m]))", "{{budget}}")],
        ),
    ]
    for index, item in enumerate(panels):
        item["id"] = index + 1
        item["gridPos"] = {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)}
    return {
        "uid": "todo-api",
        "title": "todo-api",
        "description": "Generated by k8s/monitoring/generate.py: edit that, not this file.",
        "tags": ["todo-api"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the PromQL), so that the rules read like hand-written ones."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)

HEADER = (
    "# Generated by k8s/monitoring/generate.py from one source: edit that and regenerate, not this file.\n"
)


def to_yaml(document: Any) -> str:
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def outputs() -> dict[str, str]:
    groups = rule_groups()
    prometheus_rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "todo-api",
            "labels": {"app.kubernetes.io/name": "todo-api", "app.kubernetes.io/component": "monitoring"},
        },
        "spec": {"groups": groups},
    }
    return {
        "rules.yaml": to_yaml({"groups": groups}),
        "prometheusrule.yaml": to_yaml(prometheus_rule),
        "dashboard.json": json.dumps(dashboard(), indent=2) + "\n",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the checked-in files; write nothing"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, text in outputs().items():
        path = HERE / name
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(name)
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{name} (checked in)",
                name,
            )
            sys.stdout.writelines(list(diff)[:40])
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run: uv run python k8s/monitoring/generate.py", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
