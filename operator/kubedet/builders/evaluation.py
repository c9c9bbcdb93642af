"""A ModelEvaluation's Job, the status its outcome gives the evaluation, and its error ConfigMap.

`decide_evaluation` is level-based: from the evaluation, its model, its dataset, its Job and the Job's
pods (whatever state they are in) it derives the whole status and the one thing to do next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from kubedet.api.common import LocalObjectReference
from kubedet.api.conditions import get_condition, is_condition_true, set_condition
from kubedet.api.constants import MANAGED_BY, ConditionType, Label, Phase, Reason
from kubedet.api.dataset import Dataset
from kubedet.api.evaluation import (
    EVALUATION_SPEC_ENV,
    EvaluatedModel,
    EvaluationResult,
    EvaluationSpec,
    parse_evaluation_message,
)
from kubedet.api.modelevaluation import EvaluationMetrics, ModelEvaluation, ModelEvaluationStatus
from kubedet.api.runspec import RunDataset
from kubedet.api.trainedmodel import TrainedModel
from kubedet.builders import naming
from kubedet.builders import pods as podinfo
from kubedet.builders.errors import ERROR_COMPONENT, error_data
from kubedet.builders.job import GPU_RESOURCE, POD_FAILURE_POLICY
from kubedet.builders.meta import object_meta
from kubedet.builders.pod import CONTAINER_SECURITY_CONTEXT, POD_SECURITY_CONTEXT, claim_volumes, secret_env
from kubedet.builders.run_state import Failure, classify_failure, job_ended
from kubedet.config import OperatorConfig

EVALUATION_COMPONENT = "evaluation"
EVALUATOR_CONTAINER = "trainer"  # the name classify_failure and the pod view read first
DEFAULT_CPU = "2"
DEFAULT_MEMORY = "8Gi"
WORKSPACE = "/workspace"
# A disruption (eviction, preemption) is retried: scoring again from scratch costs minutes, not days.
EVALUATION_BACKOFF_LIMIT = 2


def evaluation_labels(evaluation: ModelEvaluation, component: str) -> dict[str, str]:
    return {
        Label.MODEL_EVALUATION: evaluation.name,
        Label.MODEL_EVALUATION_UID: str(evaluation.metadata["uid"]),
        Label.TRAINED_MODEL: evaluation.spec.model_ref.name,
        Label.DATASET: evaluation.spec.dataset_ref.name,
        Label.COMPONENT: component,
        Label.MANAGED_BY: MANAGED_BY,
    }


def build_evaluation_spec(
    evaluation: ModelEvaluation, model: TrainedModel, dataset: Dataset
) -> EvaluationSpec:
    """The trainer's input. Raises ValueError (pydantic's ValidationError is one) when the dataset
    cannot be scored as asked, e.g. it has no test split."""
    digests = model.status.digests if model.status else None
    return EvaluationSpec(
        dataset=RunDataset(name=dataset.name, spec=dataset.spec),
        split=evaluation.spec.split,
        model=EvaluatedModel(
            name=model.name,
            config=model.spec.config,
            checkpoint_uri=model.spec.checkpoint.uri,
            checkpoint_sha256=digests.checkpoint if digests else None,
            checkpoint_secret_ref=model.spec.checkpoint.secret_ref,
        ),
    )


def build_evaluation_job(
    evaluation: ModelEvaluation, spec: EvaluationSpec, config: OperatorConfig
) -> dict[str, Any]:
    wanted = evaluation.spec
    labels = evaluation_labels(evaluation, EVALUATION_COMPONENT)
    pod_metadata = wanted.pod_metadata
    pod_labels = {**(pod_metadata.labels or {} if pod_metadata else {}), **labels}
    pod_annotations: dict[str, str] = dict(pod_metadata.annotations or {}) if pod_metadata else {}
    volumes, mounts = claim_volumes(
        read_only=[spec.dataset.spec.source.uri, spec.model.checkpoint_uri, spec.model.config],
        read_write=[],
        mount_root=config.pvc_mount_root,
    )
    volumes += [{"name": "workspace", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    mounts += [{"name": "workspace", "mountPath": WORKSPACE}, {"name": "tmp", "mountPath": "/tmp"}]
    amounts = {
        "cpu": str(wanted.resources.cpu or DEFAULT_CPU),
        "memory": str(wanted.resources.memory or DEFAULT_MEMORY),
    }
    if wanted.resources.gpus:
        amounts[GPU_RESOURCE] = str(wanted.resources.gpus)
    container: dict[str, Any] = {
        "name": EVALUATOR_CONTAINER,
        "image": config.trainer_image,
        "args": ["evaluate", "--spec-env", EVALUATION_SPEC_ENV, "--workdir", WORKSPACE],
        "env": [
            {"name": EVALUATION_SPEC_ENV, "value": json.dumps(spec.to_wire(), separators=(",", ":"))},
            {"name": "KUBEDET_PVC_ROOT", "value": config.pvc_mount_root},
            {"name": "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "value": "1"},
            {"name": "HOME", "value": WORKSPACE},
        ],
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
        "volumeMounts": mounts,
        "securityContext": CONTAINER_SECURITY_CONTEXT,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    env_from = secret_env([spec.dataset.spec.source.secret_ref, spec.model.checkpoint_secret_ref])
    if env_from:
        container["envFrom"] = env_from
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": POD_SECURITY_CONTEXT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
        "volumes": volumes,
    }
    if wanted.node_selector:
        pod_spec["nodeSelector"] = dict(wanted.node_selector)
    if wanted.tolerations:
        pod_spec["tolerations"] = [t.to_wire() for t in wanted.tolerations]
    job_spec: dict[str, Any] = {
        "backoffLimit": EVALUATION_BACKOFF_LIMIT,
        # The same policy as training: the trainer's "your input is wrong" fails at once.
        "podFailurePolicy": POD_FAILURE_POLICY,
        "ttlSecondsAfterFinished": 3600,
        "template": {"metadata": {"labels": pod_labels, "annotations": pod_annotations}, "spec": pod_spec},
    }
    if wanted.active_deadline_seconds:
        job_spec["activeDeadlineSeconds"] = wanted.active_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(
            naming.evaluation_job_name(evaluation.name), evaluation.namespace, labels, evaluation
        ),
        "spec": job_spec,
    }


def build_evaluation_error_configmap(
    evaluation: ModelEvaluation, failure: Failure, now: datetime, log_tail: str | None
) -> dict[str, Any]:
    started = evaluation.status.start_time if evaluation.status else None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            naming.error_configmap_name(evaluation.name),
            evaluation.namespace,
            evaluation_labels(evaluation, ERROR_COMPONENT),
            evaluation,
        ),
        "data": error_data(failure, now, started, naming.evaluation_job_name(evaluation.name), log_tail),
    }


@dataclass
class EvaluationDecision:
    """The status to write and the one action to take."""

    status: ModelEvaluationStatus
    create_job: EvaluationSpec | None = None
    """Create the evaluation Job with this spec."""
    failure: Failure | None = None
    """Write the error ConfigMap for this failure (the Job's pod failed)."""
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, reason, message) of the Events to post: one per condition that changed."""


def _metrics(result: EvaluationResult) -> EvaluationMetrics:
    return EvaluationMetrics(
        bbox_map=result.bbox_map,
        bbox_map50=result.bbox_map50,
        bbox_map75=result.bbox_map75,
        bbox_map_small=result.bbox_map_small,
        bbox_map_medium=result.bbox_map_medium,
        bbox_map_large=result.bbox_map_large,
        per_class_ap={n: v for n, v in result.per_class_ap.items() if v is not None} or None,
        per_class_recall={n: v for n, v in result.per_class_recall.items() if v is not None} or None,
        classes_without_boxes=sorted(n for n, v in result.per_class_ap.items() if v is None) or None,
        omitted_classes=result.omitted_classes or None,
    )


def evaluation_result(pods: list[dict[str, Any]]) -> EvaluationResult | None:
    """The result a succeeded evaluation pod wrote as its termination message."""
    for pod in reversed(podinfo.by_creation(pods)):
        if pod.get("status", {}).get("phase") != "Succeeded":
            continue
        ended = podinfo.termination(pod)
        if ended is None or not ended.message.strip():
            continue
        try:
            message = parse_evaluation_message(ended.message.strip())
        except ValidationError:
            continue
        if isinstance(message, EvaluationResult):
            return message
    return None


def _evaluation_failure(job: dict[str, Any], pods: list[dict[str, Any]]) -> Failure:
    failure = classify_failure(job, pods)
    if failure.reason == Reason.OUT_OF_MEMORY and failure.termination is not None:
        # classify_failure's advice names training settings; an evaluation has only its memory.
        message = (
            f"pod {failure.termination.pod} was killed for using more memory than its limit; raise "
            "spec.resources.memory"
        )
        return Failure(failure.reason, message, failure.termination)
    if failure.reason == Reason.UNKNOWN and "training Job" in failure.message:
        return Failure(failure.reason, "the evaluation Job failed for an unknown reason", failure.termination)
    return failure


class _Builder:
    """Accumulates the status and the Events of one decision."""

    def __init__(self, evaluation: ModelEvaluation, now: datetime) -> None:
        self.evaluation = evaluation
        self.now = now
        self.decision = EvaluationDecision(
            status=(evaluation.status or ModelEvaluationStatus()).model_copy(deep=True)
        )
        self.decision.status.observed_generation = evaluation.generation

    def condition(self, kind: ConditionType, ok: bool, reason: Reason | str, message: str) -> None:
        status = self.decision.status
        before = next(((c.status, c.reason) for c in status.conditions if c.type == kind), None)
        status.conditions = set_condition(
            status.conditions, kind, ok, reason, message, self.evaluation.generation, self.now
        )
        after = next((c.status, c.reason) for c in status.conditions if c.type == kind)
        if after != before:
            warning = (kind == ConditionType.FAILED and ok) or reason in _WAITING_WARNINGS
            self.decision.events.append(("Warning" if warning else "Normal", str(reason), message))

    def pending(self, reason: Reason | str, message: str) -> EvaluationDecision:
        self.decision.status.phase = Phase.PENDING
        self.condition(ConditionType.SCHEDULED, False, reason, message)
        return self.decision

    def failed(self, reason: Reason | str, message: str) -> EvaluationDecision:
        status = self.decision.status
        status.phase = Phase.FAILED
        status.completion_time = status.completion_time or self.now
        self.condition(ConditionType.FAILED, True, reason, message)
        self.condition(ConditionType.SUCCEEDED, False, reason, message)
        return self.decision


_WAITING_WARNINGS = frozenset(
    {Reason.MODEL_NOT_FOUND, Reason.DATASET_NOT_FOUND, Reason.UNSCHEDULABLE, Reason.IMAGE_PULL_FAILED}
)


def decide_evaluation(
    evaluation: ModelEvaluation,
    model: TrainedModel | None,
    dataset: Dataset | None,
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    now: datetime,
) -> EvaluationDecision:
    """The evaluation's status from what the cluster shows, and what to do next."""
    build = _Builder(evaluation, now)
    status = build.decision.status
    if status.phase in (Phase.SUCCEEDED, Phase.FAILED):
        return build.decision  # a measurement, once taken, stays as it was taken
    ns, spec = evaluation.namespace, evaluation.spec
    if job is None:
        if status.job_name:
            return build.failed(
                Reason.JOB_DELETED,
                f"the evaluation Job {status.job_name} was deleted before it finished; create the "
                "ModelEvaluation again to score the model",
            )
        if model is None:
            return build.pending(
                Reason.MODEL_NOT_FOUND,
                f"TrainedModel {spec.model_ref.name} not found in namespace {ns}: create it, or fix "
                "spec.modelRef.name",
            )
        if not _ready(model):
            return build.pending(
                Reason.MODEL_NOT_READY,
                f"TrainedModel {model.name} is not Ready ({_readiness(model)}): waiting until it is",
            )
        if dataset is None:
            return build.pending(
                Reason.DATASET_NOT_FOUND,
                f"Dataset {spec.dataset_ref.name} not found in namespace {ns}: create it, or fix "
                "spec.datasetRef.name",
            )
        if not _ready(dataset):
            return build.pending(
                Reason.DATASET_NOT_READY,
                f"Dataset {dataset.name} is not Ready ({_readiness(dataset)}): waiting until its "
                "preflight finds it Ready",
            )
        try:
            evaluation_spec = build_evaluation_spec(evaluation, model, dataset)
        except ValueError as error:
            return build.failed(Reason.EVALUATION_INVALID, f"spec.split: {_first_problem(error)}")
        build.decision.create_job = evaluation_spec
        status.dataset_generation = dataset.generation
        status.job_name = naming.evaluation_job_name(evaluation.name)
        status.start_time = status.start_time or now
        return build.pending(Reason.JOB_CREATED, f"Job {status.job_name} created to score {model.name}")
    status.job_name = job["metadata"]["name"]
    if not job_ended(job):
        return _in_progress(build, pods)
    if any(
        c.get("type") in ("Complete", "SuccessCriteriaMet") and c.get("status") == "True"
        for c in job.get("status", {}).get("conditions") or []
    ):
        result = evaluation_result(pods)
        if result is None:
            return build.failed(Reason.UNKNOWN, "the evaluation Job completed without a result message")
        return _succeeded(build, result)
    failure = _evaluation_failure(job, pods)
    build.decision.failure = failure
    status.error_config_map_ref = status.error_config_map_ref or LocalObjectReference(
        name=naming.error_configmap_name(evaluation.name)
    )
    return build.failed(failure.reason, failure.message)


def _ready(obj: TrainedModel | Dataset) -> bool:
    return obj.status is not None and is_condition_true(obj.status.conditions, ConditionType.READY)


def _readiness(obj: TrainedModel | Dataset) -> str:
    condition = get_condition(obj.status.conditions, ConditionType.READY) if obj.status else None
    return f"{condition.reason}: {condition.message}" if condition else "not checked yet"


def _in_progress(build: _Builder, pods: list[dict[str, Any]]) -> EvaluationDecision:
    status = build.decision.status
    running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
    if running:
        status.phase = Phase.RUNNING
        build.condition(
            ConditionType.SCHEDULED, True, Reason.POD_RUNNING, f"pod {running[0]['metadata']['name']} runs"
        )
        return build.decision
    waiting = podinfo.waiting_reason(pods)
    if waiting is None:
        return build.pending(Reason.JOB_CREATED, f"Job {status.job_name} is starting its pod")
    reason, message = waiting
    if reason in podinfo.IMAGE_PULL_REASONS:
        return build.pending(Reason.IMAGE_PULL_FAILED, f"the trainer image cannot be pulled: {message}")
    if reason == "Unschedulable":
        return build.pending(Reason.UNSCHEDULABLE, f"no node fits the evaluation pod: {message}")
    return build.pending(Reason.JOB_CREATED, f"the evaluation pod is {reason}")


def _succeeded(build: _Builder, result: EvaluationResult) -> EvaluationDecision:
    status = build.decision.status
    status.phase = Phase.SUCCEEDED
    status.completion_time = status.completion_time or build.now
    status.images = result.images
    status.metrics = _metrics(result)
    status.model_digest = result.checkpoint_sha256
    status.dataset_digest = result.dataset_digest
    status.duration_seconds = (
        round(result.duration_seconds, 1) if result.duration_seconds is not None else None
    )
    message = (
        f"{result.images} {result.split} images scored: bbox mAP {result.bbox_map:.3f}, "
        f"mAP50 {result.bbox_map50:.3f}"
    )
    build.condition(ConditionType.SCHEDULED, True, Reason.EVALUATION_SUCCEEDED, f"Job {status.job_name} ran")
    build.condition(ConditionType.SUCCEEDED, True, Reason.EVALUATION_SUCCEEDED, message)
    build.condition(ConditionType.FAILED, False, Reason.EVALUATION_SUCCEEDED, message)
    return build.decision


def _first_problem(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return str(first.get("msg", error)).removeprefix("Value error, ")
    return str(error)
