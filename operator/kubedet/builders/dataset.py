"""A Dataset's preflight Job and the status its outcome gives the Dataset."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from kubedet.api.conditions import set_condition
from kubedet.api.constants import MANAGED_BY, ConditionType, Label, Phase, Reason
from kubedet.api.dataset import Dataset, DatasetStatus
from kubedet.api.preflight import PREFLIGHT_SPEC_ENV, PreflightReport, PreflightSpec
from kubedet.api.runspec import RunDataset
from kubedet.builders import naming
from kubedet.builders.meta import object_meta
from kubedet.builders.pod import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    claim_volumes,
    helper_placement,
    secret_env,
)
from kubedet.config import OperatorConfig

PREFLIGHT_COMPONENT = "preflight"


def data_fingerprint(dataset: Dataset) -> str:
    """Hash of what the preflight looks at: publishing or describing a dataset does not re-check it."""
    spec = dataset.spec.to_wire()
    for ignored in ("published", "description"):
        spec.pop(ignored, None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def preflight_job_name(dataset: Dataset) -> str:
    return naming.preflight_job_name(dataset.name, data_fingerprint(dataset))


def preflight_pod_metadata(dataset: Dataset) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations the Dataset asks for on its preflight pod (spec.preflight.podMetadata)."""
    preflight = getattr(dataset.spec, "preflight", None)
    pod_metadata = getattr(preflight, "pod_metadata", None)
    if pod_metadata is None:
        return {}, {}
    return dict(pod_metadata.labels or {}), dict(pod_metadata.annotations or {})


def build_preflight_job(dataset: Dataset, config: OperatorConfig) -> dict[str, Any]:
    spec = PreflightSpec(dataset=RunDataset(name=dataset.name, spec=dataset.spec))
    volumes, mounts = claim_volumes(
        read_only=[dataset.spec.source.uri], read_write=[], mount_root=config.pvc_mount_root
    )
    volumes.append({"name": "tmp", "emptyDir": {}})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    labels: dict[str, str] = {
        Label.DATASET: dataset.name,
        Label.COMPONENT: PREFLIGHT_COMPONENT,
        Label.MANAGED_BY: MANAGED_BY,
    }
    extra_labels, pod_annotations = preflight_pod_metadata(dataset)
    container: dict[str, Any] = {
        "name": "preflight",
        "image": config.trainer_image,
        "args": ["preflight", "--spec-env", PREFLIGHT_SPEC_ENV],
        "env": [
            {"name": PREFLIGHT_SPEC_ENV, "value": json.dumps(spec.to_wire(), separators=(",", ":"))},
            {"name": "KUBEDET_PVC_ROOT", "value": config.pvc_mount_root},
        ],
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        "volumeMounts": mounts,
        "securityContext": CONTAINER_SECURITY_CONTEXT,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    env_from = secret_env([dataset.spec.source.secret_ref])
    if env_from:
        container["envFrom"] = env_from
    meta = object_meta(preflight_job_name(dataset), dataset.namespace, labels, dataset)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            # A broken dataset stays broken: no retries, the message says what to fix.
            "backoffLimit": 0,
            "activeDeadlineSeconds": config.preflight_timeout_seconds,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": {**extra_labels, **labels}, "annotations": pod_annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": POD_SECURITY_CONTEXT,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "containers": [container],
                    "volumes": volumes,
                    **helper_placement(config),
                },
            },
        },
    }


def checking_status(dataset: Dataset, now: datetime) -> DatasetStatus:
    status = (dataset.status or DatasetStatus()).model_copy(deep=True)
    status.phase = Phase.PENDING
    status.class_count = len(dataset.spec.classes)
    status.observed_generation = dataset.generation
    status.conditions = set_condition(
        status.conditions,
        ConditionType.READY,
        False,
        Reason.PENDING,
        "the dataset's files are being checked by a preflight Job",
        dataset.generation,
        now,
    )
    return status


def ready_status(dataset: Dataset, report: PreflightReport, now: datetime) -> DatasetStatus:
    status = checking_status(dataset, now)
    status.phase = Phase.READY
    status.images, status.annotations = report.images, report.annotations
    status.splits, status.classes = report.splits, report.classes
    status.conditions = set_condition(
        status.conditions,
        ConditionType.READY,
        True,
        Reason.READY,
        f"{report.images} images and {report.annotations} annotations checked",
        dataset.generation,
        now,
    )
    return status


def invalid_status(dataset: Dataset, reason: Reason | str, message: str, now: datetime) -> DatasetStatus:
    status = checking_status(dataset, now)
    status.phase = Phase.FAILED
    status.conditions = set_condition(
        status.conditions, ConditionType.READY, False, reason, message, dataset.generation, now
    )
    return status
