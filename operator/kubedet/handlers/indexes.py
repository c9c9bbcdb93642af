"""In-memory indexes kopf keeps from watches: handlers look objects up here instead of reading them
from the API server, and a dataset or model event finds the runs waiting on it without a list call."""

from __future__ import annotations

from typing import Any

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.constants import Label

Key = tuple[str, str]


@kopf.index(GROUP, VERSION, "trainingruns")
def runs(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): dict(body)}


@kopf.index(GROUP, VERSION, "trainingruns")
def runs_by_dataset(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str]:
    return {(namespace or "", spec.get("datasetRef", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "trainingruns")
def runs_by_base_model(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str]:
    return {(namespace or "", spec.get("baseModelRef", {}).get("name", "")): name}


@kopf.index(GROUP, VERSION, "datasets")
def datasets(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): dict(body)}


@kopf.index(GROUP, VERSION, "trainedmodels")
def models(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): dict(body)}


@kopf.index(GROUP, VERSION, "trainedmodels")
def models_by_base(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Key, str] | None:
    base = spec.get("baseModelRef", {}).get("name")
    return {(namespace or "", base): name} if base else None


@kopf.index("batch", "v1", "jobs", labels={Label.TRAINING_RUN: kopf.PRESENT, Label.COMPONENT: "trainer"})
def jobs_by_run(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", labels[Label.TRAINING_RUN]): dict(body)}


@kopf.index("", "v1", "pods", labels={Label.TRAINING_RUN: kopf.PRESENT, Label.COMPONENT: "trainer"})
def pods_by_run(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", labels[Label.TRAINING_RUN]): dict(body)}


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
