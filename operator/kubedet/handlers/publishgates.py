"""Publish gates and model lines: thin glue between kopf events, the gate and line builders and the API.

A model with a publishPolicy gets its gate judged whenever it, an evaluation made for its line, or its
line changes; then its line is brought in line with which models are published. Both steps derive
everything from what the cluster shows, so any event (or a restart) converges.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.conditions import set_condition
from kubedet.api.constants import ConditionType, Label, Reason
from kubedet.api.modelevaluation import ModelEvaluation
from kubedet.api.modelline import ModelLine
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders.modelline import build_model_line, decide_line, line_of
from kubedet.builders.publishgate import decide_gate
from kubedet.handlers import kube, metrics, retry
from kubedet.handlers.indexes import one
from kubedet.handlers.trainingruns import pick_indexes

log = logging.getLogger("kubedet.publishgates")
MODELS, LINES, EVALUATIONS, RUNS = "trainedmodels", "modellines", "modelevaluations", "trainingruns"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _gated_models(indexes: dict[str, Any], namespace: str) -> list[TrainedModel]:
    found = []
    for (ns, _), bodies in indexes["models"].items():
        if ns != namespace:
            continue
        found += [
            TrainedModel.model_validate(b) for b in bodies if (b.get("spec") or {}).get("publishPolicy")
        ]
    return found


def _models_of_line(indexes: dict[str, Any], namespace: str, line: str) -> list[TrainedModel]:
    return [m for m in _gated_models(indexes, namespace) if line_of(m) == line]


def _evaluations(namespace: str, dataset: str) -> list[ModelEvaluation]:
    listed = cast(
        dict[str, Any],
        kube.clients().custom.list_namespaced_custom_object(GROUP, VERSION, namespace, EVALUATIONS),
    )
    return [
        ModelEvaluation.model_validate(item)
        for item in listed.get("items", [])
        if (item.get("spec") or {}).get("datasetRef", {}).get("name") == dataset
    ]


def _line(namespace: str, name: str) -> ModelLine:
    body = kube.read_custom(LINES, namespace, name)
    if body is None:
        kube.create_custom(LINES, namespace, build_model_line(name, namespace))
        body = kube.read_custom(LINES, namespace, name) or build_model_line(name, namespace)
    return ModelLine.model_validate(body)


def _publish_requested(model: TrainedModel, indexes: dict[str, Any]) -> bool:
    """The model's run asked for publishing (spec.publish), and is the run that made it."""
    if model.spec.training_run_ref is None:
        return False
    run = one(indexes["runs"], (model.namespace, model.spec.training_run_ref.name))
    made_by = model.metadata.get("labels", {}).get(Label.TRAINING_RUN_UID)
    return bool(run and run["metadata"].get("uid") == made_by and (run.get("spec") or {}).get("publish"))


def judge_gate(model: TrainedModel, line: ModelLine, indexes: dict[str, Any]) -> None:
    policy = model.spec.publish_policy
    assert policy is not None
    pointer = line.status.published_model_ref if line.status else None
    champion_body = one(indexes["models"], (model.namespace, pointer.name)) if pointer else None
    champion = TrainedModel.model_validate(champion_body) if champion_body else None
    evaluations = _evaluations(model.namespace, policy.golden_dataset_ref.name)
    golden = one(indexes["datasets"], (model.namespace, policy.golden_dataset_ref.name))
    generation = (golden or {}).get("metadata", {}).get("generation")
    requested = _publish_requested(model, indexes)
    decision = decide_gate(model, champion, evaluations, requested, _now(), generation)
    for body in decision.create:
        kube.create_custom(EVALUATIONS, model.namespace, body)
    old = model.status.to_wire() if model.status else {}
    new = decision.status.to_wire()
    patch = {k: v for k, v in new.items() if k in ("publishGate", "conditions") and old.get(k) != v}
    if patch:
        kube.patch_status(MODELS, model.namespace, model.name, patch, model.metadata.get("resourceVersion"))
        _mirror_on_run(model, decision.status)
    if decision.event is not None:
        kube.post_event(model.to_obj(), *decision.event)
    if decision.publish:
        # The stored status now says the gate passed: the admission policy lets the operator publish.
        kube.patch_object(MODELS, model.namespace, model.name, {"spec": {"published": True}})


def _mirror_on_run(model: TrainedModel, status: Any) -> None:
    """The run that made the model shows the same PublishGate condition (its author watches the run)."""
    if model.spec.training_run_ref is None:
        return
    gate = next((cond for cond in status.conditions if cond.type == ConditionType.PUBLISH_GATE), None)
    run = kube.read_custom(RUNS, model.namespace, model.spec.training_run_ref.name)
    made_by = model.metadata.get("labels", {}).get(Label.TRAINING_RUN_UID)
    if gate is None or run is None or run["metadata"].get("uid") != made_by:
        return
    parsed = TrainingRun.model_validate(run)
    conditions = parsed.status.conditions if parsed.status else []
    updated = set_condition(
        conditions,
        gate.type,
        gate.status,
        gate.reason,
        gate.message,
        parsed.generation,
        gate.last_transition_time,
    )
    if updated != conditions:
        # With the run's resourceVersion: a conflict (the run reconciler wrote meanwhile) is retried
        # rather than writing over its conditions.
        conditions_wire = {"conditions": [c.to_wire() for c in updated]}
        kube.patch_status(
            RUNS, model.namespace, parsed.name, conditions_wire, run["metadata"]["resourceVersion"]
        )


def settle_line(
    namespace: str, line_name: str, indexes: dict[str, Any], line: ModelLine | None = None
) -> None:
    """Make the line's published model the one the models say, in one write, then the models follow.
    `line` as just read, if the caller has it."""
    line = line or _line(namespace, line_name)
    models = _models_of_line(indexes, namespace, line_name)
    decision = decide_line(line, models, _now())
    if decision.status is not None:
        wire = decision.status.to_wire()
        # Explicit nulls: a merge patch leaves out what is absent, and a line may lose its model.
        wire.setdefault("publishedModelRef", None)
        wire.setdefault("publishedAt", None)
        # One write switches the line's published model; the resourceVersion makes a concurrent switch
        # (another replica, a stale event) fail and be retried from what it then shows.
        kube.patch_status(LINES, namespace, line_name, wire, line.metadata["resourceVersion"])
        ref = decision.status.published_model_ref
        message = f"published model: {ref.name}" if ref else "the line has no published model"
        kube.post_event(line.to_obj(), "Normal", Reason.PUBLISHED if ref else Reason.NOT_PUBLISHED, message)
    for name in decision.unpublish:
        kube.patch_object(MODELS, namespace, name, {"spec": {"published": False}})
    if decision.replaced is not None:
        new, old = decision.replaced
        kube.patch_status(MODELS, namespace, new, {"replaces": {"name": old}})
        kube.patch_status(MODELS, namespace, old, {"replacedBy": {"name": new}})
        replaced = one(indexes["models"], (namespace, old))
        if replaced is not None:
            message = f"model {new} replaced it as line {line_name}'s published model"
            kube.post_event(replaced, "Normal", Reason.REPLACED, message)


def reconcile_gated_model(body: dict[str, Any], indexes: dict[str, Any], logger: Any) -> None:
    model = TrainedModel.model_validate(body)
    line = line_of(model)
    if line is None:
        return
    key = ("gate", model.namespace, model.name)
    with metrics.RECONCILE_SECONDS.labels("publishgate").time():
        try:
            # One read of the line serves both steps: only settle_line writes it, and last.
            current = _line(model.namespace, line)
            judge_gate(model, current, indexes)
            settle_line(model.namespace, line, indexes, current)
            retry.succeeded(key)
        except Exception as error:
            if kube.object_gone(error) or kube.is_status(error, 409):
                # Gone, or changed since this copy: the change's own event judges it again.
                retry.forget(key)
                return
            metrics.RECONCILE_ERRORS.labels("publishgate").inc()
            delay = retry.failed(key, lambda: _again(model.namespace, model.name, indexes, logger))
            logger.warning(f"publish gate reconcile failed, retrying in {delay:.1f}s: {error!r}")


def _again(namespace: str, name: str, indexes: dict[str, Any], logger: Any) -> None:
    body = one(indexes["models"], (namespace, name))
    if body is not None:
        reconcile_gated_model(body, indexes, logger)


def _reconcile_line_models(namespace: str, line: str, indexes: dict[str, Any], logger: Any) -> None:
    for model in _models_of_line(indexes, namespace, line):
        _again(namespace, model.name, indexes, logger)


@kopf.on.event(GROUP, VERSION, MODELS, field="spec.publishPolicy", value=kopf.PRESENT)
def on_gated_model_event(type: str | None, body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    indexes = pick_indexes(kwargs)
    if type == "DELETED":
        line = ((body.get("spec") or {}).get("publishPolicy") or {}).get("modelLine")
        if line:
            settle_line(body["metadata"]["namespace"], line, indexes)
        return
    reconcile_gated_model(dict(body), indexes, logger)


@kopf.on.event(GROUP, VERSION, EVALUATIONS)
def on_evaluation_for_gates(
    spec: kopf.Spec, namespace: str | None, logger: kopf.Logger, **kwargs: Any
) -> None:
    """Any evaluation on a golden dataset may be the one a gate waits for (gates reuse evaluations
    users made): the gates of that dataset judge again."""
    indexes = pick_indexes(kwargs)
    dataset = (spec.get("datasetRef") or {}).get("name")
    for model in _gated_models(indexes, namespace or ""):
        policy = model.spec.publish_policy
        if policy is not None and policy.golden_dataset_ref.name == dataset:
            reconcile_gated_model(model.to_obj(), indexes, logger)


@kopf.on.event(GROUP, VERSION, LINES)
def on_line_event(
    type: str | None, name: str, namespace: str | None, logger: kopf.Logger, **kwargs: Any
) -> None:
    if type == "DELETED":
        return
    _reconcile_line_models(namespace or "", name, pick_indexes(kwargs), logger)
