"""kubedet under a real Kueue (v0.17.0, built from its Go module and started by `devcluster.py kueue`):
quota, queueing, preemption and deactivation of runs whose spec.queueName names a LocalQueue.

The GPU nodes are kwok's, so the trainer is simulated (its pods run for the time an annotation gives);
Kueue, the API server, the Job controller and the operator are real. That a preempted training resumes
from its checkpoint is the trainer's part, shown in a real pod by the eviction test (tests/realnode).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, condition, get, items, ready_inputs, wait_phase
from tests.operator_process import OperatorProcess

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("operator")]
GPU_QUOTA = 8
LOW, HIGH = "kubedet-test-low", "kubedet-test-high"


@pytest.fixture(scope="module")
def kueue(devcluster: Devcluster) -> Devcluster:
    devcluster.start_kueue("default-flavor", {LOW: 100, HIGH: 1000})
    return devcluster


@pytest.fixture
def queue(kueue: Devcluster, namespace: str) -> Iterator[str]:
    """A ClusterQueue of its own for the test (8 GPUs, preemption of lower priorities) and a LocalQueue
    `gpus` in the test's namespace pointing at it."""
    cluster_queue = namespace[:63]
    kueue.apply_objects(
        namespace,
        [
            objects.cluster_queue(
                cluster_queue,
                "default-flavor",
                GPU_QUOTA,
                {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                preemption={"withinClusterQueue": "LowerPriority"},
            ),
            objects.local_queue("gpus", cluster_queue),
        ],
    )
    yield "gpus"
    kueue.kubectl("delete", "clusterqueue", cluster_queue, "--wait=false", check=False)


def gpu_run(name: str, gpus: int, duration: str | None = None, **spec: Any) -> dict[str, Any]:
    """A queued run of `gpus` GPUs whose simulated trainer succeeds after `duration` (None: runs until
    its pod is deleted)."""
    annotations = (
        {
            "sim.kubedet.io/run-duration": duration,
            "sim.kubedet.io/termination-message": objects.trainer_result(name),
        }
        if duration
        else {"sim.kubedet.io/outcome": "hang"}
    )
    return objects.training_run(
        name,
        "shapes",
        "base",
        pod_annotations=annotations,
        queueName="gpus",
        resources={"gpusPerNode": gpus},
        **spec,
    )


def job_of(cluster: Devcluster, namespace: str, run: str) -> dict[str, Any]:
    return get(cluster, namespace, "job", f"{run}-train")


def trainer_pods(cluster: Devcluster, namespace: str, run: str) -> list[dict[str, Any]]:
    return items(cluster, namespace, "pods", f"kubedet.io/training-run={run},kubedet.io/component=trainer")


def scheduled_reason(cluster: Devcluster, namespace: str, run: str) -> tuple[str, str] | None:
    found = condition(get(cluster, namespace, "trainingrun", run), "Scheduled")
    return (found["reason"], found["message"]) if found else None


def test_quota_admits_two_runs_and_queues_the_third_until_one_finishes(
    kueue: Devcluster, namespace: str, queue: str, operator: OperatorProcess
) -> None:
    ready_inputs(kueue, namespace)
    apply(kueue, namespace, gpu_run("first", 4, duration="20s"), gpu_run("second", 4))
    for run in ("first", "second"):
        wait_phase(kueue, namespace, run, "Running", timeout=90)
    apply(kueue, namespace, gpu_run("third", 4, duration="1s"))

    def queued_with_kueues_reason() -> tuple[str, str] | None:
        found = scheduled_reason(kueue, namespace, "third")
        return found if found and "insufficient" in found[1] else None

    reason, message = wait_for(
        queued_with_kueues_reason, timeout=60, message="the third run queued, in Kueue's words"
    )
    assert reason == "Queued", message
    assert f"LocalQueue {queue}" in message and "nvidia.com/gpu" in message, message
    # While the first two hold the quota, nothing un-suspends the third's Job and no pod of it exists:
    # every look for 5 s, each one asserted (until the first run ends and frees its quota).
    looks, watch_until = 0, time.monotonic() + 5
    while time.monotonic() < watch_until:
        if get(kueue, namespace, "trainingrun", "first")["status"]["phase"] != "Running":
            break
        assert get(kueue, namespace, "trainingrun", "third")["status"]["phase"] == "Pending"
        assert job_of(kueue, namespace, "third")["spec"]["suspend"] is True
        assert trainer_pods(kueue, namespace, "third") == []
        looks += 1
        time.sleep(0.5)
    assert looks >= 4, "the first run finished too early to watch the third wait"
    wait_phase(kueue, namespace, "first", "Succeeded", timeout=90)
    done = wait_phase(kueue, namespace, "third", "Succeeded", timeout=90)
    admitted = condition(done, "Scheduled")
    assert (
        admitted
        and admitted["status"] == "True"
        and f"admitted by Kueue from LocalQueue {queue}" in admitted["message"]
    )
    # The second kept its quota all along: never suspended, never preempted.
    second = get(kueue, namespace, "trainingrun", "second")["status"]
    assert second["phase"] == "Running" and not second.get("preemptions"), second


def test_a_higher_priority_workload_preempts_a_run_which_waits_and_resumes(
    kueue: Devcluster, namespace: str, queue: str, operator: OperatorProcess
) -> None:
    ready_inputs(kueue, namespace)
    apply(kueue, namespace, gpu_run("low", GPU_QUOTA, duration="6s"))
    wait_phase(kueue, namespace, "low", "Running", timeout=90)
    (first_pod,) = trainer_pods(kueue, namespace, "low")
    urgent = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "urgent",
            "labels": {"kueue.x-k8s.io/queue-name": queue, "kueue.x-k8s.io/priority-class": HIGH},
        },
        "spec": {
            "suspend": True,
            "template": {
                # Long enough for a loaded machine's operator to show the preemption before the run is
                # admitted again (seen: a 3 s urgent Job done before the run's status said Preempted).
                "metadata": {"annotations": {"sim.kubedet.io/run-duration": "20s"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "resources": {"limits": {"nvidia.com/gpu": GPU_QUOTA}},
                        }
                    ],
                },
            },
        },
    }
    kueue.apply_objects(namespace, [urgent])

    def preempted() -> dict[str, Any] | None:
        status = get(kueue, namespace, "trainingrun", "low").get("status") or {}
        found = condition({"status": status}, "Scheduled")
        # The phase follows once the preempted pod is being deleted (the Job's and the pod's events).
        return status if found and found["reason"] == "Preempted" and status["phase"] == "Pending" else None

    status = wait_for(
        preempted,
        timeout=60,
        message=lambda: f"the run shown Preempted: {get(kueue, namespace, 'trainingrun', 'low')['status']}",
    )
    assert status["preemptions"] == 1, status
    message = condition({"status": status}, "Scheduled")["message"]  # type: ignore[index]
    assert f"LocalQueue {queue}" in message and "resumes from its last checkpoint" in message, message
    assert job_of(kueue, namespace, "low")["spec"]["suspend"] is True
    done = wait_phase(kueue, namespace, "low", "Succeeded", timeout=120)
    assert get(kueue, namespace, "job", "urgent")["status"].get("succeeded") == 1
    assert done["status"]["preemptions"] == 1 and done["status"]["attempts"] == 2, done["status"]
    # The second pod is the same training, resumed: the same run spec (artifact location and resume
    # state included) as the first, in the same Job; one model, one Job.
    pods = trainer_pods(kueue, namespace, "low")
    assert pods and all(p["metadata"]["name"] != first_pod["metadata"]["name"] for p in pods)
    spec_key = "kubedet.io/run-spec"
    first_spec = first_pod["metadata"]["annotations"].get(spec_key)
    assert first_spec, f"the first pod carries no {spec_key} annotation"
    assert pods[-1]["metadata"]["annotations"].get(spec_key) == first_spec
    jobs = items(kueue, namespace, "jobs", "kubedet.io/training-run=low")
    models = json.loads(kueue.kubectl("get", "trainedmodels", "-n", namespace, "-o", "json").stdout)["items"]
    assert len(jobs) == 1
    assert [
        m["metadata"]["name"] for m in models if (m["spec"].get("trainingRunRef") or {}).get("name") == "low"
    ] == ["low-model"]


def test_suspend_is_refused_on_a_queued_run_and_deactivating_its_workload_holds_it(
    kueue: Devcluster, namespace: str, queue: str, operator: OperatorProcess
) -> None:
    ready_inputs(kueue, namespace)
    apply(kueue, namespace, gpu_run("held", 4))
    wait_phase(kueue, namespace, "held", "Running", timeout=90)
    refused = kueue.kubectl(
        "patch",
        "trainingrun",
        "held",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"suspend":true}}',
        check=False,
    )
    assert refused.returncode != 0 and "spec.suspend cannot pause a run submitted to Kueue" in refused.stderr
    job = job_of(kueue, namespace, "held")
    (workload,) = items(
        kueue, namespace, "workloads.kueue.x-k8s.io", f"kueue.x-k8s.io/job-uid={job['metadata']['uid']}"
    )
    name = workload["metadata"]["name"]

    def set_active(active: bool) -> None:
        patch = json.dumps({"spec": {"active": active}})
        kueue.kubectl("patch", "workloads.kueue.x-k8s.io", name, "-n", namespace, "--type=merge", "-p", patch)

    set_active(False)

    def held() -> tuple[str, str] | None:
        found = scheduled_reason(kueue, namespace, "held")
        return found if found and "deactivated (spec.active: false)" in found[1] else None

    reason, message = wait_for(held, timeout=60, message="the run held by its deactivated Workload")
    assert reason == "Queued", message
    wait_for(lambda: trainer_pods(kueue, namespace, "held") == [], timeout=60, message="its pod gone")
    wait_phase(kueue, namespace, "held", "Pending", timeout=30)
    assert job_of(kueue, namespace, "held")["spec"]["suspend"] is True
    set_active(True)
    status = wait_phase(kueue, namespace, "held", "Running", timeout=90)["status"]
    assert status["attempts"] == 2, status
