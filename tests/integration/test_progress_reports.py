"""The trainer's progress reports reach its own run, and only its own run, through the API server."""

from __future__ import annotations

import json
import ssl

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, get, ready_inputs, running_run, wait_phase
from tests.operator_process import OperatorProcess

from kubedet_trainer.progress_api import RunStatusReporter

pytestmark = pytest.mark.integration


def trainer_pod(cluster: Devcluster, namespace: str, run: str) -> dict[str, str]:
    pods = json.loads(
        cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", f"kubedet.io/training-run={run}", "-o", "json"
        ).stdout
    )["items"]
    assert len(pods) == 1, pods
    return {"name": pods[0]["metadata"]["name"], "uid": pods[0]["metadata"]["uid"]}


def pod_token(cluster: Devcluster, namespace: str, account: str, pod: dict[str, str] | None) -> str:
    """The token a kubelet mounts into the pod (bound to it, so the API server knows the pod's name);
    kwok runs no kubelet, so the test asks for the same through the TokenRequest API."""
    command = ["create", "token", account, "-n", namespace]
    if pod is not None:
        command += ["--bound-object-kind", "Pod", "--bound-object-name", pod["name"]]
        command += ["--bound-object-uid", pod["uid"]]
    return cluster.kubectl(*command).stdout.strip()


def reporter_for(cluster: Devcluster, namespace: str, run: str, token: str) -> RunStatusReporter:
    config = json.loads(cluster.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    context = ssl.create_default_context(cafile=config["clusters"][0]["cluster"]["certificate-authority"])
    return RunStatusReporter(server, lambda: token, namespace, run, context, min_interval=0)


def test_trainer_patches_its_own_progress_and_nothing_else(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    hang = {"sim.kubedet.io/outcome": "hang"}
    apply(
        devcluster,
        namespace,
        objects.training_run("mine", "shapes", "base", pod_annotations=hang),
        objects.training_run("other", "shapes", "base", pod_annotations=hang),
    )
    run = wait_phase(devcluster, namespace, "mine", "Running")
    wait_phase(devcluster, namespace, "other", "Running")
    job = get(devcluster, namespace, "job", run["status"]["jobName"])
    account = job["spec"]["template"]["spec"]["serviceAccountName"]

    token = pod_token(devcluster, namespace, account, trainer_pod(devcluster, namespace, "mine"))
    mine = reporter_for(devcluster, namespace, "mine", token)
    event = {
        "kind": "progress",
        "phase": "epoch",
        "epoch": 2,
        "maxEpochs": 3,
        "iteration": 40,
        "maxIterations": 60,
        "percent": 66.67,
        "etaSeconds": 31.4,
        "loss": 0.52,
        "bestMAP": 0.41,
        "bestEpoch": 2,
    }
    mine.report(event)
    assert mine.sent == 1 and mine.failures == 0
    progress = wait_for(
        lambda: get(devcluster, namespace, "trainingrun", "mine")["status"].get("progress"),
        timeout=10,
        message="progress on the run",
    )
    assert progress["percent"] == 67 and progress["bestMAP"] == pytest.approx(0.41) and progress["epoch"] == 2
    table = devcluster.kubectl("get", "tr", "mine", "-n", namespace).stdout
    assert "67" in table and "0.41" in table

    # One ServiceAccount serves every trainer of the namespace; the admission policy tells them apart.
    assert (
        account
        == get(
            devcluster,
            namespace,
            "job",
            get(devcluster, namespace, "trainingrun", "other")["status"]["jobName"],
        )["spec"]["template"]["spec"]["serviceAccountName"]
    )
    intruder = reporter_for(devcluster, namespace, "other", token)
    intruder.report(event)
    assert intruder.sent == 0 and intruder.failures == 1, "a trainer must not write another run's status"
    assert "progress" not in get(devcluster, namespace, "trainingrun", "other")["status"]
    unbound = reporter_for(devcluster, namespace, "mine", pod_token(devcluster, namespace, account, None))
    unbound.report({**event, "epoch": 3})
    assert unbound.sent == 0 and unbound.failures == 1, "a token not bound to the run's pod must be refused"

    # Only status.progress: the phase, the conditions and the rest are the operator's.
    forged = devcluster.kubectl(
        "patch",
        "trainingrun",
        "mine",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Succeeded"}}',
        f"--token={token}",
        check=False,
    )
    assert forged.returncode != 0 and "may change status.progress only" in forged.stderr, forged.stderr
    assert get(devcluster, namespace, "trainingrun", "mine")["status"]["phase"] == "Running"

    # The operator's own status writes keep the trainer's progress (merge patches of disjoint fields).
    devcluster.kubectl(
        "patch",
        "trainingrun",
        "mine",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"touched":"yes"}}}',
    )
    assert get(devcluster, namespace, "trainingrun", "mine")["status"]["progress"]["epoch"] == 2


def test_a_deleted_trainer_identity_comes_back_while_runs_need_it(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    running_run(devcluster, namespace)
    account = get(devcluster, namespace, "serviceaccount", "kubedet-trainer")
    devcluster.kubectl("delete", "serviceaccount", "kubedet-trainer", "-n", namespace)

    def recreated() -> bool:
        again = get(devcluster, namespace, "serviceaccount", "kubedet-trainer")
        return bool(again["metadata"]["uid"] != account["metadata"]["uid"])

    wait_for(recreated, timeout=30, message="the operator to make the trainer ServiceAccount again")
    for kind in ("role", "rolebinding"):
        assert get(devcluster, namespace, kind, "kubedet-trainer")["metadata"]["name"] == "kubedet-trainer"
