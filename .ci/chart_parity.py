"""The Helm chart and the kustomize overlay must render the same essentials.

    python .ci/chart_parity.py KUSTOMIZE_RENDER HELM_RENDER

Both arguments are multi-document YAML files (`kubectl kustomize k8s/overlays/X` and
`helm template todo-api k8s/chart/todo-api -f values-X.yaml`). Compared, object by object
(Deployment, migration Job, backup CronJob, Service, HPA, PDB, NetworkPolicy, PVCs): the
kinds that exist, the
image, the probes, the pod's and the container's security context, the environment each
container ends up with (the ConfigMap behind envFrom resolved, Secret references kept as
such), resources, volumes and mounts, the rollout strategy and the scaling figures.

Not compared, on purpose: names and labels (Helm adds the release to both), hook
annotations, the Deployment's replicas when the chart leaves them to the HPA, and comments.
Prints each difference and exits 1 if there is one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]


def load(path: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]


def one(docs: list[Obj], kind: str, component: str | None = None) -> Obj | None:
    found = [
        doc
        for doc in docs
        if doc["kind"] == kind
        and (
            component is None
            or doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        )
    ]
    if len(found) > 1:
        raise SystemExit(f"more than one {kind} ({component}) in the render")
    return found[0] if found else None


def effective_env(container: Obj, docs: list[Obj]) -> dict[str, Any]:
    """What the process sees: envFrom ConfigMaps first, then env entries override."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        config_map = next(
            (d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == ref), None
        )
        if config_map is None:
            raise SystemExit(f"envFrom names the ConfigMap {ref!r}, which the render does not contain")
        env.update({key: str(value) for key, value in config_map.get("data", {}).items()})
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = {
                "secret": ref["name"],
                "key": ref["key"],
                "optional": ref.get("optional", False),
            }
    return env


def without_selector_labels(value: Any) -> Any:
    """Drop label selectors: Helm's carry the release, kustomize's do not."""
    if isinstance(value, dict):
        return {
            key: without_selector_labels(item)
            for key, item in value.items()
            if key not in {"labelSelector", "selector", "podSelector"}
        }
    if isinstance(value, list):
        return [without_selector_labels(item) for item in value]
    return value


def workload(doc: Obj, docs: list[Obj], compare_replicas: bool) -> Obj:
    spec = doc["spec"]
    job_spec = spec["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else spec
    pod = job_spec["template"]["spec"]
    (container,) = pod["containers"]
    essentials: Obj = {
        "image": container["image"],
        "imagePullPolicy": container.get("imagePullPolicy"),
        "command": container.get("command"),
        "ports": container.get("ports"),
        "startupProbe": container.get("startupProbe"),
        "readinessProbe": container.get("readinessProbe"),
        "livenessProbe": container.get("livenessProbe"),
        "lifecycle": container.get("lifecycle"),
        "resources": container.get("resources"),
        "securityContext": container.get("securityContext"),
        "env": effective_env(container, docs),
        "volumeMounts": sorted(container.get("volumeMounts", []), key=lambda m: m["mountPath"]),
        "pod.securityContext": pod.get("securityContext"),
        "pod.automountServiceAccountToken": pod.get("automountServiceAccountToken"),
        "pod.terminationGracePeriodSeconds": pod.get("terminationGracePeriodSeconds"),
        "pod.restartPolicy": pod.get("restartPolicy"),
        "pod.topologySpreadConstraints": without_selector_labels(pod.get("topologySpreadConstraints")),
        "pod.affinity": without_selector_labels(pod.get("affinity")),
        # Volume types and sizes; a claim's name is the release's.
        "pod.volumes": sorted(
            (
                {
                    "name": volume["name"],
                    **{
                        k: (v if k != "persistentVolumeClaim" else "claim")
                        for k, v in volume.items()
                        if k != "name"
                    },
                }
                for volume in pod.get("volumes", [])
            ),
            key=lambda v: v["name"],
        ),
    }
    if doc["kind"] == "Deployment":
        essentials["strategy"] = spec.get("strategy")
        essentials["revisionHistoryLimit"] = spec.get("revisionHistoryLimit")
        if compare_replicas:
            essentials["replicas"] = spec.get("replicas")
    else:
        for key in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
            essentials[key] = job_spec.get(key)
    if doc["kind"] == "CronJob":
        for key in ("schedule", "timeZone", "concurrencyPolicy", "startingDeadlineSeconds"):
            essentials[key] = spec.get(key)
    return essentials


def diff(label: str, left: Any, right: Any, problems: list[str]) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            diff(f"{label}.{key}", left.get(key), right.get(key), problems)
        return
    if left != right:
        k_json, h_json = json.dumps(left, sort_keys=True), json.dumps(right, sort_keys=True)
        problems.append(f"{label}:\n    kustomize: {k_json}\n    helm:      {h_json}")


def compare(kustomize: list[Obj], helm: list[Obj]) -> list[str]:
    problems: list[str] = []
    kinds_k = sorted({d["kind"] for d in kustomize})
    kinds_h = sorted({d["kind"] for d in helm})
    diff("kinds", kinds_k, kinds_h, problems)

    hpa_in_chart = one(helm, "HorizontalPodAutoscaler") is not None
    for kind, component in (("Deployment", "api"), ("Job", "migration"), ("CronJob", "backup")):
        k, h = one(kustomize, kind, component), one(helm, kind, component)
        if k is None and h is None:
            continue
        if k is None or h is None:
            problems.append(f"{kind} ({component}): only in {'helm' if k is None else 'kustomize'}")
            continue
        # With an HPA the chart leaves replicas to it (helm upgrade would reset them).
        compare_replicas = not hpa_in_chart
        diff(kind, workload(k, kustomize, compare_replicas), workload(h, helm, compare_replicas), problems)

    for kind, component in (
        ("Service", None),
        ("HorizontalPodAutoscaler", None),
        ("PodDisruptionBudget", None),
        ("NetworkPolicy", None),
        ("PersistentVolumeClaim", "data"),
        ("PersistentVolumeClaim", "backup"),
    ):
        k, h = one(kustomize, kind, component), one(helm, kind, component)
        if k is None and h is None:
            continue
        if k is None or h is None:
            problems.append(f"{kind} ({component}): only in {'helm' if k is None else 'kustomize'}")
            continue
        k_spec, h_spec = without_selector_labels(k["spec"]), without_selector_labels(h["spec"])
        if kind == "HorizontalPodAutoscaler":
            for spec in (k_spec, h_spec):
                spec["scaleTargetRef"].pop("name")
        diff(f"{kind}.{component}" if component else kind, k_spec, h_spec, problems)
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    problems = compare(load(argv[1]), load(argv[2]))
    for problem in problems:
        print(f"DIFF {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
