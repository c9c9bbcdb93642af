"""Typed objects for builder tests, made through the same models the operator uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubedet.api.conditions import set_condition
from kubedet.api.constants import ConditionType, Reason
from kubedet.api.dataset import Dataset
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def run(name: str = "run-1", **spec: Any) -> TrainingRun:
    body = {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "uid": UID,
            "generation": 1,
            "resourceVersion": "5",
        },
        "spec": {"datasetRef": {"name": "shapes"}, "baseModelRef": {"name": "base"}, **spec},
    }
    return TrainingRun.model_validate(body)


def ready(conditions: list | None = None) -> list:
    return set_condition(conditions or [], ConditionType.READY, True, Reason.READY, "ok", 1, NOW)


def dataset(published: bool = True, is_ready: bool = True, **spec: Any) -> Dataset:
    body: dict[str, Any] = {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "shapes", "namespace": "team-a", "uid": "d-uid", "generation": 1},
        "spec": {
            "source": {"uri": "pvc://datasets/shapes"},
            "annotations": {"file": "ann.json"},
            "classes": ["circle", "square"],
            "published": published,
            **spec,
        },
    }
    if is_ready:
        body["status"] = {"conditions": [c.to_wire() for c in ready()]}
    return Dataset.model_validate(body)


def model(is_ready: bool = True, checkpoint: dict[str, Any] | None = None) -> TrainedModel:
    body: dict[str, Any] = {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainedModel",
        "metadata": {"name": "base", "namespace": "team-a", "uid": "m-uid", "generation": 1},
        "spec": {
            "config": "mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py",
            "checkpoint": checkpoint or {"uri": "pvc://models/rtmdet.pth"},
        },
    }
    if is_ready:
        body["status"] = {"conditions": [c.to_wire() for c in ready()]}
    return TrainedModel.model_validate(body)


def job(
    conditions: list[dict] | None = None, suspend: bool = False, queue: str | None = None, **status: Any
) -> dict[str, Any]:
    labels = {"kubedet.io/training-run-uid": UID}
    if queue:
        labels["kueue.x-k8s.io/queue-name"] = queue
    return {
        "metadata": {"name": "run-1-train", "labels": labels},
        "spec": {"suspend": suspend},
        "status": {"conditions": conditions or [], **status},
    }


def pod(
    phase: str,
    *,
    terminated: dict | None = None,
    waiting: dict | None = None,
    conditions: list[dict] | None = None,
    reason: str = "",
    created: str = "2026-11-26T11:59:00Z",
    name: str = "run-1-train-abc",
) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"waiting": waiting} if waiting else {"running": {}}
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions or [],
        "containerStatuses": [{"name": "trainer", "state": state}],
    }
    if reason:
        status["reason"] = reason
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}
