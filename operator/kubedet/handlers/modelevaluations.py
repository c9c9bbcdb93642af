"""ModelEvaluation reconciler: thin glue between kopf events, `decide_evaluation` and the API server.

Evaluations are few (a handful per trained model), so this reconciler reads its Job and pods from the
API server rather than keeping indexes of them: a few reads per evaluation event cost less memory than
a watch cache of every evaluation pod.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.constants import Label, Phase
from kubedet.api.dataset import Dataset
from kubedet.api.modelevaluation import ModelEvaluation
from kubedet.api.trainedmodel import TrainedModel
from kubedet.builders import naming
from kubedet.builders.errors import LOG_TAIL_LINES
from kubedet.builders.evaluation import (
    EVALUATION_COMPONENT,
    build_evaluation_error_configmap,
    build_evaluation_job,
    decide_evaluation,
)
from kubedet.handlers import kube, metrics, retry
from kubedet.handlers.indexes import one
from kubedet.handlers.settings import current_config
from kubedet.handlers.trainingruns import pick_indexes

PLURAL = "modelevaluations"
WAITING_RECHECK_SECONDS = 10.0
"""How often an evaluation waiting for its model or dataset looks again: both are usually being
checked by their own preflight and become Ready within seconds to minutes."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _owned_job(evaluation: ModelEvaluation) -> dict[str, Any] | None:
    c = kube.clients()
    found = kube.get_or_none(
        c.batch.read_namespaced_job, naming.evaluation_job_name(evaluation.name), evaluation.namespace
    )
    if found is None:
        return None
    job: dict[str, Any] = c.api.sanitize_for_serialization(found)
    labels = job.get("metadata", {}).get("labels") or {}
    # A namesake left by an earlier evaluation of the same name is not this one's outcome.
    return job if labels.get(Label.MODEL_EVALUATION_UID) == evaluation.metadata["uid"] else None


def _pods(evaluation: ModelEvaluation) -> list[dict[str, Any]]:
    c = kube.clients()
    uid = evaluation.metadata["uid"]
    selector = f"{Label.MODEL_EVALUATION_UID}={uid},{Label.COMPONENT}={EVALUATION_COMPONENT}"
    listed = c.core.list_namespaced_pod(evaluation.namespace, label_selector=selector)
    return [c.api.sanitize_for_serialization(p) for p in listed.items]


def reconcile_evaluation(body: dict[str, Any], indexes: dict[str, Any], logger: Any) -> None:
    evaluation = ModelEvaluation.model_validate(body)
    key = ("evaluation", evaluation.namespace, evaluation.name)
    if evaluation.status and evaluation.status.phase in (Phase.SUCCEEDED, Phase.FAILED):
        return
    with metrics.RECONCILE_SECONDS.labels("evaluation").time():
        try:
            _reconcile(evaluation, body, indexes, logger)
            retry.succeeded(key)
        except Exception as error:
            if kube.object_gone(error):
                retry.forget(key)
                return
            metrics.RECONCILE_ERRORS.labels("evaluation").inc()
            delay = retry.failed(key, lambda: _again(evaluation.namespace, evaluation.name, indexes, logger))
            logger.warning(f"evaluation reconcile failed, retrying in {delay:.1f}s: {error!r}")


def _reconcile(
    evaluation: ModelEvaluation, body: dict[str, Any], indexes: dict[str, Any], logger: Any
) -> None:
    ns, spec = evaluation.namespace, evaluation.spec
    model_body = one(indexes["models"], (ns, spec.model_ref.name))
    dataset_body = one(indexes["datasets"], (ns, spec.dataset_ref.name))
    job = _owned_job(evaluation)
    pods = _pods(evaluation) if job is not None else []
    decision = decide_evaluation(
        evaluation,
        TrainedModel.model_validate(model_body) if model_body else None,
        Dataset.model_validate(dataset_body) if dataset_body else None,
        job,
        pods,
        _now(),
    )
    c = kube.clients()
    if decision.create_job is not None:
        job_body = build_evaluation_job(evaluation, decision.create_job, current_config())
        kube.create_if_absent(c.batch.create_namespaced_job, ns, job_body)
    if decision.failure is not None:
        ended = decision.failure.termination
        tail = kube.pod_log_tail(ns, ended.pod, LOG_TAIL_LINES) if ended else None
        configmap = build_evaluation_error_configmap(evaluation, decision.failure, _now(), tail)
        kube.create_if_absent(c.core.create_namespaced_config_map, ns, configmap)
    new = decision.status.to_wire()
    old = evaluation.status.to_wire() if evaluation.status else {}
    if kube.significant_status(old) != kube.significant_status(new):
        kube.patch_status(PLURAL, ns, evaluation.name, new)
        for event_type, reason, message in decision.events:
            kube.post_event(body, event_type, reason, message)
    if decision.status.phase == Phase.PENDING and decision.status.job_name is None:
        # Waiting for the model or the dataset: their events are not watched for this, so look again.
        retry.after(
            ("evaluation-wait", ns, evaluation.name),
            WAITING_RECHECK_SECONDS,
            lambda: _again(ns, evaluation.name, indexes, logger),
        )




def _again(namespace: str, name: str, indexes: dict[str, Any], logger: Any) -> None:
    body = kube.read_custom(PLURAL, namespace, name)
    if body is not None:
        reconcile_evaluation(body, indexes, logger)


@kopf.on.event(GROUP, VERSION, PLURAL)
def on_evaluation_event(type: str | None, body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    if type == "DELETED":
        meta = body.get("metadata", {})
        retry.forget(("evaluation", meta.get("namespace"), meta.get("name")))
        retry.forget(("evaluation-wait", meta.get("namespace"), meta.get("name")))
        return
    reconcile_evaluation(dict(body), pick_indexes(kwargs), logger)


@kopf.on.event(
    "batch",
    "v1",
    "jobs",
    labels={Label.COMPONENT: EVALUATION_COMPONENT, Label.MODEL_EVALUATION: kopf.PRESENT},
)
def on_evaluation_job_event(
    labels: kopf.Labels, namespace: str | None, logger: kopf.Logger, **kwargs: Any
) -> None:
    _again(namespace or "", labels[Label.MODEL_EVALUATION], pick_indexes(kwargs), logger)


@kopf.on.event(
    "", "v1", "pods", labels={Label.COMPONENT: EVALUATION_COMPONENT, Label.MODEL_EVALUATION: kopf.PRESENT}
)
def on_evaluation_pod_event(
    labels: kopf.Labels, namespace: str | None, logger: kopf.Logger, **kwargs: Any
) -> None:
    _again(namespace or "", labels[Label.MODEL_EVALUATION], pick_indexes(kwargs), logger)
