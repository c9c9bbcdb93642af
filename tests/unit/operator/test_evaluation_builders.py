"""The ModelEvaluation builders: its Job, its error ConfigMap, and the decision from any observed state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.unit.operator import fixtures

from kubedet.api.constants import ConditionStatus, ConditionType, Label, Phase, Reason
from kubedet.api.evaluation import EVALUATION_SPEC_ENV, EvaluationResult, EvaluationSpec
from kubedet.api.modelevaluation import ModelEvaluation
from kubedet.api.runspec import FailureReason, TrainerFailure
from kubedet.builders.evaluation import (
    EvaluationDecision,
    build_evaluation_error_configmap,
    build_evaluation_job,
    decide_evaluation,
)
from kubedet.config import OperatorConfig

EVAL_UID = "e0e0e0e0-1111-2222-3333-444455556666"
DIGEST = "a" * 64
DATA_DIGEST = "b" * 64


def evaluation(status: dict[str, Any] | None = None, **spec: Any) -> ModelEvaluation:
    body: dict[str, Any] = {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "ModelEvaluation",
        "metadata": {"name": "base-on-golden", "namespace": "team-a", "uid": EVAL_UID, "generation": 1},
        "spec": {"modelRef": {"name": "base"}, "datasetRef": {"name": "shapes"}, "split": "val", **spec},
    }
    if status is not None:
        body["status"] = status
    return ModelEvaluation.model_validate(body)


def result_message(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "split": "val",
        "images": 24,
        "bboxMAP": 0.512,
        "bboxMAP50": 0.8,
        "bboxMAP75": 0.55,
        "perClassAP": {"circle": 0.6, "square": 0.424},
        "perClassRecall": {"circle": 0.7, "square": 0.5},
        "checkpointSha256": DIGEST,
        "datasetDigest": DATA_DIGEST,
        "durationSeconds": 12.34,
        **overrides,
    }
    return EvaluationResult.model_validate(fields).serialize()


def ended_pod(phase: str, message: str, exit_code: int = 0, reason: str = "Completed") -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "reason": reason, "message": message}
    return fixtures.pod(phase, terminated=terminated, name="base-on-golden-eval-x1")


def job(condition: str | None = None, reason: str = "") -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True", "reason": reason, "message": ""}] if condition else []
    return {
        "metadata": {"name": "base-on-golden-eval", "labels": {Label.MODEL_EVALUATION_UID: EVAL_UID}},
        "status": {"conditions": conditions},
    }


def decide(
    ev: ModelEvaluation | None = None,
    *,
    model: Any = "ready",
    dataset: Any = "ready",
    observed_job: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
) -> EvaluationDecision:
    return decide_evaluation(
        ev or evaluation(),
        fixtures.model() if model == "ready" else model,
        fixtures.dataset() if dataset == "ready" else dataset,
        observed_job,
        pods or [],
        fixtures.NOW,
    )


def condition(decision: EvaluationDecision, kind: ConditionType) -> tuple[str, str, str]:
    found = next(c for c in decision.status.conditions if c.type == kind)
    return found.status, found.reason, found.message


def test_waits_for_a_missing_model_and_says_which_field_to_fix() -> None:
    decision = decide(model=None)
    assert decision.create_job is None
    assert decision.status.phase == Phase.PENDING
    status, reason, message = condition(decision, ConditionType.SCHEDULED)
    assert (status, reason) == (ConditionStatus.FALSE, Reason.MODEL_NOT_FOUND)
    assert "spec.modelRef.name" in message and "base" in message
    assert decision.events[0][0] == "Warning"


@pytest.mark.parametrize(
    ("model", "dataset", "reason"),
    [
        (fixtures.model(is_ready=False), "ready", Reason.MODEL_NOT_READY),
        ("ready", None, Reason.DATASET_NOT_FOUND),
        ("ready", fixtures.dataset(is_ready=False), Reason.DATASET_NOT_READY),
    ],
)
def test_waits_until_model_and_dataset_are_ready(model: Any, dataset: Any, reason: Reason) -> None:
    decision = decide(model=model, dataset=dataset)
    assert decision.create_job is None and decision.status.job_name is None
    assert condition(decision, ConditionType.SCHEDULED)[1] == reason


def test_an_unpublished_dataset_is_fine_a_golden_set_stays_out_of_training() -> None:
    decision = decide(dataset=fixtures.dataset(published=False))
    assert decision.create_job is not None


def test_creates_the_job_once_everything_is_ready() -> None:
    decision = decide()
    spec = decision.create_job
    assert spec is not None
    assert (spec.split, spec.model.name, spec.dataset.name) == ("val", "base", "shapes")
    assert spec.model.checkpoint_uri == "pvc://models/rtmdet.pth"
    assert decision.status.job_name == "base-on-golden-eval"
    assert decision.status.start_time == fixtures.NOW
    assert decision.status.dataset_generation == 1, "gates tell a changed dataset by its generation"
    assert condition(decision, ConditionType.SCHEDULED)[1] == Reason.JOB_CREATED


def test_a_split_the_dataset_does_not_have_fails_for_good_with_the_field() -> None:
    # fixtures.dataset() splits one file with the default ratios, whose test share is 0 unless asked.
    dataset = fixtures.dataset(annotations={"file": "ann.json", "split": {"train": 80, "val": 20, "test": 0}})
    decision = decide(evaluation(split="test"), dataset=dataset)
    assert decision.create_job is None
    assert decision.status.phase == Phase.FAILED
    status, reason, message = condition(decision, ConditionType.FAILED)
    assert (status, reason) == (ConditionStatus.TRUE, Reason.EVALUATION_INVALID)
    assert "spec.split" in message and "test split 0%" in message


def test_running_pod_makes_it_running() -> None:
    decision = decide(
        evaluation({"jobName": "base-on-golden-eval"}),
        observed_job=job(),
        pods=[fixtures.pod("Running", name="base-on-golden-eval-x1")],
    )
    assert decision.status.phase == Phase.RUNNING
    assert condition(decision, ConditionType.SCHEDULED)[:2] == (ConditionStatus.TRUE, Reason.POD_RUNNING)


def test_unschedulable_pod_is_said_while_it_waits() -> None:
    waiting = fixtures.pod(
        "Pending",
        conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}
        ],
    )
    decision = decide(evaluation({"jobName": "base-on-golden-eval"}), observed_job=job(), pods=[waiting])
    assert decision.status.phase == Phase.PENDING
    _, reason, message = condition(decision, ConditionType.SCHEDULED)
    assert reason == Reason.UNSCHEDULABLE and "0/3 nodes" in message


def test_completed_job_records_the_figures_and_digests() -> None:
    decision = decide(
        evaluation({"jobName": "base-on-golden-eval", "phase": "Running"}),
        observed_job=job("Complete"),
        pods=[ended_pod("Succeeded", result_message())],
    )
    status = decision.status
    assert status.phase == Phase.SUCCEEDED and status.completion_time == fixtures.NOW
    assert status.images == 24 and status.duration_seconds == 12.3
    assert status.model_digest == DIGEST and status.dataset_digest == DATA_DIGEST
    assert status.metrics is not None
    assert (status.metrics.bbox_map, status.metrics.bbox_map50) == (0.512, 0.8)
    assert status.metrics.per_class_ap == {"circle": 0.6, "square": 0.424}
    assert status.metrics.per_class_recall == {"circle": 0.7, "square": 0.5}
    _, reason, message = condition(decision, ConditionType.SUCCEEDED)
    assert reason == Reason.EVALUATION_SUCCEEDED and "bbox mAP 0.512" in message
    wire = status.to_wire()
    assert wire["metrics"]["bboxMAP"] == 0.512 and wire["metrics"]["perClassAP"]["square"] == 0.424


def test_completed_job_without_a_result_fails() -> None:
    decision = decide(
        evaluation({"jobName": "base-on-golden-eval"}),
        observed_job=job("Complete"),
        pods=[ended_pod("Succeeded", "some log line, not a result")],
    )
    assert decision.status.phase == Phase.FAILED
    assert condition(decision, ConditionType.FAILED)[1] == Reason.UNKNOWN


def test_trainer_failure_becomes_the_reason_and_an_error_configmap() -> None:
    failure = TrainerFailure(
        reason=FailureReason.DATASET_INVALID, message="classes differ: model has 3", exit_code=42
    )
    decision = decide(
        evaluation({"jobName": "base-on-golden-eval"}),
        observed_job=job("Failed", "PodFailurePolicy"),
        pods=[ended_pod("Failed", json.dumps(failure.to_wire()), exit_code=42, reason="Error")],
    )
    assert decision.status.phase == Phase.FAILED
    _, reason, message = condition(decision, ConditionType.FAILED)
    assert reason == Reason.DATASET_INVALID and "classes differ" in message
    assert decision.failure is not None and decision.failure.termination is not None
    assert decision.status.error_config_map_ref is not None
    assert decision.status.error_config_map_ref.name == "base-on-golden-error"
    assert any(event[0] == "Warning" for event in decision.events)


def test_oom_advice_names_the_evaluation_field() -> None:
    decision = decide(
        evaluation({"jobName": "base-on-golden-eval"}),
        observed_job=job("Failed", "BackoffLimitExceeded"),
        pods=[ended_pod("Failed", "", exit_code=137, reason="OOMKilled")],
    )
    _, reason, message = condition(decision, ConditionType.FAILED)
    assert reason == Reason.OUT_OF_MEMORY
    assert "spec.resources.memory" in message and "batchSize" not in message


def test_deadline_exceeded() -> None:
    decision = decide(
        evaluation({"jobName": "base-on-golden-eval"}), observed_job=job("Failed", "DeadlineExceeded")
    )
    assert condition(decision, ConditionType.FAILED)[1] == Reason.DEADLINE_EXCEEDED


def test_a_job_deleted_before_it_finished_fails_the_evaluation() -> None:
    decision = decide(evaluation({"jobName": "base-on-golden-eval", "phase": "Running"}), observed_job=None)
    assert decision.create_job is None
    assert condition(decision, ConditionType.FAILED)[1] == Reason.JOB_DELETED


def test_a_finished_evaluation_is_never_redone_or_rewritten() -> None:
    done = decide(
        evaluation({"jobName": "base-on-golden-eval"}),
        observed_job=job("Complete"),
        pods=[ended_pod("Succeeded", result_message())],
    )
    again = decide(evaluation(done.status.to_wire()), observed_job=None)
    assert again.create_job is None and again.events == []
    assert again.status == done.status


def test_same_observation_twice_posts_no_second_event() -> None:
    first = decide(model=None)
    second = decide(evaluation(first.status.to_wire()), model=None)
    assert second.events == [] and second.status.to_wire() == first.status.to_wire()


def test_job_runs_the_trainers_evaluate_command_read_only_and_restricted() -> None:
    ev = evaluation(
        resources={"gpus": 1, "memory": "6Gi"},
        podMetadata={"annotations": {"sim.kubedet.io/run-duration": "2s"}, "labels": {"team": "a"}},
        nodeSelector={"pool": "gpu"},
        activeDeadlineSeconds=600,
    )
    spec = decide(ev).create_job
    assert spec is not None
    body = build_evaluation_job(ev, spec, OperatorConfig(trainer_image="registry.local/trainer:1"))
    assert body["metadata"]["name"] == "base-on-golden-eval"
    assert body["metadata"]["ownerReferences"][0]["kind"] == "ModelEvaluation"
    assert body["metadata"]["ownerReferences"][0]["uid"] == EVAL_UID
    job_spec = body["spec"]
    assert job_spec["activeDeadlineSeconds"] == 600
    assert job_spec["podFailurePolicy"]["rules"][0]["action"] == "FailJob"
    template = job_spec["template"]
    assert template["metadata"]["labels"][Label.MODEL_EVALUATION_UID] == EVAL_UID
    assert template["metadata"]["labels"]["team"] == "a"
    assert template["metadata"]["annotations"] == {"sim.kubedet.io/run-duration": "2s"}
    pod = template["spec"]
    assert pod["nodeSelector"] == {"pool": "gpu"} and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == "registry.local/trainer:1"
    assert container["args"][:3] == ["evaluate", "--spec-env", EVALUATION_SPEC_ENV]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert EvaluationSpec.model_validate_json(env[EVALUATION_SPEC_ENV]) == spec
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "6Gi", "nvidia.com/gpu": "1"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims and all(v["persistentVolumeClaim"]["readOnly"] for v in claims)


def test_cpu_evaluation_asks_for_no_gpu() -> None:
    ev = evaluation(resources={"gpus": 0})
    spec = decide(ev).create_job
    assert spec is not None
    limits = build_evaluation_job(ev, spec, OperatorConfig())["spec"]["template"]["spec"]["containers"][0][
        "resources"
    ]["limits"]
    assert "nvidia.com/gpu" not in limits


def test_error_configmap_holds_reason_message_and_log() -> None:
    failure = TrainerFailure(reason=FailureReason.CONFIG_INVALID, message="bad config", exit_code=42)
    ev = evaluation({"jobName": "base-on-golden-eval", "startTime": "2026-11-26T11:58:00Z"})
    decision = decide(
        ev,
        observed_job=job("Failed", "PodFailurePolicy"),
        pods=[ended_pod("Failed", json.dumps(failure.to_wire()), exit_code=42, reason="Error")],
    )
    assert decision.failure is not None
    configmap = build_evaluation_error_configmap(ev, decision.failure, fixtures.NOW, "line 1\nline 2")
    data = configmap["data"]
    assert configmap["metadata"]["name"] == "base-on-golden-error"
    assert configmap["metadata"]["ownerReferences"][0]["kind"] == "ModelEvaluation"
    assert (data["reason"], data["message"], data["exitCode"]) == ("ConfigInvalid", "bad config", "42")
    assert data["jobName"] == "base-on-golden-eval" and data["startedAt"] == "2026-11-26T11:58:00Z"
    assert data["logTail"] == "line 1\nline 2"
