"""Metadata shared by the objects a kubedet object owns."""

from __future__ import annotations

from typing import Any

from kubedet.api.constants import MANAGED_BY, Label
from kubedet.api.resource import API_VERSION, KubedetObject


def owner_reference(owner: KubedetObject, *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to a kubedet object: the garbage collector deletes what it owns with it."""
    return {
        "apiVersion": API_VERSION,
        "kind": owner.NAMES.kind,
        "name": owner.name,
        "uid": str(owner.metadata["uid"]),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def run_labels(run: KubedetObject, component: str) -> dict[str, str]:
    """Labels of everything a run owns; the run's uid tells apart runs that reused a name (the
    ported app passed the run id to its background job the same way)."""
    return {
        Label.TRAINING_RUN: run.name,
        Label.TRAINING_RUN_UID: str(run.metadata["uid"]),
        Label.COMPONENT: component,
        Label.MANAGED_BY: MANAGED_BY,
    }


def object_meta(
    name: str,
    namespace: str,
    labels: dict[str, str],
    owner: KubedetObject | None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    return meta
