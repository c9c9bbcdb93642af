"""Deleting a run in each phase: its Job and ConfigMaps go, its model goes unless it must survive."""

from __future__ import annotations

import json

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import (
    apply,
    exists,
    get,
    items,
    ready_inputs,
    running_run,
    wait_phase,
)
from tests.operator_process import OperatorProcess

pytestmark = pytest.mark.integration


def delete_run(cluster: Devcluster, namespace: str, run: str) -> None:
    cluster.kubectl("delete", "trainingrun", run, "-n", namespace, "--wait=false")
    wait_for(
        lambda: not exists(cluster, namespace, "trainingrun", run),
        timeout=60,
        message=f"run {run} to be deleted (finalizer released)",
    )


def test_delete_pending_run(devcluster: Devcluster, namespace: str, operator: OperatorProcess) -> None:
    apply(devcluster, namespace, objects.base_model("base"), objects.training_run("r", "missing", "base"))
    wait_phase(devcluster, namespace, "r", "Pending")
    delete_run(devcluster, namespace, "r")
    assert not items(devcluster, namespace, "jobs", "kubedet.io/training-run=r")


def test_delete_running_run_cancels_its_job_and_cleans_up(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    run = running_run(devcluster, namespace)
    job = run["status"]["jobName"]
    delete_run(devcluster, namespace, "r")
    wait_for(
        lambda: not exists(devcluster, namespace, "job", job), timeout=30, message="the training Job to go"
    )
    wait_for(
        lambda: not items(devcluster, namespace, "pods", "kubedet.io/component=trainer"),
        timeout=30,
        message="the training pods to go",
    )
    wait_for(
        lambda: not items(devcluster, namespace, "configmaps", "kubedet.io/training-run=r"),
        timeout=30,
        message="the run's ConfigMaps to be collected",
    )
    events = devcluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert any(e["involvedObject"]["name"].startswith("r-cleanup") for e in json.loads(events)["items"]), (
        "the artifacts of a scheduled run are removed by a cleanup Job"
    )


def test_delete_succeeded_run_deletes_its_unpublished_model(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(devcluster, namespace, objects.training_run("r", "shapes", "base"))
    model = wait_phase(devcluster, namespace, "r", "Succeeded")["status"]["trainedModelRef"]["name"]
    delete_run(devcluster, namespace, "r")
    wait_for(
        lambda: not exists(devcluster, namespace, "trainedmodel", model),
        timeout=30,
        message="the unpublished model to be deleted with its run",
    )


def test_delete_keeps_a_published_model(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(devcluster, namespace, objects.training_run("r", "shapes", "base", publish=True))
    model = wait_phase(devcluster, namespace, "r", "Succeeded")["status"]["trainedModelRef"]["name"]
    wait_for(
        lambda: (
            get(devcluster, namespace, "trainedmodel", model).get("status", {}).get("phase") == "Published"
        ),
        timeout=30,
        message="the model to be Published",
    )
    assert get(devcluster, namespace, "trainedmodel", model)["status"]["publishedAt"]
    delete_run(devcluster, namespace, "r")
    kept = get(devcluster, namespace, "trainedmodel", model)
    assert not kept["metadata"].get("ownerReferences"), "a kept model is released from its run"
    events = devcluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=ModelKept"
    ).stdout
    assert "is published" in events


def test_delete_keeps_a_model_that_is_the_base_of_another(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(devcluster, namespace, objects.training_run("first", "shapes", "base"))
    model = wait_phase(devcluster, namespace, "first", "Succeeded")["status"]["trainedModelRef"]["name"]
    apply(devcluster, namespace, objects.training_run("second", "shapes", model))
    wait_phase(devcluster, namespace, "second", "Succeeded")
    delete_run(devcluster, namespace, "first")
    assert exists(devcluster, namespace, "trainedmodel", model)


def test_delete_failed_run_collects_its_error_configmap(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    apply(
        devcluster,
        namespace,
        objects.training_run(
            "r", "shapes", "base", backoffLimit=0, pod_annotations={"sim.kubedet.io/outcome": "fail"}
        ),
    )
    error_configmap = wait_phase(devcluster, namespace, "r", "Failed")["status"]["errorConfigMapRef"]["name"]
    delete_run(devcluster, namespace, "r")
    wait_for(
        lambda: not exists(devcluster, namespace, "configmap", error_configmap),
        timeout=30,
        message="the error ConfigMap to be collected",
    )
