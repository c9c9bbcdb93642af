"""The TrainedModel a successful run produces, with lineage, metrics and statistics."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kubedet.api.common import LocalObjectReference
from kubedet.api.conditions import is_condition_true, set_condition
from kubedet.api.constants import ConditionType, Label, Phase, Reason
from kubedet.api.dataset import Dataset
from kubedet.api.runspec import STATISTICS_ANNOTATION, TrainerResult
from kubedet.api.trainedmodel import (
    ArtifactDigests,
    BoxMetrics,
    Checkpoint,
    TrainedModel,
    TrainedModelSpec,
    TrainedModelStatus,
    TrainingStatistics,
)
from kubedet.api.trainingrun import TrainingRun
from kubedet.api.usage import ComputeTime
from kubedet.builders import naming
from kubedet.builders.meta import object_meta, run_labels

# COCO metric names as mmdet reports them -> BoxMetrics fields.
_METRICS = {
    "bbox_mAP": "bbox_map",
    "bbox_mAP_50": "bbox_map50",
    "bbox_mAP_75": "bbox_map75",
    "bbox_mAP_s": "bbox_map_small",
    "bbox_mAP_m": "bbox_map_medium",
    "bbox_mAP_l": "bbox_map_large",
}


def build_trained_model(
    run: TrainingRun, dataset: Dataset, result: TrainerResult, name: str | None = None
) -> dict[str, Any]:
    """The model of a succeeded run. Not owned by the run (no ownerReference): the garbage collector
    must never delete a model, whatever propagation policy deletes its run (foreground deletion would
    remove it before the run's finalizer could decide to keep it). The run's finalizer deletes an
    unpublished model itself; the labels name the run and its uid for lineage and ownership checks."""
    spec = TrainedModelSpec(
        config=result.config_uri,
        checkpoint=Checkpoint(
            uri=result.checkpoint_uri, secret_ref=run.spec.output.secret_ref if run.spec.output else None
        ),
        classes=list(dataset.spec.classes),
        description=(
            f"Fine-tuned from {run.spec.base_model_ref.name} on {dataset.name} by TrainingRun {run.name}"
        ),
        published=False,
        base_model_ref=LocalObjectReference(name=run.spec.base_model_ref.name),
        dataset_ref=LocalObjectReference(name=dataset.name),
        training_run_ref=LocalObjectReference(name=run.name),
        publish_policy=run.spec.publish_policy,
    )
    labels = run_labels(run, "model") | {
        Label.DATASET: dataset.name,
        Label.BASE_MODEL: run.spec.base_model_ref.name,
    }
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainedModel",
        "metadata": object_meta(
            name or naming.trained_model_name(run.name),
            run.namespace,
            labels,
            None,
            statistics_annotations(result),
        ),
        "spec": spec.to_wire(),
    }


def statistics_annotations(result: TrainerResult) -> dict[str, str]:
    """The trainer's bounded summary as an annotation: readable with get on trainedmodels/status (the
    statistics role), written with the model in one request. Bounded by the result message's 4 KiB."""
    if result.summary is None:
        return {}
    return {STATISTICS_ANNOTATION: json.dumps(result.summary.to_wire(), separators=(",", ":"))}


def trained_model_status(
    result: TrainerResult,
    generation: int | None,
    now: datetime,
    published: bool,
    usage: ComputeTime | None = None,
) -> TrainedModelStatus:
    """The first status of a succeeded run's model; `usage` is the run's status.statistics (its
    attempts and compute time), copied as they were when it succeeded."""
    metrics = BoxMetrics(
        **{
            field: result.metrics[name]
            for name, field in _METRICS.items()
            if name in result.metrics and 0 <= result.metrics[name] <= 1
        }
    )
    stats = result.statistics
    statistics = TrainingStatistics(
        **(usage.model_dump() if usage is not None else {}),
        training_duration_seconds=int(stats.duration_seconds),
        total_parameters=stats.total_parameters,
        epochs=stats.epochs,
        requested_epochs=stats.requested_epochs,
        stopped_early=stats.stopped_early if stats.requested_epochs is not None else None,
        best_epoch=stats.best_epoch or None,
        learning_rate=stats.learning_rate,
        final_loss=stats.final_loss if stats.final_loss is not None and stats.final_loss >= 0 else None,
        seed=stats.seed,
    )
    conditions = set_condition(
        [],
        ConditionType.READY,
        True,
        Reason.TRAINING_SUCCEEDED,
        "trained by a run that succeeded",
        generation,
        now,
    )
    return TrainedModelStatus(
        phase=Phase.PUBLISHED if published else Phase.READY,
        conditions=conditions,
        observed_generation=generation,
        metrics=metrics,
        statistics=statistics,
        digests=ArtifactDigests(
            config=result.digests.get("config"), checkpoint=result.digests.get("checkpoint")
        ),
    )


def model_status(model: TrainedModel, run_succeeded: bool | None, now: datetime) -> TrainedModelStatus:
    """Imported models are Ready as soon as they exist (the schema checked their config and checkpoint
    references); trained ones once their run succeeded. Only a Ready model can be Published."""
    status = (model.status or TrainedModelStatus()).model_copy(deep=True)
    generation = model.generation
    status.observed_generation = generation
    imported = model.spec.training_run_ref is None
    if imported:
        status.conditions = set_condition(
            status.conditions,
            ConditionType.READY,
            True,
            Reason.READY,
            "imported model: config and checkpoint references are well-formed",
            generation,
            now,
        )
    elif (
        model.spec.training_run_ref is not None
        and run_succeeded is False
        and not is_condition_true(status.conditions, ConditionType.READY)
    ):
        status.conditions = set_condition(
            status.conditions,
            ConditionType.READY,
            False,
            Reason.NOT_READY,
            f"TrainingRun {model.spec.training_run_ref.name} has not succeeded",
            generation,
            now,
        )
    ready = is_condition_true(status.conditions, ConditionType.READY)
    if model.spec.published and ready:
        status.conditions = set_condition(
            status.conditions,
            ConditionType.PUBLISHED,
            True,
            Reason.PUBLISHED,
            "the model is published",
            generation,
            now,
        )
        status.published_at = status.published_at or now
        status.phase = Phase.PUBLISHED
    elif model.spec.published:
        status.conditions = set_condition(
            status.conditions,
            ConditionType.PUBLISHED,
            False,
            Reason.NOT_READY,
            "only a Ready model (its training run succeeded) can be published",
            generation,
            now,
        )
        status.phase = Phase.PENDING
    else:
        status.conditions = set_condition(
            status.conditions,
            ConditionType.PUBLISHED,
            False,
            Reason.NOT_PUBLISHED,
            "set spec.published: true to publish",
            generation,
            now,
        )
        status.published_at = None
        status.phase = Phase.READY if ready else Phase.PENDING
    return status


def model_of(body: dict[str, Any]) -> TrainedModel:
    return TrainedModel.model_validate(body)
