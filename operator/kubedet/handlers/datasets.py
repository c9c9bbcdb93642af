"""Dataset reconciler: a preflight Job checks the files; its verdict becomes the Ready condition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from kubedet import GROUP, VERSION
from kubedet.api.conditions import get_condition
from kubedet.api.constants import ConditionType, Label, Reason
from kubedet.api.dataset import Dataset
from kubedet.api.preflight import PreflightReport
from kubedet.api.runspec import TrainerFailure
from kubedet.builders import pods as podinfo
from kubedet.builders.dataset import (
    PREFLIGHT_COMPONENT,
    build_preflight_job,
    checking_status,
    invalid_status,
    preflight_job_name,
    ready_status,
)
from kubedet.handlers import kube, metrics, retry
from kubedet.handlers.settings import current_config
from kubedet.handlers.trainingruns import pick_indexes, reconcile_waiting_runs

PLURAL = "datasets"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _outcome(dataset: Dataset, job: Any) -> tuple[str, Any]:
    """('running', None), ('ready', report) or ('invalid', (reason, message)) from the preflight Job."""
    c = kube.clients()
    conditions = {cond.type: cond for cond in (job.status.conditions or []) if cond.status == "True"}
    if "Complete" not in conditions and "Failed" not in conditions:
        return "running", None
    pods = c.core.list_namespaced_pod(dataset.namespace, label_selector=f"job-name={job.metadata.name}")
    messages = []
    for pod in pods.items:
        ended = podinfo.termination(c.api.sanitize_for_serialization(pod))
        if ended and ended.message:
            messages.append(ended.message)
    for text in reversed(messages):
        try:
            if "Complete" in conditions:
                return "ready", PreflightReport.model_validate_json(text)
            failure = podinfo.trainer_message(text)
            if isinstance(failure, TrainerFailure):
                return "invalid", (failure.reason.value, failure.message)
        except ValidationError:
            continue
    if "Complete" in conditions:
        return "invalid", (Reason.UNKNOWN, "the preflight Job finished without a report")
    failed = conditions["Failed"]
    return "invalid", (Reason.DATASET_INVALID, f"the preflight Job failed: {failed.reason}: {failed.message}")


def reconcile_dataset(body: dict[str, Any], indexes: dict[str, Any], logger: Any) -> None:
    dataset = Dataset.model_validate(body)
    key = (dataset.namespace, dataset.name)
    c = kube.clients()
    with metrics.RECONCILE_SECONDS.labels("dataset").time():
        try:
            name = preflight_job_name(dataset)
            job = kube.get_or_none(c.batch.read_namespaced_job, name, dataset.namespace)
            ready = get_condition(dataset.status.conditions, ConditionType.READY) if dataset.status else None
            if job is None:
                if (
                    ready is not None
                    and ready.reason != Reason.PENDING
                    and dataset.status
                    and dataset.status.observed_generation == dataset.generation
                ):
                    return  # already judged, and the job was cleaned up by its TTL
                kube.create_if_absent(
                    c.batch.create_namespaced_job,
                    dataset.namespace,
                    build_preflight_job(dataset, current_config()),
                )
                status = checking_status(dataset, _now())
            else:
                state, detail = _outcome(dataset, job)
                if state == "running":
                    status = checking_status(dataset, _now())
                elif state == "ready":
                    status = ready_status(dataset, detail, _now())
                else:
                    status = invalid_status(dataset, detail[0], detail[1], _now())
            old = dataset.status.to_wire() if dataset.status else {}
            new = status.to_wire()
            if kube.significant_status(old) != kube.significant_status(new):
                kube.patch_status(PLURAL, dataset.namespace, dataset.name, new)
                cond = get_condition(status.conditions, ConditionType.READY)
                if cond is not None:
                    kube.post_event(
                        body,
                        "Normal" if cond.status == "True" or cond.reason == Reason.PENDING else "Warning",
                        cond.reason,
                        cond.message,
                    )
            retry.succeeded(("dataset", *key))
        except Exception as error:
            if kube.object_gone(error):
                retry.forget(("dataset", *key))
                return
            metrics.RECONCILE_ERRORS.labels("dataset").inc()
            delay = retry.failed(("dataset", *key), lambda: _again(key, indexes, logger))
            logger.warning(f"dataset reconcile failed, retrying in {delay:.1f}s: {error!r}")
            return
    reconcile_waiting_runs("runs_by_dataset", key, indexes, logger)




def _again(key: tuple[str, str], indexes: dict[str, Any], logger: Any) -> None:
    store = indexes["datasets"].get(key)
    for body in list(store or [])[-1:]:
        reconcile_dataset(body, indexes, logger)


@kopf.on.event(GROUP, VERSION, PLURAL)
def on_dataset_event(type: str | None, body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    if type == "DELETED":
        return
    reconcile_dataset(dict(body), pick_indexes(kwargs), logger)


@kopf.on.event(
    "batch", "v1", "jobs", labels={Label.COMPONENT: PREFLIGHT_COMPONENT, Label.DATASET: kopf.PRESENT}
)
def on_preflight_job_event(
    labels: kopf.Labels, namespace: str | None, logger: kopf.Logger, **kwargs: Any
) -> None:
    indexes = pick_indexes(kwargs)
    _again((namespace or "", labels[Label.DATASET]), indexes, logger)
