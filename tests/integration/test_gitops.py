"""GitOps on the devcluster: re-applying is harmless, immutable changes are refused, and the Argo CD
health checks in manifests/gitops/health/ judge the objects the operator really produced."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster
from tests.e2e.gitops_health import evaluate
from tests.e2e.kube import has_condition, wait_object
from tests.integration.operator_helpers import apply, get, items, ready_inputs, wait_phase
from tests.operator_process import OperatorProcess

from kubedet.api.runspec import EXIT_CODES, FailureReason

pytestmark = pytest.mark.integration


def failing_run(name: str) -> dict[str, Any]:
    message = objects.trainer_failure(FailureReason.TRAINING_DIVERGED, "the loss became NaN at epoch 2")
    return objects.training_run(
        name,
        "shapes",
        "base",
        backoffLimit=0,
        pod_annotations={
            "sim.kubedet.io/outcome": "fail",
            "sim.kubedet.io/exit-code": str(EXIT_CODES[FailureReason.TRAINING_DIVERGED]),
            "sim.kubedet.io/termination-message": message,
        },
    )


def server_side_apply(cluster: Devcluster, namespace: str, body: dict[str, Any], check: bool = True) -> str:
    """What Argo CD (ServerSideApply=true) and Flux send on every sync."""
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=gitops",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(body),
        check=check,
    )
    return result.stdout + result.stderr


def test_health_checks_judge_real_objects(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(devcluster, namespace, objects.base_model("base"), objects.training_run("early", "missing", "base"))
    waiting = wait_object(
        devcluster,
        namespace,
        "trainingrun",
        "early",
        has_condition("Validated", reason="DatasetNotFound"),
        "Validated=False DatasetNotFound",
    )
    health = evaluate("TrainingRun", waiting)
    assert (health.status, health.message.split(":")[0]) == ("Progressing", "DatasetNotFound"), health

    ready_inputs(devcluster, namespace)
    apply(
        devcluster,
        namespace,
        objects.training_run("good", "shapes", "base"),
        failing_run("bad"),
        objects.training_run("draft", "shapes", "base", suspend=True),
    )

    good = wait_phase(devcluster, namespace, "good", "Succeeded")
    model_name = good["status"]["trainedModelRef"]["name"]
    assert evaluate("TrainingRun", good) == evaluate("TrainingRun", good)  # pure: no state between calls
    health = evaluate("TrainingRun", good)
    assert health.status == "Healthy" and model_name in health.message, health

    bad = wait_phase(devcluster, namespace, "bad", "Failed")
    health = evaluate("TrainingRun", bad)
    assert health.status == "Degraded", health
    assert (
        "TrainingDiverged" in health.message and bad["status"]["errorConfigMapRef"]["name"] in health.message
    )

    draft = wait_object(
        devcluster,
        namespace,
        "trainingrun",
        "draft",
        has_condition("Suspended", status="True"),
        "the draft to be Suspended",
    )
    assert evaluate("TrainingRun", draft).status == "Suspended"

    model = wait_object(
        devcluster,
        namespace,
        "trainedmodel",
        model_name,
        has_condition("Ready", status="True"),
        "the trained model to be Ready",
    )
    assert evaluate("TrainedModel", model).status == "Healthy"
    base = get(devcluster, namespace, "trainedmodel", "base")
    assert evaluate("TrainedModel", base) == evaluate("TrainedModel", base)
    assert evaluate("TrainedModel", base).status in {"Healthy", "Progressing"}


def test_reapplying_a_run_does_not_retrain(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    run = objects.training_run("gitops", "shapes", "base", ttlSecondsAfterFinished=3600)
    server_side_apply(devcluster, namespace, run)
    before = wait_phase(devcluster, namespace, "gitops", "Succeeded")

    # Syncs with nothing changed (server-side as Argo CD and Flux, client-side as a person) leave the
    # spec, and so the generation, alone.
    for _ in range(2):
        server_side_apply(devcluster, namespace, run)
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(run))
    after = get(devcluster, namespace, "trainingrun", "gitops")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]

    # A changed training field is refused by the CRD's CEL rules, with a message Argo CD shows.
    changed = json.loads(json.dumps(run))
    changed["spec"]["hyperparameters"]["epochs"] = 7
    refused = server_side_apply(devcluster, namespace, changed, check=False)
    assert "immutable" in refused and "create a new TrainingRun" in refused, refused

    # A change that is allowed (a field that does not shape the training) bumps the generation but
    # must not retrain. A finished run is terminal, so the operator records nothing for it; a run
    # applied after the change and trained to the end is the barrier showing the operator has
    # handled the change by then.
    run["spec"]["ttlSecondsAfterFinished"] = 7200
    server_side_apply(devcluster, namespace, run)
    changed_run = get(devcluster, namespace, "trainingrun", "gitops")
    assert changed_run["metadata"]["generation"] == before["metadata"]["generation"] + 1
    server_side_apply(devcluster, namespace, objects.training_run("barrier", "shapes", "base"))
    wait_phase(devcluster, namespace, "barrier", "Succeeded")
    final = get(devcluster, namespace, "trainingrun", "gitops")
    assert final["status"]["phase"] == "Succeeded"
    assert final["status"]["trainedModelRef"] == before["status"]["trainedModelRef"]
    jobs = items(devcluster, namespace, "jobs", "kubedet.io/training-run=gitops,kubedet.io/component=trainer")
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    # The health check judges a finished run by its phase, even with a newer generation.
    assert evaluate("TrainingRun", final).status == "Healthy"
