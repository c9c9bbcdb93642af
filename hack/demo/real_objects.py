"""`make demo`'s objects on the devcluster's real node, as a kubectl List on stdout.

    real_objects.py claims           the demo's claims (the devcluster's default StorageClass)
    real_objects.py seed             a Job writing the synthetic datasets and the base model onto them
    real_objects.py inputs           the Datasets and the base TrainedModel on those files
    real_objects.py run              a TrainingRun that trains RTMDet-tiny on the CPU node for real
    real_objects.py vandal           a pod deleting images of the second dataset after its preflight
    real_objects.py broken-run       a TrainingRun on that dataset: the trainer finds the missing files
    real_objects.py detect CONFIG CHECKPOINT IMAGE
                                     a pod running stock mmdet.apis inference with a published model

Everything here runs in real pods, from the images `make images` built. The real node is the
devcluster's CPU node; it is tainted so that the tests' simulated pods never land on it, so every pod
here selects it and tolerates the taint (a user's CPU pool needs neither). No pretrained weights can be
downloaded here: the base model is RTMDet-tiny randomly initialised, so "fine-tuning" it is training
from scratch, for as many epochs as the real-training tests need to learn the shapes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TRAINER_IMAGE = "docker.io/library/kubedet-trainer:dev"
REAL_NODE_LABEL = "devcluster.kubedet.io/real"
NODE_SELECTOR = {REAL_NODE_LABEL: "true"}
TOLERATIONS = [{"key": REAL_NODE_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
PVC_ROOT = "/mnt/pvc"
CLASSES = ["circle", "square"]
IMAGE_SIZE = 160
# The real-training tests' first run (tests/trainer): 80 images (64 to train on), 40 epochs from
# random weights, batch 8: about 4 minutes on 2 cores, and the shapes are learnt (mAP above 0.4).
IMAGES = 80
EPOCHS = 40
BASE_MODEL_DIR = "rtmdet-tiny-160"
# The trainer image runs as uid 1000; restricted pods need everything below said explicitly.
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def claims() -> list[dict[str, Any]]:
    """datasets, models and the artifact store, bound by the devcluster's default StorageClass."""
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}},
        }
        for name in ("datasets", "models", "kubedet-artifacts")
    ]


def helper_pod_spec(command: list[str], claims_mounted: dict[str, bool], **extra: Any) -> dict[str, Any]:
    """A restricted pod of the trainer image on the real node, with the named claims mounted under
    /mnt/pvc/<claim> (read-only where the value is True)."""
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    for claim, read_only in claims_mounted.items():
        volumes.append({"name": claim, "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}})
        mounts.append({"name": claim, "mountPath": f"{PVC_ROOT}/{claim}", "readOnly": read_only})
    volumes += extra.pop("volumes", [])
    mounts += extra.pop("mounts", [])
    return {
        "restartPolicy": "Never",
        "nodeSelector": NODE_SELECTOR,
        "tolerations": TOLERATIONS,
        "securityContext": POD_SECURITY,
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "main",
                "image": TRAINER_IMAGE,
                "imagePullPolicy": "Never",
                "command": command,
                # The root filesystem is read-only: matplotlib, torch and mmengine write under HOME.
                "env": [{"name": "HOME", "value": "/tmp"}, {"name": "MPLCONFIGDIR", "value": "/tmp/mpl"}],
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "1", "memory": "2Gi"},
                },
                "securityContext": CONTAINER_SECURITY,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
        **extra,
    }


def job(name: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"kubedet.io/demo": "true"}},
        "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 3600, "template": {"spec": pod_spec}},
    }


def seed() -> list[dict[str, Any]]:
    """Two synthetic datasets and the base model, written by the trainer image's own generator."""
    data, models = f"{PVC_ROOT}/datasets", f"{PVC_ROOT}/models"
    synthetic = "python -m kubedet_trainer.synthetic"
    size = f"--size {IMAGE_SIZE}"
    script = " && ".join(
        [
            f"{synthetic} --out {data}/shapes --images {IMAGES} {size} --seed 1 --no-config",
            f"{synthetic} --out {data}/shapes-vandalised --images 24 {size} --seed 2 --no-config",
            f"{synthetic} --base-model {models}/{BASE_MODEL_DIR} {size} --seed 0",
            f"ls -l {data}/shapes | head -3 && du -sh {data}/* {models}/*",
        ]
    )
    return [
        job("seed-demo-data", helper_pod_spec(["sh", "-c", script], {"datasets": False, "models": False}))
    ]


def dataset(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {
            "description": f"{IMAGE_SIZE} px synthetic tiles of circles and squares, drawn by the demo",
            "source": {"uri": f"pvc://datasets/{name}"},
            "annotations": {
                "file": "annotations.json",
                "split": {"train": 80, "val": 20, "test": 0, "seed": 42},
            },
            "images": "images",
            "classes": CLASSES,
            "published": True,
        },
    }


def inputs() -> list[dict[str, Any]]:
    base = {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainedModel",
        "metadata": {"name": "rtmdet-tiny-random"},
        "spec": {
            "description": (
                f"RTMDet-tiny at {IMAGE_SIZE} px, randomly initialised: no pretrained weights can be "
                "downloaded on the devcluster"
            ),
            "config": f"pvc://models/{BASE_MODEL_DIR}/config.py",
            "checkpoint": {"uri": f"pvc://models/{BASE_MODEL_DIR}/checkpoint.pth"},
            "published": True,
        },
    }
    return [dataset("shapes"), dataset("shapes-vandalised"), base]


def training_run(name: str, dataset_name: str, epochs: int, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "datasetRef": {"name": dataset_name},
            "baseModelRef": {"name": "rtmdet-tiny-random"},
            # Nothing to freeze in random weights.
            "hyperparameters": {
                "epochs": epochs,
                "batchSize": 8,
                "valInterval": 5,
                "frozenStages": 0,
                "seed": 7,
            },
            # The node has 2 cores; the operator's pod holds 100m of them.
            "resources": {"gpusPerNode": 0, "cpu": "1800m", "memory": "6Gi"},
            "nodeSelector": NODE_SELECTOR,
            "tolerations": TOLERATIONS,
            **spec,
        },
    }


def model_evaluation(name: str, model: str, dataset_name: str, split: str = "val") -> dict[str, Any]:
    """A ModelEvaluation scored on the CPU of the real node."""
    return {
        "apiVersion": "kubedet.io/v1alpha1",
        "kind": "ModelEvaluation",
        "metadata": {"name": name},
        "spec": {
            "modelRef": {"name": model},
            "datasetRef": {"name": dataset_name},
            "split": split,
            "resources": {"gpus": 0, "cpu": "1", "memory": "3Gi"},
            "nodeSelector": NODE_SELECTOR,
            "tolerations": TOLERATIONS,
        },
    }


def run() -> list[dict[str, Any]]:
    return [training_run("shapes-rtmdet-tiny", "shapes", EPOCHS, publish=False, backoffLimit=1)]


def vandal() -> list[dict[str, Any]]:
    """Someone deletes files under a dataset that its preflight already found complete."""
    script = f"rm -v {PVC_ROOT}/datasets/shapes-vandalised/images/shape_0000[0-5].png"
    return [job("vandal", helper_pod_spec(["sh", "-c", script], {"datasets": False}))]


def broken_run() -> list[dict[str, Any]]:
    return [training_run("shapes-vandalised-rtmdet-tiny", "shapes-vandalised", 5, backoffLimit=0)]


def detect(config_uri: str, checkpoint_uri: str, image: str) -> list[dict[str, Any]]:
    """A pod running hack/demo/detect.py (from a ConfigMap) with the model's files from the volume."""

    def path(uri: str) -> str:
        assert uri.startswith("pvc://"), f"the demo's model lives on a claim, not at {uri}"
        return f"{PVC_ROOT}/{uri.removeprefix('pvc://')}"

    script = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "demo-detect"},
        "data": {"detect.py": (ROOT / "hack" / "demo" / "detect.py").read_text()},
    }
    annotations = f"{PVC_ROOT}/datasets/shapes/annotations.json"
    command = [
        "python",
        "/demo/detect.py",
        path(config_uri),
        path(checkpoint_uri),
        f"{PVC_ROOT}/{image}",
        annotations,
    ]
    pod_spec = helper_pod_spec(
        command,
        {"datasets": True, "kubedet-artifacts": True},
        volumes=[{"name": "script", "configMap": {"name": "demo-detect"}}],
        mounts=[{"name": "script", "mountPath": "/demo", "readOnly": True}],
    )
    return [script, job("detect", pod_spec)]


def main(argv: list[str]) -> None:
    builders = {
        "claims": claims,
        "seed": seed,
        "inputs": inputs,
        "run": run,
        "vandal": vandal,
        "broken-run": broken_run,
    }
    if argv[:1] == ["detect"] and len(argv) == 4:
        items = detect(*argv[1:4])
    elif len(argv) == 1 and argv[0] in builders:
        items = builders[argv[0]]()
    else:
        sys.exit(f"usage: real_objects.py {{{','.join(builders)}}} | detect CONFIG CHECKPOINT IMAGE")
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
