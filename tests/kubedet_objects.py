"""Builders of kubedet objects and simulated trainer messages for integration tests."""

from __future__ import annotations

import json
from typing import Any

from kubedet.api.evaluation import EvaluationResult
from kubedet.api.runspec import FailureReason, TrainerFailure, TrainerResult, TrainerStatistics

SHA = "ab" * 32
EVALUATED_CHECKPOINT_SHA = "cd" * 32
EVALUATED_DATASET_SHA = "ef" * 32


def preflight_report(images: int = 40, classes: tuple[str, ...] = ("circle", "square")) -> str:
    per_class = [{"name": c, "annotations": images} for c in classes]
    return json.dumps(
        {
            "kind": "preflight-report",
            "images": images,
            "annotations": images * len(classes),
            "splits": {
                "train": {"images": images - 10, "annotations": (images - 10) * len(classes)},
                "val": {"images": 10, "annotations": 10 * len(classes)},
            },
            "classes": per_class,
        }
    )


def trainer_result(run: str, mAP: float = 0.61) -> str:
    base = f"pvc://artifacts/{run}"
    return TrainerResult(
        checkpoint_uri=f"{base}/best.pth",
        config_uri=f"{base}/config.py",
        metrics_uri=f"{base}/metrics.json",
        metrics={"bbox_mAP": mAP, "bbox_mAP_50": min(1.0, mAP + 0.2), "bbox_mAP_75": mAP / 2},
        statistics=TrainerStatistics(
            duration_seconds=93.5,
            total_parameters=4_876_012,
            epochs=3,
            learning_rate=0.0005,
            final_loss=0.42,
            best_epoch=3,
            seed=7,
        ),
        digests={"checkpoint": SHA, "config": SHA},
    ).serialize()


def trainer_failure(reason: FailureReason, message: str) -> str:
    return TrainerFailure.for_reason(reason, message, "Traceback (most recent call last):\n  ...").serialize()


def evaluation_result(
    mAP: float = 0.5,
    per_class: dict[str, float] | None = None,
    split: str = "val",
    checkpoint_sha: str = EVALUATED_CHECKPOINT_SHA,
) -> str:
    """An evaluate command's message; per class AP defaults to mAP +- 0.05 for circle and square."""
    per_class = per_class or {"circle": round(mAP + 0.05, 4), "square": round(mAP - 0.05, 4)}
    return EvaluationResult.model_validate(
        {
            "split": split,
            "images": 8,
            "bboxMAP": mAP,
            "bboxMAP50": 0.7,
            "bboxMAP75": round(mAP / 2, 4),
            "perClassAP": per_class,
            "perClassRecall": {name: min(1.0, ap + 0.2) for name, ap in per_class.items()},
            "checkpointSha256": checkpoint_sha,
            "datasetDigest": EVALUATED_DATASET_SHA,
            "durationSeconds": 4.2,
        }
    ).serialize()


def model_evaluation(
    name: str,
    model: str,
    dataset_name: str,
    *,
    mAP: float = 0.5,
    split: str = "val",
    pod_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    annotations = pod_annotations
    if annotations is None:
        annotations = {"sim.kubedet.io/termination-message": evaluation_result(mAP, split=split)}
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "ModelEvaluation",
        "metadata": {"name": name},
        "spec": {
            "modelRef": {"name": model},
            "datasetRef": {"name": dataset_name},
            "split": split,
            "podMetadata": {"annotations": annotations},
        },
    }


def dataset(
    name: str,
    *,
    published: bool = True,
    report: str | None = None,
    preflight_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    annotations = (
        preflight_annotations
        if preflight_annotations is not None
        else {"sim.kubedet.io/termination-message": report or preflight_report()}
    )
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {
            "source": {"uri": "pvc://datasets/shapes"},
            "annotations": {"file": "annotations.json"},
            "classes": ["circle", "square"],
            "published": published,
            "preflight": {"podMetadata": {"annotations": annotations}},
        },
    }


def base_model(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainedModel",
        "metadata": {"name": name},
        "spec": {
            "config": "mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py",
            "checkpoint": {"uri": "pvc://models/rtmdet-tiny.pth"},
            "published": True,
        },
    }


def training_run(
    name: str,
    dataset_name: str,
    model_name: str,
    *,
    pod_annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "datasetRef": {"name": dataset_name},
            "baseModelRef": {"name": model_name},
            "hyperparameters": {"epochs": 3, "batchSize": 2},
            **spec,
        },
    }
    annotations = {"sim.kubedet.io/termination-message": trainer_result(name)}
    if pod_annotations is not None:
        annotations = pod_annotations
    body["spec"]["podMetadata"] = {"annotations": annotations}
    return body


def claim(namespace: str, name: str) -> list[dict[str, Any]]:
    """A PersistentVolumeClaim bound to a PersistentVolume made for it: kwok nodes have no storage
    provisioner, and a pod with an unbound claim is never scheduled (as on a real cluster)."""
    volume = f"{namespace}-{name}"[:63]
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": f"/tmp/kubedet-devcluster-volumes/{volume}"},
                "claimRef": {"namespace": namespace, "name": name},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "10Gi"}},
            },
        },
    ]


def claims(namespace: str) -> list[dict[str, Any]]:
    """The claims the test objects refer to: datasets, models and the artifact store."""
    return [
        obj
        for name in ("datasets", "models", "artifacts", "kubedet-artifacts")
        for obj in claim(namespace, name)
    ]


def cluster_queue(
    name: str,
    flavor: str,
    gpus: int,
    namespace_selector: dict[str, Any],
    scarce: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Kueue ClusterQueue of `gpus` GPUs that covers everything a kubedet trainer asks for (Kueue admits
    nothing whose resources it does not cover: ephemeral-storage included); only the GPUs, and the
    quotas in `scarce` (e.g. {"cpu": "2"} for the real node's CPU trainings), are scarce."""
    quotas: dict[str, Any] = {
        "cpu": "100000",
        "memory": "1000Ti",
        "ephemeral-storage": "10000Ti",
        "nvidia.com/gpu": gpus,
        **(scarce or {}),
    }
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": namespace_selector,
            "resourceGroups": [
                {
                    "coveredResources": list(quotas),
                    "flavors": [
                        {
                            "name": flavor,
                            "resources": [{"name": k, "nominalQuota": v} for k, v in quotas.items()],
                        }
                    ],
                }
            ],
            **spec,
        },
    }


def local_queue(name: str, cluster_queue: str) -> dict[str, Any]:
    """A Kueue LocalQueue feeding `cluster_queue` (runs name it in spec.queueName)."""
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "LocalQueue",
        "metadata": {"name": name},
        "spec": {"clusterQueue": cluster_queue},
    }
