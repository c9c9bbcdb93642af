"""What the tests of kubedet in real pods share: the operator's namespace and overlay, the demo's
objects (hack/demo/real_objects.py), and reading objects and volumes of the real-node devcluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.devcluster import ROOT, Devcluster, wait_for

SYSTEM = "kubedet-system"
OVERLAY = ROOT / "manifests" / "overlays" / "devcluster-real-node"
PIPES: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}


sys.path.insert(0, str(ROOT / "hack" / "demo"))
import real_objects as demo  # noqa: E402,F401  (re-exported)


def get(cluster: Devcluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout))


def items(cluster: Devcluster, namespace: str, kind: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", kind, "-n", namespace, "-l", selector, "-o", "json").stdout
    return list(json.loads(out)["items"])


def apply(cluster: Devcluster, namespace: str, bodies: list[dict[str, Any]]) -> None:
    cluster.apply_objects(namespace, bodies)


def phase_of(cluster: Devcluster, namespace: str, run: str) -> str | None:
    return (get(cluster, namespace, "trainingrun", run).get("status") or {}).get("phase")


def wait_run(
    cluster: Devcluster, namespace: str, run: str, phases: set[str], timeout: float
) -> dict[str, Any]:
    wait_for(
        lambda: phase_of(cluster, namespace, run) in phases,
        timeout=timeout,
        interval=1,
        message=lambda: f"run {run} in {phases}: {get(cluster, namespace, 'trainingrun', run).get('status')}",
    )
    return get(cluster, namespace, "trainingrun", run)


def host_path(cluster: Devcluster, namespace: str, uri: str) -> Path:
    """Where a pvc:// URI's file lies on this machine: the claim's volume is a hostPath folder."""
    claim, _, rest = uri.removeprefix("pvc://").partition("/")
    volume = get(cluster, namespace, "pvc", claim)["spec"]["volumeName"]
    pv = json.loads(cluster.kubectl("get", "pv", volume, "-o", "json").stdout)
    return Path(pv["spec"]["hostPath"]["path"]) / rest


def started_events(log: str) -> list[dict[str, Any]]:
    """The trainer's "started" progress lines in a pod's log (one per attempt of the process)."""
    return [
        json.loads(line)
        for line in log.splitlines()
        if '"phase": "started"' in line or '"phase":"started"' in line
    ]


def models_of(cluster: Devcluster, namespace: str, run: str) -> list[dict[str, Any]]:
    """The TrainedModels whose lineage names the run."""
    listed = json.loads(cluster.kubectl("get", "trainedmodels", "-n", namespace, "-o", "json").stdout)
    return [m for m in listed["items"] if (m["spec"].get("trainingRunRef") or {}).get("name") == run]


def assert_statistics_add_up(
    status: dict[str, Any], model: dict[str, Any], interrupted: set[str], saved: int
) -> list[dict[str, Any]]:
    """A CPU run interrupted once and resumed: two attempts, the first ended as one of `interrupted`,
    the second resumed from at least epoch `saved`; used is the sum of the attempts' times, lost the
    first one's time after the checkpoint the second resumed from; the model holds the run's totals.
    Returns the attempts."""
    statistics = status["statistics"]
    attempts = statistics["attempts"]
    assert [a["number"] for a in attempts] == [1, 2], statistics
    assert attempts[0]["outcome"] in interrupted and attempts[1]["outcome"] == "Succeeded", attempts
    assert attempts[1]["resumedFromEpoch"] >= saved, attempts
    first, second = attempts
    assert first["secondsLost"] is not None and 0 <= first["secondsLost"] <= first["seconds"], first
    assert second["secondsLost"] == 0 and second["startTime"] >= first["endTime"], attempts
    assert statistics["podSeconds"] == first["seconds"] + second["seconds"] > 0, statistics
    assert statistics["podSecondsLost"] == first["secondsLost"], statistics
    assert statistics["gpuSeconds"] == 0 and statistics["gpuSecondsLost"] == 0, "a CPU run"
    totals = ("gpuSeconds", "gpuSecondsLost", "podSeconds", "podSecondsLost", "attempts")
    assert {k: model["status"]["statistics"][k] for k in totals} == {k: statistics[k] for k in totals}
    return attempts
