"""In-memory indexes kopf keeps from watches: handlers look objects up here instead of reading them
from the API server, and a dataset or model event finds the runs waiting on it without a list call.

The indexing functions are coroutines: they only copy parts of a body, and kopf runs a synchronous one
in its thread pool, a hand-over to a thread and back for every event of every watched object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.constants import Annotation, Label
from kubedet.api.runspec import STATISTICS_ANNOTATION

Key = tuple[str, str]
# What no handler reads: a pod's run spec, kubectl's last-applied copy of the object, and a trained
# model's statistics summary (for the CLI; up to 4 KiB a model).
UNREAD_ANNOTATIONS = frozenset(
    {Annotation.RUN_SPEC, "kubectl.kubernetes.io/last-applied-configuration", STATISTICS_ANNOTATION}
)


def slim(body: Mapping[str, Any], *keep: str) -> dict[str, Any]:
    """The parts of an object the handlers read: its metadata without managedFields (kilobytes per
    object that no handler reads) and the top-level fields named in `keep`. The indexes hold one
    copy per run, Job and pod for the operator's lifetime; at a thousand runs the unused parts
    (a Job's pod template, a pod's spec, copies of the object in annotations) were most of the
    operator's memory."""
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    annotations = metadata.get("annotations")
    if annotations and not UNREAD_ANNOTATIONS.isdisjoint(annotations):
        metadata["annotations"] = {k: v for k, v in annotations.items() if k not in UNREAD_ANNOTATIONS}
    return {"metadata": metadata, **{k: body[k] for k in keep if k in body}}


OBJECT_FIELDS = ("apiVersion", "kind", "spec", "status")


@kopf.index(GROUP, VERSION, "trainingruns")
async def runs(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, *OBJECT_FIELDS)}


@kopf.index(GROUP, VERSION, "trainingruns")
async def runs_by_dataset(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str]:
    return {(namespace or "", spec.get("datasetRef", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "trainingruns")
async def runs_by_base_model(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str]:
    return {(namespace or "", spec.get("baseModelRef", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "datasets")
async def datasets(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, *OBJECT_FIELDS)}


@kopf.index(GROUP, VERSION, "trainedmodels")
async def models(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, *OBJECT_FIELDS)}


@kopf.index(GROUP, VERSION, "trainedmodels")
async def models_by_base(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[Key, str] | None:
    base = spec.get("baseModelRef", {}).get("name")
    return {(namespace or "", base): name} if base else None


@kopf.index("batch", "v1", "jobs", labels={Label.TRAINING_RUN: kopf.PRESENT, Label.COMPONENT: "trainer"})
async def jobs_by_run(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    # decide() reads a Job's name, labels, spec.suspend and status; not its pod template.
    job = slim(body, "status")
    job["spec"] = {"suspend": (body.get("spec") or {}).get("suspend")}
    return {(namespace or "", labels[Label.TRAINING_RUN]): job}


# What builders/pods.py and run_state read of a pod; a pod's other fields (its spec, IPs, QoS class,
# managedFields, Job bookkeeping labels) were the largest share of the operator's memory per run.
POD_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")
POD_STATUS = ("phase", "reason", "message", "conditions", "containerStatuses")
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def pod_view(body: Mapping[str, Any]) -> dict[str, Any]:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    view: dict[str, Any] = {k: meta[k] for k in POD_METADATA if k in meta}
    view["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k.startswith("kubedet.io/")}
    rank = (meta.get("annotations") or {}).get(COMPLETION_INDEX)
    if rank is not None:
        view["annotations"] = {COMPLETION_INDEX: rank}
    kept = {k: status[k] for k in POD_STATUS if k in status}
    if "conditions" in kept:
        kept["conditions"] = [
            {k: c[k] for k in ("type", "status", "reason", "message") if k in c} for c in kept["conditions"]
        ]
    if "containerStatuses" in kept:
        kept["containerStatuses"] = [
            {k: c[k] for k in ("name", "state", "restartCount") if k in c} for c in kept["containerStatuses"]
        ]
    return {"metadata": view, "status": kept}


@kopf.index("", "v1", "pods", labels={Label.TRAINING_RUN: kopf.PRESENT, Label.COMPONENT: "trainer"})
async def pods_by_run(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", labels[Label.TRAINING_RUN]): pod_view(body)}


def one(index: kopf.Index[Any, Any], key: Any) -> Any | None:
    """The single value under `key`, or None."""
    store = index.get(key)
    if not store:
        return None
    values = list(store)
    return values[-1] if values else None


def all_of(index: kopf.Index[Any, Any], key: Any) -> list[Any]:
    store = index.get(key)
    return list(store) if store else []
