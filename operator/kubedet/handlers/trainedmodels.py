"""TrainedModel reconciler: readiness of imported models, and publishing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.conditions import is_condition_true, set_condition
from kubedet.api.constants import ConditionType, Phase, Reason
from kubedet.api.trainedmodel import TrainedModel, TrainedModelStatus
from kubedet.handlers import kube, metrics, retry
from kubedet.handlers.indexes import one
from kubedet.handlers.trainingruns import pick_indexes, reconcile_waiting_runs

PLURAL = "trainedmodels"


def desired_status(model: TrainedModel, run_succeeded: bool | None, now: datetime) -> TrainedModelStatus:
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


def _significant(status: dict[str, Any]) -> Any:
    conditions = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions", [])
    ]
    return {**status, "conditions": conditions}


def reconcile_model(body: dict[str, Any], indexes: dict[str, Any], logger: Any) -> None:
    model = TrainedModel.model_validate(body)
    key = (model.namespace, model.name)
    with metrics.RECONCILE_SECONDS.labels("trainedmodel").time():
        run_succeeded = None
        if model.spec.training_run_ref is not None:
            run = one(indexes["runs"], (model.namespace, model.spec.training_run_ref.name))
            run_succeeded = bool(run and (run.get("status") or {}).get("phase") == Phase.SUCCEEDED)
        status = desired_status(model, run_succeeded, datetime.now(UTC).replace(microsecond=0))
        old = model.status.to_wire() if model.status else {}
        new = status.to_wire()
        if _significant(old) != _significant(new):
            patch = {k: v for k, v in new.items() if old.get(k) != v}
            if "publishedAt" in old and "publishedAt" not in new:
                patch["publishedAt"] = None
            try:
                kube.patch_status(PLURAL, model.namespace, model.name, patch)
                retry.succeeded(("model", *key))
            except Exception as error:
                metrics.RECONCILE_ERRORS.labels("trainedmodel").inc()
                retry.failed(("model", *key), lambda: _again(key, indexes, logger))
                logger.warning(f"model status patch failed: {error!r}")
                return
            if status.phase == Phase.PUBLISHED and old.get("phase") != Phase.PUBLISHED:
                kube.post_event(body, "Normal", Reason.PUBLISHED, "the model was published")
    if is_condition_true(status.conditions, ConditionType.READY):
        reconcile_waiting_runs("runs_by_base_model", key, indexes, logger)


def _again(key: tuple[str, str], indexes: dict[str, Any], logger: Any) -> None:
    body = one(indexes["models"], key)
    if body is not None:
        reconcile_model(body, indexes, logger)


@kopf.on.event(GROUP, VERSION, PLURAL)
def on_model_event(type: str | None, body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    if type == "DELETED":
        return
    reconcile_model(dict(body), pick_indexes(kwargs), logger)
