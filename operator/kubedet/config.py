"""Operator settings, read once from the environment (the Deployment sets them in one place)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# The admission allowlists live in the ConfigMap kubedet-system/kubedet-settings, under these keys. The
# API server reads them there (the ConfigMap is the parameter of the policy
# trainingruns-allowlists.kubedet.io); the operator gets the same ConfigMap through envFrom, so both
# read one list. kubedet.manifests.escalation_policies generates the policy from these names.
ALLOWED_IMAGES_KEY = "KUBEDET_ALLOWED_IMAGES"
ALLOWED_PRIORITY_CLASSES_KEY = "KUBEDET_ALLOWED_PRIORITY_CLASSES"
ALLOW_ANY = "*"
# Where an entry for a repository may continue: a tag or a digest. An entry that itself ends in one of
# IMAGE_PREFIX_ENDS is a prefix: everything that starts with it.
IMAGE_CONTINUATIONS = (":", "@")
IMAGE_PREFIX_ENDS = ("/", ":", "@")
DEFAULT_ALLOWED_IMAGES = ("ghcr.io/kubedet/trainer",)


def parse_list(value: str | None) -> tuple[str, ...]:
    """An allowlist as written in the settings: entries separated by commas or newlines, blanks
    around them ignored. The admission policy splits the same way (escalation_policies.cel_list)."""
    if not value:
        return ()
    return tuple(entry.strip() for entry in value.replace("\n", ",").split(",") if entry.strip())


def image_matches(image: str, entry: str) -> bool:
    """Whether an allowlist entry admits an image reference, as the admission policy decides it.

    `*` admits every image. An entry ending in `/`, `:` or `@` is a prefix (`registry.example.com/vision/`
    admits everything below it). Any other entry names a repository, or a repository with its tag or
    digest: it admits itself and itself followed by a tag or digest, so `ghcr.io/kubedet/trainer` admits
    `ghcr.io/kubedet/trainer:0.2.0` but not `ghcr.io/kubedet/trainer-dev` nor `ghcr.io/kubedet/trainer/x`.
    References are compared as written: `busybox` and `docker.io/library/busybox` are different entries.
    """
    if entry == ALLOW_ANY or image == entry:
        return True
    if not image.startswith(entry):
        return False
    return entry.endswith(IMAGE_PREFIX_ENDS) or image[len(entry)] in IMAGE_CONTINUATIONS


def image_allowed(image: str | None, allowed: Iterable[str]) -> bool:
    """Unset means the configured trainer image, which the platform team chose: always allowed."""
    return image is None or any(image_matches(image, entry) for entry in allowed)


def priority_class_allowed(name: str | None, allowed: Iterable[str]) -> bool:
    """PriorityClass names are compared whole; `*` admits every class, unset is always allowed."""
    return name is None or any(entry in (ALLOW_ANY, name) for entry in allowed)


HELPER_NODE_SELECTOR_KEY = "KUBEDET_HELPER_NODE_SELECTOR"
HELPER_TOLERATIONS_KEY = "KUBEDET_HELPER_TOLERATIONS"


class SettingError(ValueError):
    """A setting the operator cannot use; the message names it and says what it should look like."""


def parse_node_selector(value: str | None) -> tuple[tuple[str, str], ...]:
    """`key=value` pairs separated by commas (as `kubectl get -l` writes them)."""
    pairs = []
    for entry in parse_list(value):
        key, sep, label = entry.partition("=")
        if not sep or not key.strip():
            raise SettingError(
                f"{HELPER_NODE_SELECTOR_KEY}: {entry!r} is not key=value; write it as "
                "'kubedet.io/pool=cpu,topology.kubernetes.io/zone=a'"
            )
        pairs.append((key.strip(), label.strip()))
    return tuple(pairs)


TOLERATION_FIELDS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})


def parse_tolerations(value: str | None) -> tuple[dict[str, Any], ...]:
    """A JSON list of pod tolerations, as a pod spec writes them."""
    if not value or not value.strip():
        return ()
    example = '\'[{"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"}]\''
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise SettingError(f"{HELPER_TOLERATIONS_KEY}: not JSON ({error}); write it as {example}") from None
    if not isinstance(parsed, list) or not all(isinstance(t, dict) for t in parsed):
        raise SettingError(f"{HELPER_TOLERATIONS_KEY}: a JSON list of tolerations is needed, as {example}")
    for toleration in parsed:
        unknown = sorted(set(toleration) - TOLERATION_FIELDS)
        if unknown:
            raise SettingError(
                f"{HELPER_TOLERATIONS_KEY}: unknown toleration field(s) {unknown}; a toleration has "
                f"{sorted(TOLERATION_FIELDS)}"
            )
    return tuple(parsed)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class OperatorConfig:
    """What a platform team tunes per installation."""

    trainer_image: str = "ghcr.io/kubedet/trainer:0.1.0"
    """Image of the trainer Job, unless a TrainingRun names its own."""
    allowed_images: tuple[str, ...] = DEFAULT_ALLOWED_IMAGES
    """Images a TrainingRun may name in spec.image (see image_matches); the admission policy
    trainingruns-allowlists.kubedet.io refuses others. A run without spec.image gets trainer_image.
    The API server enforces it; the operator reads the same setting so that both agree."""
    allowed_priority_classes: tuple[str, ...] = ()
    """PriorityClasses a TrainingRun may name in spec.priorityClassName; none by default."""
    artifact_store_uri: str = "pvc://kubedet-artifacts"
    """Where runs write their results unless spec.output.uri says otherwise; a run writes under
    <store>/<namespace>/<run-name>-<uid prefix>/."""
    progress_reports: bool = True
    """Give each training pod a ServiceAccount that may patch only its own run's status, so the
    trainer can report progress. Off: pods get no API access and progress comes only at the end."""
    cleanup_timeout_seconds: int = 300
    """How long a deleted run's artifact cleanup Job may hold the deletion before it is abandoned."""
    preflight_timeout_seconds: int = 900
    """activeDeadlineSeconds of a Dataset's preflight Job."""
    pvc_mount_root: str = "/mnt/pvc"
    """Where pvc:// claims are mounted in trainer pods; the trainer maps pvc://<claim>/<path> there."""
    max_gpus_per_node: int | None = None
    """The most GPUs per node a run may ask for; larger requests are refused before a Job is made.
    Unset: whatever the API allows (8). Not read from the nodes that exist: GPU pools that scale from
    zero have none until a pending pod asks the autoscaler for one."""
    image_pull_grace_seconds: float = 300.0
    """How long a training pod may fail to pull its image before the run fails with ImagePullFailed."""
    max_workers: int = 64
    """Threads reconciling objects at once. They mostly wait on the API server: at 1,000 runs created
    at once on the devcluster, 64 instead of 16 cut p99 create -> Job from 48 s to 10 s."""
    queue_idle_seconds: float = 0.5
    """How long kopf keeps an object's event worker after its last event. An idle worker still holds
    that event's whole body (a pod's is ~75 KB of Python objects), so during a burst of 1,000 runs
    kopf's 5 s kept thousands of bodies alive at once; a new event simply starts a new worker."""
    metrics_port: int = 8081
    """Port of the Prometheus metrics endpoint; 0 turns it off."""
    namespaces: tuple[str, ...] = field(default_factory=tuple)
    """Namespaces to watch; empty watches the whole cluster."""
    helper_node_selector: tuple[tuple[str, str], ...] = ()
    """Node labels the operator's helper pods (dataset preflight, artifact cleanup) must match: they
    need CPU and the volumes, never a GPU, so a platform team keeps them on its CPU pool."""
    helper_tolerations: tuple[dict[str, Any], ...] = ()
    """Taints the helper pods tolerate (the CPU pool's, when it is tainted)."""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        defaults = cls()
        namespaces = os.environ.get("KUBEDET_NAMESPACES", "")
        return cls(
            trainer_image=os.environ.get("KUBEDET_TRAINER_IMAGE", defaults.trainer_image),
            allowed_images=parse_list(os.environ[ALLOWED_IMAGES_KEY])
            if ALLOWED_IMAGES_KEY in os.environ
            else defaults.allowed_images,
            allowed_priority_classes=parse_list(os.environ.get(ALLOWED_PRIORITY_CLASSES_KEY)),
            artifact_store_uri=os.environ.get("KUBEDET_ARTIFACT_STORE", defaults.artifact_store_uri).rstrip(
                "/"
            ),
            progress_reports=_env_bool("KUBEDET_PROGRESS_REPORTS", defaults.progress_reports),
            cleanup_timeout_seconds=int(
                os.environ.get("KUBEDET_CLEANUP_TIMEOUT_SECONDS", defaults.cleanup_timeout_seconds)
            ),
            preflight_timeout_seconds=int(
                os.environ.get("KUBEDET_PREFLIGHT_TIMEOUT_SECONDS", defaults.preflight_timeout_seconds)
            ),
            pvc_mount_root=os.environ.get("KUBEDET_PVC_MOUNT_ROOT", defaults.pvc_mount_root),
            max_gpus_per_node=int(os.environ["KUBEDET_MAX_GPUS_PER_NODE"])
            if os.environ.get("KUBEDET_MAX_GPUS_PER_NODE")
            else None,
            image_pull_grace_seconds=float(
                os.environ.get("KUBEDET_IMAGE_PULL_GRACE_SECONDS", defaults.image_pull_grace_seconds)
            ),
            max_workers=int(os.environ.get("KUBEDET_MAX_WORKERS", defaults.max_workers)),
            queue_idle_seconds=float(
                os.environ.get("KUBEDET_QUEUE_IDLE_SECONDS", defaults.queue_idle_seconds)
            ),
            metrics_port=int(os.environ.get("KUBEDET_METRICS_PORT", defaults.metrics_port)),
            namespaces=tuple(n for n in namespaces.split(",") if n.strip()),
            helper_node_selector=parse_node_selector(os.environ.get(HELPER_NODE_SELECTOR_KEY)),
            helper_tolerations=parse_tolerations(os.environ.get(HELPER_TOLERATIONS_KEY)),
        )
