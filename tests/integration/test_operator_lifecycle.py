"""The operator drives TrainingRuns through their lifecycle on the devcluster (kwok plays the trainer)."""

from __future__ import annotations

import json

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, condition, get, wait_phase
from tests.operator_process import OperatorProcess

pytestmark = pytest.mark.integration


def test_happy_path_produces_a_trained_model_with_lineage(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    # The preflight and training pods must pass the strictest PodSecurity level.
    devcluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    apply(
        devcluster,
        namespace,
        objects.dataset("shapes"),
        objects.base_model("rtmdet-tiny"),
        objects.training_run("run-1", "shapes", "rtmdet-tiny"),
    )
    run = wait_phase(devcluster, namespace, "run-1", "Succeeded")
    assert condition(run, "Succeeded")["status"] == "True"
    assert condition(run, "Validated")["status"] == "True"
    assert run["status"]["completionTime"] and run["status"]["startTime"]
    model_name = run["status"]["trainedModelRef"]["name"]
    model = wait_for(
        lambda: (
            (m := get(devcluster, namespace, "trainedmodel", model_name)).get("status", {}).get("metrics")
            and m
        ),
        timeout=30,
        message="the TrainedModel's metrics",
    )
    assert model["spec"]["baseModelRef"]["name"] == "rtmdet-tiny"
    assert model["spec"]["datasetRef"]["name"] == "shapes"
    assert model["spec"]["trainingRunRef"]["name"] == "run-1"
    assert model["status"]["metrics"]["bboxMAP"] == pytest.approx(0.61)
    assert model["status"]["statistics"]["bestEpoch"] == 3
    assert condition(model, "Ready")["status"] == "True"
    jobs = json.loads(
        devcluster.kubectl(
            "get", "jobs", "-n", namespace, "-l", "kubedet.io/training-run=run-1", "-o", "json"
        ).stdout
    )["items"]
    assert len(jobs) == 1
    events = devcluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=run-1",
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout.split()
    assert {"Validated", "JobCreated", "TrainingSucceeded"} <= set(events), events
    exported = operator.metrics()
    assert 'kubedet_trainingruns{phase="Succeeded"}' in exported
    assert "kubedet_reconcile_seconds_count" in exported
    table = devcluster.kubectl("get", "tr,tm", "-n", namespace).stdout
    assert "Succeeded" in table and "0.61" in table, table


def test_missing_dataset_then_created_proceeds(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(devcluster, namespace, objects.base_model("base"), objects.training_run("waits", "later", "base"))
    run = wait_for(
        lambda: (
            (r := get(devcluster, namespace, "trainingrun", "waits"))
            and (c := condition(r, "Validated"))
            and c["reason"] == "DatasetNotFound"
            and r
        ),
        timeout=30,
        message="Validated=False DatasetNotFound",
    )
    assert run["status"]["phase"] == "Pending"
    assert "spec.datasetRef.name" in condition(run, "Validated")["message"]
    apply(devcluster, namespace, objects.dataset("later"))
    wait_phase(devcluster, namespace, "waits", "Succeeded")


def test_suspended_draft_waits_then_runs_when_resumed(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(
        devcluster,
        namespace,
        objects.dataset("d"),
        objects.base_model("m"),
        objects.training_run("draft", "d", "m", suspend=True),
    )
    wait_for(
        lambda: (
            (c := condition(get(devcluster, namespace, "trainingrun", "draft"), "Suspended"))
            and c["status"] == "True"
        ),
        timeout=30,
        message="the draft to be Suspended",
    )
    trainer_jobs = devcluster.kubectl(
        "get", "jobs", "-n", namespace, "-l", "kubedet.io/component=trainer", "-o", "name"
    ).stdout
    assert trainer_jobs.strip() == "", "a draft must not be scheduled"
    devcluster.kubectl(
        "patch", "trainingrun", "draft", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":false}}'
    )
    wait_phase(devcluster, namespace, "draft", "Succeeded")
