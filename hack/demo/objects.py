"""The demo's objects: the shipped samples, adapted to the devcluster, as a kubectl List on stdout.

    objects.py claims NAMESPACE      PersistentVolumes + bound claims (datasets, models, kubedet-artifacts)
    objects.py inputs                the sample Dataset and the two base TrainedModels
    objects.py run                   the sample TrainingRun
    objects.py draft                 the sample draft TrainingRun
    objects.py failing               the sample run with a learning rate that makes the loss diverge
    objects.py publishing-run        a run asking to publish its model (for the refusal by policy)

What is adapted, and why: kwok simulates the pods, so nothing trains. Annotations in
spec.podMetadata (which kubedet copies onto its pods) tell kwok how a pod ends and what its
termination message is; the message is what the trainer would write, built with the same pydantic
models (kubedet.api.runspec, kubedet.api.preflight) the operator parses. kwok nodes have no storage
provisioner either, so each claim is bound to a PersistentVolume made for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from kubedet.api.dataset import ClassStatistics, DatasetSplitsStatus, SplitStatistics
from kubedet.api.preflight import PreflightReport
from kubedet.api.runspec import (
    EXIT_CODES,
    FailureReason,
    TrainerFailure,
    TrainerResult,
    TrainerStatistics,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "manifests" / "samples"
NAMESPACE = "kubedet-demo"
ARTIFACTS = f"pvc://kubedet-artifacts/{NAMESPACE}"
# How long simulated pods "run": long enough to watch the phases change, short enough to wait for.
PREFLIGHT_SECONDS = "2s"
TRAINING_SECONDS = "6s"


def sample(file: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SAMPLES / file).read_text()))


def pod_annotations(run: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """Add simulation annotations to the run's podMetadata, keeping the sample's own."""
    pod_metadata = run["spec"].setdefault("podMetadata", {})
    pod_metadata["annotations"] = {**pod_metadata.get("annotations", {}), **annotations}
    return run


def succeeds(run: dict[str, Any], mAP: float, epochs: int, seconds: float) -> dict[str, Any]:
    """What the trainer writes when a run succeeds: artifact URIs, COCO metrics and statistics."""
    name = run["metadata"]["name"]
    hyper = run["spec"].get("hyperparameters", {})
    base = f"{ARTIFACTS}/{name}"
    result = TrainerResult(
        checkpoint_uri=f"{base}/checkpoint.pth",
        config_uri=f"{base}/config.py",
        metrics_uri=f"{base}/metrics.json",
        metrics={
            "bbox_mAP": mAP,
            "bbox_mAP_50": round(min(1.0, mAP + 0.21), 3),
            "bbox_mAP_75": round(mAP * 0.83, 3),
            "bbox_mAP_s": round(mAP * 0.52, 3),
        },
        statistics=TrainerStatistics(
            duration_seconds=seconds,
            total_parameters=4_873_556,
            epochs=epochs,
            learning_rate=float(hyper.get("learningRate", 0.004)),
            final_loss=0.6184,
            best_epoch=epochs - 2,
            seed=hyper.get("seed"),
        ),
        digests={"checkpoint": "3f" * 32, "config": "a7" * 32},
    )
    return pod_annotations(
        run,
        {
            "sim.kubedet.io/run-duration": TRAINING_SECONDS,
            "sim.kubedet.io/termination-message": result.serialize(),
        },
    )


def fails(run: dict[str, Any], reason: FailureReason, message: str, traceback: str) -> dict[str, Any]:
    """What the trainer writes when it gives up: reason, message, exit code, the traceback's end."""
    failure = TrainerFailure.for_reason(reason, message, traceback)
    return pod_annotations(
        run,
        {
            "sim.kubedet.io/run-duration": TRAINING_SECONDS,
            "sim.kubedet.io/outcome": "fail",
            "sim.kubedet.io/exit-code": str(EXIT_CODES[reason]),
            "sim.kubedet.io/termination-message": failure.serialize(),
        },
    )


def claims(namespace: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for name in ("datasets", "models", "kubedet-artifacts"):
        volume = f"{namespace}-{name}"[:63]
        objects += [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": volume, "labels": {"kubedet.io/demo": "true"}},
                "spec": {
                    "capacity": {"storage": "100Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": "",
                    "hostPath": {"path": f"/tmp/kubedet-demo-volumes/{volume}"},
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
                    "resources": {"requests": {"storage": "100Gi"}},
                },
            },
        ]
    return objects


def inputs() -> list[dict[str, Any]]:
    dataset = sample("dataset.yaml")
    classes = dataset["spec"]["classes"]
    # 412 tiles split 70/20/10, as the dataset's spec.annotations.split asks.
    report = PreflightReport(
        images=412,
        annotations=1_377,
        splits=DatasetSplitsStatus(
            train=SplitStatistics(images=288, annotations=969),
            val=SplitStatistics(images=83, annotations=271),
            test=SplitStatistics(images=41, annotations=137),
        ),
        classes=[
            ClassStatistics(name=c, annotations=n) for c, n in zip(classes, (802, 391, 184), strict=True)
        ],
    )
    dataset["spec"]["preflight"] = {
        "podMetadata": {
            "annotations": {
                "sim.kubedet.io/run-duration": PREFLIGHT_SECONDS,
                "sim.kubedet.io/termination-message": report.model_dump_json(
                    by_alias=True, exclude_none=True
                ),
            }
        }
    }
    return [
        dataset,
        sample("trainedmodel-base-rtmdet-tiny.yaml"),
        sample("trainedmodel-base-faster-rcnn.yaml"),
    ]


def run() -> list[dict[str, Any]]:
    return [succeeds(sample("trainingrun.yaml"), mAP=0.634, epochs=30, seconds=2_718.4)]


def draft() -> list[dict[str, Any]]:
    return [succeeds(sample("trainingrun-draft.yaml"), mAP=0.571, epochs=12, seconds=5_431.0)]


def failing() -> list[dict[str, Any]]:
    body = sample("trainingrun.yaml")
    body["metadata"]["name"] = "dump-sites-rtmdet-tiny-lr10"
    body["spec"]["hyperparameters"]["learningRate"] = 10.0
    body["spec"]["publish"] = False
    # A diverging loss is worth a retry in general (the Job retries exit code 44), not in a demo.
    body["spec"]["backoffLimit"] = 0
    return [
        fails(
            body,
            FailureReason.TRAINING_DIVERGED,
            "the loss became NaN at epoch 2, iteration 61 (lr 10.0): lower spec.hyperparameters.learningRate",
            'File "kubedet_trainer/train.py", line 212, in after_train_iter\n'
            '    raise TrainingDiverged(f"the loss became {loss} at epoch {epoch}")',
        )
    ]


def publishing_run() -> list[dict[str, Any]]:
    body = sample("trainingrun.yaml")
    body["metadata"]["name"] = "dump-sites-rtmdet-tiny-v2"
    return [body]


def main(argv: list[str]) -> None:
    builders = {
        "inputs": inputs,
        "run": run,
        "draft": draft,
        "failing": failing,
        "publishing-run": publishing_run,
    }
    if len(argv) == 2 and argv[0] == "claims":
        items = claims(argv[1])
    elif len(argv) == 1 and argv[0] in builders:
        items = builders[argv[0]]()
    else:
        raise SystemExit(__doc__)
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
