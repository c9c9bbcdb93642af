"""In-memory indexes kopf keeps from watches: handlers look objects up here instead of reading them
from the API server, and a dataset or model event finds the runs waiting on it without a list call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.constants import Annotation, Label

Key = tuple[str, str]
# Copies of whole objects that no handler reads: a pod's run spec, and kubectl's last-applied copy.
UNREAD_ANNOTATIONS = frozenset({Annotation.RUN_SPEC, "kubectl.kubernetes.io/last-applied-configuration"})


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
def runs(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, *OBJECT_FIELDS)}


@kopf.index(GROUP, VERSION, "trainingruns")
def runs_by_dataset(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str]:
    return {(namespace or "", spec.get("datasetRef", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "trainingruns")
def runs_by_base_model(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str]:
    return {(namespace or "", spec.get("baseModelRef", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "datasets")
def datasets(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, *OBJECT_FIELDS)}


@kopf.index(GROUP, VERSION, "trainedmodels")
def models(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): slim(body, *OBJECT_FIELDS)}


@kopf.index(GROUP, VERSION, "trainedmodels")
def models_by_base(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str] | None:
    base = spec.get("baseModelRef", {}).get("name")
    return {(namespace or "", base): name} if base else None


@kopf.index("batch", "v1", "jobs", labels={Label.TRAINING_RUN: kopf.PRESENT, Label.COMPONENT: "trainer"})
def jobs_by_run(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    # decide() reads a Job's name, labels, spec.suspend and status; not its pod template.
    job = slim(body, "status")
    job["spec"] = {"suspend": (body.get("spec") or {}).get("suspend")}
    return {(namespace or "", labels[Label.TRAINING_RUN]): job}


@kopf.index("", "v1", "pods", labels={Label.TRAINING_RUN: kopf.PRESENT, Label.COMPONENT: "trainer"})
def pods_by_run(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    # Phases, conditions and the trainer's termination message are in status; the spec is not read.
    return {(namespace or "", labels[Label.TRAINING_RUN]): slim(body, "status")}


@kopf.index("", "v1", "nodes")
def node_gpus(body: kopf.Body, **_: Any) -> dict[str, int]:
    allocatable = body.get("status", {}).get("allocatable", {}) or {}
    try:
        return {"gpus": int(allocatable.get("nvidia.com/gpu", "0"))}
    except ValueError:
        return {"gpus": 0}


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
