"""Kueue preempting a real training on the real node: Kueue (v0.17.0, from its Go module) suspends the
run's Job to admit a higher-priority Job, the Job controller deletes the training pod, and when the
quota is free again Kueue re-admits the run, whose next pod resumes from the epochs the first one
mirrored. The CPU of the real node is the scarce quota (the kwok variant in tests/integration/test_kueue.py
does the same with GPUs, without a trainer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.realnode.in_cluster import (
    assert_statistics_add_up,
    demo,
    get,
    host_path,
    items,
    models_of,
    started_events,
    wait_run,
)

pytestmark = pytest.mark.realnode
FLAVOR, HIGH = "real-node-flavor", "kubedet-realnode-high"
# The run asks for 1800m (demo.training_run) and the urgent Job for 500m: both do not fit in 2 CPUs.
CPU_QUOTA = "2"
TRAINER = "kubedet.io/component=trainer"


@pytest.fixture
def cpu_queue(devcluster: Devcluster, data_ns: str) -> Iterator[str]:
    """A LocalQueue `cpus` in the data namespace, on a ClusterQueue of 2 CPUs that preempts lower
    priorities."""
    devcluster.start_kueue(FLAVOR, {HIGH: 1000})
    cluster_queue = f"{data_ns}-cpus"
    devcluster.apply_objects(
        data_ns,
        [
            objects.cluster_queue(
                cluster_queue,
                FLAVOR,
                0,
                {"matchLabels": {"kubernetes.io/metadata.name": data_ns}},
                scarce={"cpu": CPU_QUOTA},
                preemption={"withinClusterQueue": "LowerPriority"},
            ),
            objects.local_queue("cpus", cluster_queue),
        ],
    )
    yield "cpus"
    devcluster.kubectl("delete", "localqueue", "cpus", "-n", data_ns, "--wait=false", check=False)
    devcluster.kubectl("delete", "clusterqueue", cluster_queue, "--wait=false", check=False)


def urgent_job(queue: str) -> dict[str, Any]:
    """A short restricted Job of higher priority in the same queue, on the real node."""
    job = demo.job("urgent", demo.helper_pod_spec(["python", "-c", "import time; time.sleep(3)"], {}))
    job["metadata"]["labels"].update(
        {"kueue.x-k8s.io/queue-name": queue, "kueue.x-k8s.io/priority-class": HIGH}
    )
    job["spec"]["suspend"] = True
    return job


def scheduled(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c["type"] == "Scheduled"), {})


def test_kueue_preempts_a_real_training_which_resumes_from_its_checkpoint(
    devcluster: Devcluster, data_ns: str, cpu_queue: str
) -> None:
    run = demo.training_run("queued", "shapes", 16, backoffLimit=0, queueName=cpu_queue)
    run["spec"]["hyperparameters"]["valInterval"] = 1
    devcluster.apply_objects(data_ns, [run])
    uid = get(devcluster, data_ns, "trainingrun", "queued")["metadata"]["uid"]
    store = host_path(devcluster, data_ns, f"pvc://kubedet-artifacts/{data_ns}")
    selector = f"kubedet.io/training-run=queued,{TRAINER}"

    def mirrored_epoch() -> int:
        states = list(store.glob(f"queued-{uid[:8]}*/_resume/state.json"))
        if not states:
            return 0
        return max((int(e) for e in json.loads(states[0].read_text()).get("history", {})), default=0)

    wait_for(lambda: mirrored_epoch() >= 2, timeout=420, interval=0.5, message="two epochs mirrored")
    admitted = scheduled(get(devcluster, data_ns, "trainingrun", "queued")["status"])
    assert admitted.get("status") == "True" and f"LocalQueue {cpu_queue}" in admitted["message"], admitted
    (first,) = items(devcluster, data_ns, "pods", selector)
    devcluster.apply_objects(data_ns, [urgent_job(cpu_queue)])

    def preempted() -> dict[str, Any] | None:
        status = get(devcluster, data_ns, "trainingrun", "queued").get("status") or {}
        return status if scheduled(status).get("reason") == "Preempted" else None

    status = wait_for(preempted, timeout=120, interval=0.5, message="the run shown Preempted")
    assert status["preemptions"] == 1, status
    saved = mirrored_epoch()
    assert saved < 16, "preempted mid-training"
    # Kueue freed the quota by suspending the Job: the Job controller deleted the training pod, and the
    # urgent Job ran on the real node in its place.
    wait_for(
        lambda: get(devcluster, data_ns, "job", "urgent")["status"].get("succeeded") == 1,
        timeout=240,
        interval=1,
        message="the urgent Job admitted and run",
    )
    (urgent_pod,) = items(devcluster, data_ns, "pods", "job-name=urgent")
    assert urgent_pod["spec"]["nodeName"].startswith("real-node-")
    body = wait_run(devcluster, data_ns, "queued", {"Succeeded", "Failed"}, timeout=600)
    assert body["status"]["phase"] == "Succeeded", body["status"]
    assert body["status"]["preemptions"] == 1 and body["status"]["attempts"] == 2, body["status"]
    (second,) = items(devcluster, data_ns, "pods", selector)
    assert second["metadata"]["name"] != first["metadata"]["name"]
    log = devcluster.kubectl("logs", "-n", data_ns, second["metadata"]["name"]).stdout
    started = started_events(log)
    assert started and started[0].get("resumedFromEpoch") is not None, log[-2000:]
    assert started[0]["resumedFromEpoch"] >= saved, "no mirrored epoch is trained twice"
    jobs = items(devcluster, data_ns, "jobs", selector)
    models = models_of(devcluster, data_ns, "queued")
    assert len(jobs) == 1 and len(models) == 1, "one Job, one model"
    assert models[0]["status"]["statistics"]["epochs"] == 16
    attempts = assert_statistics_add_up(body["status"], models[0], {"Preempted"}, saved)
    assert [a["podName"] for a in attempts] == [first["metadata"]["name"], second["metadata"]["name"]]
