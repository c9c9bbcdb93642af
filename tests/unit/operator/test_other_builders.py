"""Error ConfigMap, TrainedModel, Dataset preflight and cleanup builders."""

from __future__ import annotations

import pytest
from tests import kubedet_objects as messages
from tests.unit.operator import fixtures as f

from kubedet.api.constants import Reason
from kubedet.api.preflight import PREFLIGHT_SPEC_ENV, PreflightReport, PreflightSpec
from kubedet.api.runspec import TrainerResult
from kubedet.builders.cleanup import build_cleanup_job, model_must_survive
from kubedet.builders.dataset import build_preflight_job, data_fingerprint, invalid_status, ready_status
from kubedet.builders.errors import build_error_configmap
from kubedet.builders.pods import Termination
from kubedet.builders.run_state import Failure
from kubedet.builders.trainedmodel import build_trained_model, trained_model_status
from kubedet.config import OperatorConfig


def test_error_configmap_records_what_the_app_wrote_to_its_error_file() -> None:
    ended = Termination(
        pod="run-1-train-x",
        exit_code=137,
        reason="OOMKilled",
        message="",
        pod_reason="",
        disrupted=False,
        finished_at=None,
    )
    configmap = build_error_configmap(
        f.run(), Failure(Reason.OUT_OF_MEMORY, "raise memory", ended), f.NOW, "line 1\nline 2"
    )
    assert configmap["metadata"]["name"] == "run-1-error"
    assert configmap["data"]["reason"] == "OutOfMemory" and configmap["data"]["exitCode"] == "137"
    assert configmap["data"]["logTail"] == "line 1\nline 2"
    assert configmap["metadata"]["labels"]["kubedet.io/component"] == "error"


def test_trained_model_has_lineage_and_metrics() -> None:
    result = TrainerResult.model_validate_json(messages.trainer_result("run-1"))
    body = build_trained_model(f.run(), f.dataset(), result)
    spec = body["spec"]
    assert spec["baseModelRef"] == {"name": "base"} and spec["datasetRef"] == {"name": "shapes"}
    assert spec["trainingRunRef"] == {"name": "run-1"} and spec["classes"] == ["circle", "square"]
    assert spec["checkpoint"]["uri"] == result.checkpoint_uri
    status = trained_model_status(result, 1, f.NOW, published=False).to_wire()
    assert status["metrics"]["bboxMAP"] == pytest.approx(0.61)
    assert status["statistics"]["bestEpoch"] == 3 and status["digests"]["checkpoint"] == "ab" * 32


def test_dataset_fingerprint_ignores_publishing() -> None:
    assert data_fingerprint(f.dataset(published=True)) == data_fingerprint(f.dataset(published=False))
    assert data_fingerprint(f.dataset()) != data_fingerprint(f.dataset(classes=["circle"]))


def test_preflight_job_carries_the_dataset_spec() -> None:
    job = build_preflight_job(
        f.dataset(preflight={"podMetadata": {"annotations": {"a": "b"}}}), OperatorConfig()
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    spec = next(e["value"] for e in container["env"] if e["name"] == PREFLIGHT_SPEC_ENV)
    assert PreflightSpec.model_validate_json(spec).dataset.spec.classes == ["circle", "square"]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["template"]["metadata"]["annotations"] == {
        "a": "b"
    }


def test_dataset_status_from_preflight() -> None:
    report = PreflightReport.model_validate_json(messages.preflight_report(images=40))
    ready = ready_status(f.dataset(), report, f.NOW)
    assert ready.phase == "Ready" and ready.images == 40 and ready.class_count == 2
    invalid = invalid_status(f.dataset(), "DatasetInvalid", "image 3 is not an image", f.NOW)
    assert invalid.phase == "Failed" and invalid.conditions[0].message == "image 3 is not an image"


@pytest.mark.parametrize(
    ("model", "base_of_another", "used", "kept"),
    [
        (None, False, False, False),
        ({"spec": {"published": True}}, False, False, True),
        ({"spec": {}}, True, False, True),
        ({"spec": {}}, False, True, True),
        ({"spec": {}}, False, False, False),
    ],
)
def test_which_models_outlive_their_run(model, base_of_another, used, kept) -> None:  # type: ignore[no-untyped-def]
    assert bool(model_must_survive(model, base_of_another, used)) is kept


def test_cleanup_job_writes_only_to_the_output_claim() -> None:
    job = build_cleanup_job(f.run(), "pvc://store/team-a/run-1-0f1e2d3c", OperatorConfig(), 300)
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["cleanup", "--uri", "pvc://store/team-a/run-1-0f1e2d3c"]
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "store", "readOnly": False}
    assert job["spec"]["activeDeadlineSeconds"] == 300


def test_helper_pods_go_where_the_settings_place_them() -> None:
    unset = OperatorConfig()
    for job in (build_preflight_job(f.dataset(), unset), build_cleanup_job(f.run(), "pvc://s/x", unset, 60)):
        pod = job["spec"]["template"]["spec"]
        assert "nodeSelector" not in pod and "tolerations" not in pod, "anywhere the scheduler likes"
    toleration = {"key": "pool", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}
    placed = OperatorConfig(helper_node_selector=(("pool", "cpu"),), helper_tolerations=(toleration,))
    for job in (
        build_preflight_job(f.dataset(), placed),
        build_cleanup_job(f.run(), "pvc://s/x", placed, 60),
    ):
        pod = job["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"pool": "cpu"} and pod["tolerations"] == [toleration]
