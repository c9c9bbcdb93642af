"""GPU contention, multi-node runs, and an operator killed mid-run."""

from __future__ import annotations

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, condition, get, items, ready_inputs, wait_phase
from tests.operator_process import OperatorProcess

pytestmark = pytest.mark.integration


def test_more_runs_than_gpus_wait_with_the_schedulers_reason(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    gpu_nodes = [
        n
        for n in items(devcluster, "default", "nodes", "nvidia.com/gpu.present=true")
        if n["status"]["allocatable"].get("nvidia.com/gpu") == "8"
    ]
    runs = [f"big-{i}" for i in range(len(gpu_nodes) + 1)]
    slow = {
        "sim.kubedet.io/run-duration": "6s",
        "sim.kubedet.io/termination-message": objects.trainer_result("x"),
    }
    apply(
        devcluster,
        namespace,
        *[
            objects.training_run(name, "shapes", "base", pod_annotations=slow, resources={"gpusPerNode": 8})
            for name in runs
        ],
    )

    def one_waits_for_gpus() -> dict | None:
        for name in runs:
            running = condition(get(devcluster, namespace, "trainingrun", name), "Running")
            if (
                running
                and running["status"] == "False"
                and "Insufficient nvidia.com/gpu" in running["message"]
            ):
                return running
        return None

    waiting = wait_for(one_waits_for_gpus, timeout=60, message="a run pending for lack of GPUs")
    assert waiting["reason"] == "Unschedulable"
    for name in runs:
        wait_phase(devcluster, namespace, name, "Succeeded", timeout=120)


def test_pending_reason_names_what_the_scheduler_refused(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(
        devcluster,
        namespace,
        objects.training_run(
            "r", "shapes", "base", resources={"gpusPerNode": 8}, nodeSelector={"kubedet.io/none": "x"}
        ),
    )
    # nodeSelector matching nothing: the Job is created and the scheduler says why it waits.
    running = wait_for(
        lambda: (
            (c := condition(get(devcluster, namespace, "trainingrun", "r"), "Running"))
            and c["status"] == "False"
            and c
        ),
        timeout=60,
        message="the pending reason",
    )
    assert "node affinity/selector" in running["message"] or "didn't match" in running["message"]


def test_multi_node_run_uses_an_indexed_job_with_rendezvous(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(
        devcluster,
        namespace,
        objects.training_run("dist", "shapes", "base", resources={"gpusPerNode": 4, "nodes": 2}),
    )
    run = wait_phase(devcluster, namespace, "dist", "Succeeded")
    job = get(devcluster, namespace, "job", run["status"]["jobName"])
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    pod_spec = job["spec"]["template"]["spec"]
    service = get(devcluster, namespace, "service", pod_spec["subdomain"])
    assert service["spec"]["clusterIP"] == "None"
    env = {e["name"]: e for e in pod_spec["containers"][0]["env"]}
    assert env["NNODES"]["value"] == "2" and env["NPROC_PER_NODE"]["value"] == "4"
    assert env["MASTER_ADDR"]["value"].startswith(
        f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    )
    assert "job-completion-index" in env["NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_operator_killed_mid_run_makes_no_duplicates(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    slow = {
        "sim.kubedet.io/run-duration": "5s",
        "sim.kubedet.io/termination-message": objects.trainer_result("x"),
    }
    names = [f"r{i}" for i in range(5)]
    apply(
        devcluster,
        namespace,
        *[objects.training_run(n, "shapes", "base", pod_annotations=slow) for n in names],
    )
    wait_for(
        lambda: len(items(devcluster, namespace, "jobs", "kubedet.io/component=trainer")) >= 2,
        timeout=30,
        message="some Jobs to exist",
    )
    operator.kill()
    operator.start()
    wait_for(
        lambda: any(
            get(devcluster, namespace, "trainingrun", n).get("status", {}).get("phase") == "Running"
            for n in names
        ),
        timeout=30,
        message="a run Running after the restart",
    )
    operator.kill()
    operator.start()
    for name in names:
        wait_phase(devcluster, namespace, name, "Succeeded", timeout=90)
        assert (
            len(
                items(
                    devcluster,
                    namespace,
                    "jobs",
                    f"kubedet.io/training-run={name},kubedet.io/component=trainer",
                )
            )
            == 1
        )
        assert len(items(devcluster, namespace, "trainedmodels", f"kubedet.io/training-run={name}")) == 1
