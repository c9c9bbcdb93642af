"""Builders after the review of issue 14: what the garbage collector may delete, and bounded scratch."""

from __future__ import annotations

from tests import kubedet_objects as messages
from tests.unit.operator import fixtures as f

from kubedet.api.runspec import TrainerResult
from kubedet.builders import naming
from kubedet.builders.cleanup import build_cleanup_job
from kubedet.builders.job import build_training_job
from kubedet.builders.runspec import build_run_spec
from kubedet.builders.trainedmodel import build_trained_model
from kubedet.config import OperatorConfig

CONFIG = OperatorConfig(trainer_image="registry.example/kubedet/trainer:1", artifact_store_uri="pvc://store")


def test_a_trained_model_is_never_owned_by_its_run() -> None:
    # Owned (blockOwnerDeletion), a foreground deletion of the run had the garbage collector delete the
    # model before the run's finalizer could keep a published one.
    result = TrainerResult.model_validate_json(messages.trainer_result("run-1"))
    body = build_trained_model(f.run(), f.dataset(), result)
    assert "ownerReferences" not in body["metadata"]
    assert body["metadata"]["labels"]["kubedet.io/training-run-uid"] == f.UID, "ownership is by uid label"
    renamed = build_trained_model(f.run(), f.dataset(), result, naming.trained_model_name("run-1", f.UID))
    assert renamed["metadata"]["name"] == "run-1-0f1e2d3c-model"


def test_the_cleanup_job_outlives_a_foreground_deletion_of_its_run() -> None:
    job = build_cleanup_job(f.run(), "pvc://store/team-a/run-1-0f1e2d3c", OperatorConfig(), 300)
    assert "ownerReferences" not in job["metadata"] and job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["metadata"]["labels"]["kubedet.io/training-run-uid"] == f.UID


def test_scratch_space_is_bounded_and_requested() -> None:
    for spec, size in (({}, "20Gi"), ({"resources": {"ephemeralStorage": "5Gi"}}, "5Gi")):
        run = f.run(**spec)
        job = build_training_job(run, build_run_spec(run, f.dataset(), f.model(), CONFIG), CONFIG)
        pod = job["spec"]["template"]["spec"]
        resources = pod["containers"][0]["resources"]
        assert resources["requests"]["ephemeral-storage"] == resources["limits"]["ephemeral-storage"] == size
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["workspace"]["emptyDir"]["sizeLimit"] == size
        assert volumes["tmp"]["emptyDir"]["sizeLimit"]
