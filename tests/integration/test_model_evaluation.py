"""ModelEvaluations on the devcluster: the operator runs the evaluation Job (kwok plays the trainer's
evaluate command through the pod's termination message) and records the figures, the failures and the
waits; the API server keeps an evaluation's spec immutable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, condition, exists, get, kubedet, ready_inputs
from tests.operator_process import OperatorProcess

from kubedet.api.runspec import FailureReason

pytestmark = pytest.mark.integration


def wait_evaluation(
    cluster: Devcluster, namespace: str, name: str, phase: str, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body = get(cluster, namespace, "modelevaluation", name)
        return body if (body.get("status") or {}).get("phase") == phase else None

    return wait_for(
        reached,
        timeout=timeout,
        message=lambda: (
            f"evaluation {name} to be {phase}: {get(cluster, namespace, 'meval', name).get('status')}"
        ),
    )


def test_an_evaluation_records_coco_figures_per_class_in_status(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    # The evaluation pod must pass the strictest PodSecurity level, as training pods do.
    devcluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    ready_inputs(devcluster, namespace)
    apply(devcluster, namespace, objects.model_evaluation("base-on-shapes", "base", "shapes", mAP=0.47))
    done = wait_evaluation(devcluster, namespace, "base-on-shapes", "Succeeded")
    status = done["status"]
    assert status["metrics"]["bboxMAP"] == pytest.approx(0.47)
    assert status["metrics"]["perClassAP"] == {"circle": pytest.approx(0.52), "square": pytest.approx(0.42)}
    assert set(status["metrics"]["perClassRecall"]) == {"circle", "square"}
    assert status["images"] == 8 and status["modelDigest"] == objects.EVALUATED_CHECKPOINT_SHA
    assert condition(done, "Succeeded")["reason"] == "EvaluationSucceeded"
    job = json.loads(
        devcluster.kubectl("get", "job", status["jobName"], "-n", namespace, "-o", "json").stdout
    )
    assert job["metadata"]["ownerReferences"][0]["kind"] == "ModelEvaluation"
    spec = json.loads(
        next(
            e["value"]
            for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
            if e["name"] == "KUBEDET_EVALUATION_SPEC"
        )
    )
    assert (spec["split"], spec["model"]["name"], spec["dataset"]["name"]) == ("val", "base", "shapes")
    # What `kubectl get meval` shows.
    table = devcluster.kubectl("get", "meval", "base-on-shapes", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "MODEL", "DATASET", "SPLIT", "MAP", "MAP50"]
    assert row.split()[:6] == ["base-on-shapes", "base", "shapes", "val", "0.47", "0.7"]


def test_a_failed_evaluation_names_the_reason_and_keeps_the_log(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    failing = objects.model_evaluation(
        "wrong-classes",
        "base",
        "shapes",
        pod_annotations={
            "sim.kubedet.io/outcome": "fail",
            "sim.kubedet.io/exit-code": "42",
            "sim.kubedet.io/termination-message": objects.trainer_failure(
                FailureReason.DATASET_INVALID,
                "the checkpoint's classes are [a, b, c]; the dataset's [circle, square]",
            ),
        },
    )
    apply(devcluster, namespace, failing)
    failed = wait_evaluation(devcluster, namespace, "wrong-classes", "Failed")
    reason = condition(failed, "Failed")
    assert reason["reason"] == "DatasetInvalid" and "checkpoint's classes" in reason["message"]
    configmap_name = failed["status"]["errorConfigMapRef"]["name"]
    configmap = wait_for(
        lambda: (
            exists(devcluster, namespace, "configmap", configmap_name)
            and get(devcluster, namespace, "configmap", configmap_name)
        ),
        timeout=30,
        message="the evaluation's error ConfigMap",
    )
    assert configmap["data"]["reason"] == "DatasetInvalid" and configmap["data"]["exitCode"] == "42"
    assert configmap["metadata"]["ownerReferences"][0]["name"] == "wrong-classes"
    # A measurement that failed stays failed: no second Job.
    jobs = devcluster.kubectl(
        "get", "jobs", "-n", namespace, "-l", "kubedet.io/model-evaluation=wrong-classes", "-o", "name"
    )
    assert len(jobs.stdout.split()) == 1


def test_an_evaluation_waits_for_its_model_then_runs(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(devcluster, namespace, objects.model_evaluation("early", "not-yet", "shapes"))
    waiting = wait_for(
        lambda: (
            (c := condition(get(devcluster, namespace, "meval", "early"), "Scheduled"))
            and c["reason"] == "ModelNotFound"
            and c
        ),
        timeout=30,
        message="the evaluation to say its model is missing",
    )
    assert "spec.modelRef.name" in waiting["message"]
    apply(devcluster, namespace, objects.base_model("not-yet"))
    wait_evaluation(devcluster, namespace, "early", "Succeeded")


def test_an_evaluations_spec_is_immutable(devcluster: Devcluster, namespace: str) -> None:
    apply(devcluster, namespace, objects.model_evaluation("fixed", "base", "shapes"))
    patched = devcluster.kubectl(
        "patch",
        "meval",
        "fixed",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"split":"test"}}',
        check=False,
    )
    assert patched.returncode != 0
    assert "spec is immutable" in patched.stderr and "create another ModelEvaluation" in patched.stderr


def test_compare_creates_the_missing_evaluation_placed_like_the_other_and_shows_both(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(
        devcluster,
        namespace,
        objects.base_model("challenger"),
        objects.model_evaluation("base-on-shapes", "base", "shapes", mAP=0.47),
    )
    wait_evaluation(devcluster, namespace, "base-on-shapes", "Succeeded")
    compared = kubedet(
        devcluster, namespace, "compare", "base", "challenger", "--on", "shapes", "--split", "val"
    )
    assert compared.returncode == 0, compared.stderr
    assert "modelevaluation/challenger-on-shapes-val-" in compared.stdout
    assert "A: base (evaluation base-on-shapes)" in compared.stdout
    # The created evaluation copied the other's pod metadata, so kwok answered it the same way.
    circle = next(line for line in compared.stdout.splitlines() if line.startswith("circle"))
    assert circle.split()[:4] == ["circle", "0.520", "0.520", "+0.000"]
    # A second compare reuses both evaluations.
    again = kubedet(
        devcluster,
        namespace,
        "compare",
        "base",
        "challenger",
        "--on",
        "shapes",
        "--split",
        "val",
        "-o",
        "json",
    )
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["b"]["evaluation"].startswith("challenger-on-shapes-val-")
    evaluations = json.loads(devcluster.kubectl("get", "meval", "-n", namespace, "-o", "json").stdout)[
        "items"
    ]
    assert len(evaluations) == 2


def test_compare_as_a_viewer_is_refused_creating_and_says_which_role_grants_it(
    devcluster: Devcluster, namespace: str
) -> None:
    ready_inputs(devcluster, namespace)
    devcluster.kubectl(
        "create", "rolebinding", "viewer", "--clusterrole=kubedet-viewer", "--user=eve", "-n", namespace
    )
    refused = kubedet(devcluster, namespace, "compare", "base", "base", "--on", "shapes", "--as", "eve")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "create kubedet.io/modelevaluations" in refused.stderr
    assert "kubedet-create-model-evaluation" in refused.stderr
