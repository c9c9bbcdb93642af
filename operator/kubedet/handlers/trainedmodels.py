"""TrainedModel reconciler: readiness of imported models, and publishing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.conditions import is_condition_true
from kubedet.api.constants import ConditionType, Label, Phase, Reason
from kubedet.api.trainedmodel import TrainedModel
from kubedet.builders.trainedmodel import model_status
from kubedet.handlers import kube, metrics, retry
from kubedet.handlers.indexes import one
from kubedet.handlers.trainingruns import pick_indexes, reconcile_waiting_runs

PLURAL = "trainedmodels"
# The readiness rules live with the builders: the run reconciler writes a new model's first status
# with the same function, so this reconciler finds nothing to change.
desired_status = model_status




def reconcile_model(body: dict[str, Any], indexes: dict[str, Any], logger: Any) -> None:
    model = TrainedModel.model_validate(body)
    key = (model.namespace, model.name)
    with metrics.RECONCILE_SECONDS.labels("trainedmodel").time():
        run_succeeded = None
        if model.spec.training_run_ref is not None:
            run = one(indexes["runs"], (model.namespace, model.spec.training_run_ref.name))
            made_by = model.metadata.get("labels", {}).get(Label.TRAINING_RUN_UID)
            if run is not None and made_by and run["metadata"].get("uid") != made_by:
                run = None  # a later run of the same name: not the one that made this model
            phase = (run.get("status") or {}).get("phase") if run else None
            if model.status is None and run is not None and phase not in (Phase.SUCCEEDED, Phase.FAILED):
                # A model its run is creating: the run's reconciler writes its status right after
                # creating it. Judging it now, on the status-less copy, would write NotReady over that
                # status (or race it) and cost two more writes per run.
                return
            run_succeeded = bool(run and phase == Phase.SUCCEEDED)
        status = desired_status(model, run_succeeded, datetime.now(UTC).replace(microsecond=0))
        old = model.status.to_wire() if model.status else {}
        new = status.to_wire()
        if kube.significant_status(old) != kube.significant_status(new):
            patch = {k: v for k, v in new.items() if old.get(k) != v}
            if "publishedAt" in old and "publishedAt" not in new:
                patch["publishedAt"] = None
            try:
                # Conditions are shared with the publish gate's writer: only over the version judged.
                kube.patch_status(
                    PLURAL, model.namespace, model.name, patch, model.metadata.get("resourceVersion")
                )
                retry.succeeded(("model", *key))
            except Exception as error:
                if kube.object_gone(error) or kube.is_status(error, 409):
                    # Gone, or changed since this copy: the change's own event judges it again.
                    retry.forget(("model", *key))
                    return
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
