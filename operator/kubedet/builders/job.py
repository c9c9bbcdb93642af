"""The training Job: one pod per node running the trainer image with the run spec mounted.

The run spec rides in an annotation of the pod template and reaches the trainer as a file through a
downward API volume: it is immutable with the Job, and costs no object (and no API write) of its own.
"""

from __future__ import annotations

from typing import Any

from kubedet.api.constants import TRAINER_SERVICE_ACCOUNT, Annotation, Label
from kubedet.api.runspec import EXIT_USER_ERROR, RunSpec
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.meta import object_meta, run_labels
from kubedet.builders.pod import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    claim_volumes,
    secret_env,
)
from kubedet.builders.runspec import RUNSPEC_KEY, run_spec_annotation
from kubedet.config import OperatorConfig

TRAINER_CONTAINER = "trainer"
GPU_RESOURCE = "nvidia.com/gpu"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
RENDEZVOUS_PORT = 29500
SPEC_MOUNT = "/etc/kubedet"
WORKSPACE = "/workspace"
DEFAULT_SHARED_MEMORY = "2Gi"
DEFAULT_CPU = "4"
DEFAULT_MEMORY = "16Gi"
DEFAULT_EPHEMERAL_STORAGE = "20Gi"
TMP_SIZE = "2Gi"
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
POD_NAME_ENV = "KUBEDET_POD_NAME"

# The trainer's "your input is wrong" exit code fails the Job at once: retrying cannot fix it.
# Disruptions (eviction, preemption, node drain) are not the run's fault and do not use up
# backoffLimit; the trainer resumes from its last checkpoint.
POD_FAILURE_POLICY: dict[str, Any] = {
    "rules": [
        {
            "action": "FailJob",
            "onExitCodes": {
                "containerName": TRAINER_CONTAINER,
                "operator": "In",
                "values": [EXIT_USER_ERROR],
            },
        },
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
}


def _resources(run: TrainingRun) -> dict[str, Any]:
    wanted = run.spec.resources
    amounts = {
        "cpu": str(wanted.cpu or DEFAULT_CPU),
        "memory": str(wanted.memory or DEFAULT_MEMORY),
        # Bounded scratch: without it a run that fills the node's disk takes the node's other pods
        # down with it before the kubelet evicts anything.
        "ephemeral-storage": scratch_size(run),
    }
    if wanted.gpus_per_node:
        amounts[GPU_RESOURCE] = str(wanted.gpus_per_node)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def scratch_size(run: TrainingRun) -> str:
    return str(run.spec.resources.ephemeral_storage or DEFAULT_EPHEMERAL_STORAGE)


def _distributed_env(run: TrainingRun) -> list[dict[str, Any]]:
    nodes = run.spec.resources.nodes
    gpus = max(1, run.spec.resources.gpus_per_node)
    env: list[dict[str, Any]] = [
        {"name": "NNODES", "value": str(nodes)},
        {"name": "NPROC_PER_NODE", "value": str(gpus)},
    ]
    if nodes > 1:
        job = naming.job_name(run.name)
        service = naming.workers_service_name(run.name)
        env += [
            # Indexed Job pods get stable DNS names <job>-<index>.<service>; index 0 hosts the rendezvous.
            {"name": "MASTER_ADDR", "value": f"{job}-0.{service}"},
            {"name": "MASTER_PORT", "value": str(RENDEZVOUS_PORT)},
            {
                "name": "NODE_RANK",
                "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}
                },
            },
        ]
    return env


def build_training_job(run: TrainingRun, run_spec: RunSpec, config: OperatorConfig) -> dict[str, Any]:
    spec = run.spec
    name = naming.job_name(run.name)
    labels = run_labels(run, "trainer")
    pod_labels = {
        **(spec.pod_metadata.labels if spec.pod_metadata and spec.pod_metadata.labels else {}),
        **labels,
    }
    pod_annotations: dict[str, str] = dict(spec.pod_metadata.annotations or {}) if spec.pod_metadata else {}
    pod_annotations[Annotation.RUN_SPEC] = run_spec_annotation(run_spec)
    dataset = run_spec.dataset.spec
    volumes, mounts = claim_volumes(
        read_only=[dataset.source.uri, run_spec.base_model.checkpoint_uri, run_spec.base_model.config],
        read_write=[run_spec.output_uri],
        mount_root=config.pvc_mount_root,
    )
    volumes += [
        {
            "name": "runspec",
            "downwardAPI": {
                "items": [
                    {
                        "path": RUNSPEC_KEY,
                        "fieldRef": {"fieldPath": f"metadata.annotations['{Annotation.RUN_SPEC}']"},
                    }
                ]
            },
        },
        {"name": "workspace", "emptyDir": {"sizeLimit": scratch_size(run)}},
        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}},
        # Data-loader workers pass batches through shared memory; the container default (64Mi) is
        # too small for detection batches.
        {
            "name": "dshm",
            "emptyDir": {
                "medium": "Memory",
                "sizeLimit": str(spec.resources.shared_memory or DEFAULT_SHARED_MEMORY),
            },
        },
    ]
    mounts += [
        {"name": "runspec", "mountPath": SPEC_MOUNT, "readOnly": True},
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    env = [
        {"name": "KUBEDET_PVC_ROOT", "value": config.pvc_mount_root},
        {"name": "KUBEDET_RUN_NAME", "value": run.name},
        {"name": "KUBEDET_RUN_NAMESPACE", "value": run.namespace},
        # Named in each progress report, so the operator knows which attempt reported.
        {"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "value": "1"},
        {"name": "HOME", "value": WORKSPACE},
        *_distributed_env(run),
    ]
    if config.progress_reports:
        env.append({"name": "KUBEDET_PROGRESS_API", "value": "1"})
    container: dict[str, Any] = {
        "name": TRAINER_CONTAINER,
        "image": spec.image or config.trainer_image,
        "args": ["train", "--spec", f"{SPEC_MOUNT}/{RUNSPEC_KEY}", "--workdir", WORKSPACE],
        "env": env,
        "envFrom": secret_env(
            [
                dataset.source.secret_ref,
                run_spec.base_model.checkpoint_secret_ref,
                spec.output.secret_ref if spec.output else None,
            ]
        ),
        "resources": _resources(run),
        "volumeMounts": mounts,
        "securityContext": CONTAINER_SECURITY_CONTEXT,
        # The trainer writes its result or failure there; the log tail stands in if it could not.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if not container["envFrom"]:
        del container["envFrom"]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": POD_SECURITY_CONTEXT,
        "containers": [container],
        "volumes": volumes,
        "enableServiceLinks": False,
    }
    if config.progress_reports:
        pod_spec["serviceAccountName"] = TRAINER_SERVICE_ACCOUNT
        pod_spec["automountServiceAccountToken"] = True
    else:
        pod_spec["automountServiceAccountToken"] = False
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [t.to_wire() for t in spec.tolerations]
    if spec.priority_class_name:
        pod_spec["priorityClassName"] = spec.priority_class_name
    job_spec: dict[str, Any] = {
        "backoffLimit": spec.backoff_limit,
        "podFailurePolicy": POD_FAILURE_POLICY,
        "template": {"metadata": {"labels": pod_labels, "annotations": pod_annotations}, "spec": pod_spec},
    }
    if spec.resources.nodes > 1:
        job_spec |= {
            "completionMode": "Indexed",
            "completions": spec.resources.nodes,
            "parallelism": spec.resources.nodes,
        }
        pod_spec["subdomain"] = naming.workers_service_name(run.name)
    if spec.active_deadline_seconds:
        job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    if spec.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    job_labels = dict(labels)
    if spec.queue_name:
        # Kueue admits the Job by un-suspending it when the queue has quota.
        job_labels[KUEUE_QUEUE_LABEL] = spec.queue_name
        job_spec["suspend"] = True
    elif spec.suspend:
        job_spec["suspend"] = True
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(name, run.namespace, job_labels, run),
        "spec": job_spec,
    }


def build_workers_service(run: TrainingRun) -> dict[str, Any]:
    """The headless Service giving the pods of a multi-node run stable DNS names for torchrun."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            naming.workers_service_name(run.name), run.namespace, run_labels(run, "workers"), run
        ),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {Label.TRAINING_RUN_UID: str(run.metadata["uid"]), Label.COMPONENT: "trainer"},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT}],
        },
    }
