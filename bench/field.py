"""What users would pick instead of kubedet, measured on the same cluster: Kubeflow Trainer v2 TrainJobs
(TrainJob -> JobSet -> Job -> pod), each phase optionally under Kueue.

A TrainJob here is what a kubedet run is: one pod on one GPU node, the torch-distributed
ClusterTrainingRuntime that Kubeflow Trainer ships, the resources kubedet's own Job builder gives its
trainer, and the same kwok annotations (how long the pod runs, the result it ends with), set through the
TrainJob's runtimePatches, the API Kubeflow Trainer offers for pod metadata.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster

from bench import cluster, stats
from bench.scenarios import (
    CLUSTER_QUEUE,
    QUEUE_LABEL,
    WRITES,
    Options,
    baseline_job,
    cluster_requests,
    create_all,
    local_queue,
    per_run,
    pod_annotations,
    request_totals,
    run_names,
    wait_count,
)
from bench.tracker import Tracker

JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
RUNTIME = "torch-distributed"
LOCAL_QUEUE = "bench"


def trainer_resources() -> dict[str, Any]:
    """The resources kubedet gives its trainer container (one GPU), from kubedet's own builder."""
    job = baseline_job("resources", "resources", "1s")
    return dict(job["spec"]["template"]["spec"]["containers"][0]["resources"])


def trainjob(name: str, run_duration: str, resources: dict[str, Any], queue: str | None) -> dict[str, Any]:
    annotations = pod_annotations(name, run_duration)
    pod_patch = {"template": {"spec": {"template": {"metadata": {"annotations": annotations}}}}}
    body: dict[str, Any] = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: queue} if queue else {}},
        "spec": {
            "runtimeRef": {"name": RUNTIME},
            "trainer": {"numNodes": 1, "resourcesPerNode": resources},
            "runtimePatches": [
                {
                    "manager": "kubedet.io/bench",
                    "trainingRuntimeSpec": {
                        "template": {"spec": {"replicatedJobs": [{"name": "node", **pod_patch}]}}
                    },
                }
            ],
        },
    }
    return body


def queue_objects(gpus: int) -> list[dict[str, Any]]:
    """A ResourceFlavor and a ClusterQueue of `gpus` GPUs for every namespace (CPU, memory and scratch
    space without a real limit: the GPUs are what makes the runs queue)."""
    return [
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": "bench"}},
        objects.cluster_queue(CLUSTER_QUEUE, "bench", gpus, {}),
    ]


def controller_pids(names: list[str]) -> dict[str, int]:
    """The devcluster's running controllers by name (their pid files)."""
    pids: dict[str, int] = {}
    for name in names:
        path = cluster.state_dir() / "pids" / f"{name}.pid"
        if path.exists():
            pid = int(path.read_text())
            if Path(f"/proc/{pid}").exists():
                pids[name] = pid
    return pids


def process_figures(before: dict[str, stats.ProcessSample], pids: dict[str, int]) -> dict[str, Any]:
    after = {name: stats.process_sample(pid) for name, pid in pids.items()}
    return {
        name: {
            "cpu_seconds": round(after[name].cpu_seconds - before[name].cpu_seconds, 2),
            "peak_rss_mib": round(after[name].peak_rss_mib, 1),
        }
        for name in pids
    }


def latencies(
    names: list[str], start: dict[str, float], end: dict[str, float]
) -> dict[str, float | int | None]:
    return stats.percentiles(end[name] - start[name] for name in names if name in start and name in end)


def run_trainjobs(
    dev: Devcluster, api: client.ApiClient, n: int, options: Options, queue: str | None
) -> dict[str, Any]:
    namespace = f"bench-trainjob-{n}-{uuid.uuid4().hex[:5]}"
    cluster.create_namespace(dev, namespace)
    local_queue(dev, namespace, queue)
    names = run_names(n)
    resources = trainer_resources()
    bodies = [(name, trainjob(name, options.run_duration, resources, queue)) for name in names]
    tracker = Tracker(api, namespace)
    tracker.watch_trainjobs()
    tracker.watch_pods(JOBSET_NAME_LABEL)
    custom = client.CustomObjectsApi(api)
    pids = controller_pids(["trainer-controller-manager", "jobset", "kueue"])
    before = {name: stats.process_sample(pid) for name, pid in pids.items()}
    requests_before = request_totals(api)
    start = time.monotonic()
    created = create_all(
        bodies,
        lambda body: custom.create_namespaced_custom_object(
            "trainer.kubeflow.org", "v1alpha1", namespace, "trainjobs", body
        ),
        options.create_workers,
    )
    created_all = time.monotonic() - start
    wait_count(
        lambda: len(tracker.trainjob_complete) + len(tracker.trainjob_failed),
        n,
        options.timeout,
        "TrainJobs done",
    )
    wall = max(tracker.trainjob_complete.values(), default=start) - start
    time.sleep(2)  # the controllers' last writes of the last TrainJobs land before counting
    requests = cluster_requests(stats.delta(request_totals(api), requests_before))
    controllers = process_figures(before, pids)
    tracker.stop()
    return {
        "namespace": namespace,
        "wall_seconds": round(wall, 2),
        "create_seconds": round(created_all, 2),
        "succeeded": len(tracker.trainjob_complete),
        "failed": len(tracker.trainjob_failed),
        "create_to_pod_running_seconds": latencies(names, created, tracker.pod_running),
        "pod_ended_to_terminal_seconds": latencies(names, tracker.pod_ended, tracker.trainjob_complete),
        "create_to_terminal_seconds": latencies(names, created, tracker.trainjob_complete),
        "cluster_requests_per_run": per_run(stats.group(requests, ("verb", "resource", "subresource")), n),
        "cluster_writes_per_run": round(sum(stats.group(requests, ("verb",), WRITES).values()) / n, 2),
        "controllers": controllers,
        "controller_cpu_seconds": round(
            sum(c["cpu_seconds"] for k, c in controllers.items() if k != "kueue"), 2
        ),
        "controller_peak_rss_mib": round(
            sum(c["peak_rss_mib"] for k, c in controllers.items() if k != "kueue"), 1
        ),
        "machine_load": list(os.getloadavg()),
    }
