"""Shared steps of the operator tests: apply objects, read them back, wait for phases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for

ROOT = Path(__file__).resolve().parents[2]


def apply(cluster: Devcluster, namespace: str, *bodies: dict[str, Any]) -> None:
    existing = cluster.kubectl("get", "pvc", "-n", namespace, "-o", "name").stdout
    if "kubedet-artifacts" not in existing:
        bodies = (*objects.claims(namespace), *bodies)
    cluster.apply_objects(namespace, bodies)


def get(cluster: Devcluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def exists(cluster: Devcluster, namespace: str, kind: str, name: str) -> bool:
    return cluster.kubectl("get", kind, name, "-n", namespace, check=False).returncode == 0


def items(cluster: Devcluster, namespace: str, kind: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", kind, "-n", namespace, "-l", selector, "-o", "json").stdout
    return list(json.loads(out)["items"])


def condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (body.get("status") or {}).get("conditions", []) if c["type"] == kind), None)


def wait_phase(
    cluster: Devcluster, namespace: str, run: str, phase: str, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body = get(cluster, namespace, "trainingrun", run)
        return body if (body.get("status") or {}).get("phase") == phase else None

    return wait_for(reached, timeout=timeout, message=f"run {run} to be {phase}")


def ready_inputs(cluster: Devcluster, namespace: str) -> None:
    """A published, Ready dataset `shapes` and a Ready base model `base`."""
    apply(cluster, namespace, objects.dataset("shapes"), objects.base_model("base"))
    wait_for(
        lambda: (
            (c := condition(get(cluster, namespace, "dataset", "shapes"), "Ready")) and c["status"] == "True"
        ),
        timeout=60,
        message="dataset shapes to be Ready",
    )


def running_run(cluster: Devcluster, namespace: str, name: str = "r") -> dict[str, Any]:
    """Ready inputs and a run whose simulated trainer runs until its pod is deleted; the run once
    Running."""
    ready_inputs(cluster, namespace)
    hang = {"sim.kubedet.io/outcome": "hang"}
    apply(cluster, namespace, objects.training_run(name, "shapes", "base", pod_annotations=hang))
    return wait_phase(cluster, namespace, name, "Running")


def plugin_env(cluster: Devcluster) -> dict[str, str]:
    """The environment `kubectl kubedet` runs in, as a user's shell would have it for the devcluster."""
    return {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT / "trainer_image")]),
    }


def kubedet(
    cluster: Devcluster, namespace: str | None, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = plugin_env(cluster)
    ns = ["-n", namespace] if namespace else []
    return subprocess.run(
        [sys.executable, "-m", "kubedet.cli", *args, *ns],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
