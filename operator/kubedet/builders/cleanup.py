"""The short Job that removes a deleted run's artifacts, and the decision which artifacts to keep."""

from __future__ import annotations

from typing import Any

from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.meta import object_meta, run_labels
from kubedet.builders.pod import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    claim_volumes,
    helper_placement,
    secret_env,
)
from kubedet.config import OperatorConfig

CLEANUP_COMPONENT = "cleanup"


def model_must_survive(
    model: dict[str, Any] | None, is_base_of_another: bool, used_by_runs: bool
) -> str | None:
    """Why a run's TrainedModel outlives the run (None: it goes with the run)."""
    if model is None:
        return None
    if model.get("spec", {}).get("published"):
        return "it is published"
    if is_base_of_another:
        return "another TrainedModel was fine-tuned from it"
    if used_by_runs:
        return "another TrainingRun uses it as its base model"
    return None


def build_cleanup_job(
    run: TrainingRun, output_uri: str, config: OperatorConfig, deadline_seconds: int
) -> dict[str, Any]:
    volumes, mounts = claim_volumes(read_only=[], read_write=[output_uri], mount_root=config.pvc_mount_root)
    container: dict[str, Any] = {
        "name": "cleanup",
        "image": run.spec.image or config.trainer_image,
        "args": ["cleanup", "--uri", output_uri],
        "env": [{"name": "KUBEDET_PVC_ROOT", "value": config.pvc_mount_root}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "volumeMounts": mounts,
        "securityContext": CONTAINER_SECURITY_CONTEXT,
    }
    env_from = secret_env([run.spec.output.secret_ref if run.spec.output else None])
    if env_from:
        container["envFrom"] = env_from
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        # Not owned by the run: a foreground deletion of the run would have the garbage collector
        # delete its cleanup Job before it ran. ttlSecondsAfterFinished removes it.
        "metadata": object_meta(
            naming.cleanup_job_name(run.name), run.namespace, run_labels(run, CLEANUP_COMPONENT), None
        ),
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": deadline_seconds,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": run_labels(run, CLEANUP_COMPONENT)},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": POD_SECURITY_CONTEXT,
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": volumes,
                    **helper_placement(config),
                },
            },
        },
    }
