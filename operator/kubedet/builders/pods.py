"""Reading what pods say about a run: why they wait, how they ended, what the trainer reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubedet.api.runspec import TrainerFailure, TrainerResult, parse_termination_message

TRAINER_CONTAINER = "trainer"
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})


@dataclass(frozen=True)
class Termination:
    """How a pod's trainer container ended."""

    pod: str
    exit_code: int | None
    reason: str
    message: str
    pod_reason: str
    disrupted: bool
    finished_at: str | None


def trainer_status(pod: dict[str, Any]) -> dict[str, Any] | None:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return next(
        (s for s in statuses if s.get("name") == TRAINER_CONTAINER), statuses[0] if statuses else None
    )


def termination(pod: dict[str, Any]) -> Termination | None:
    status = trainer_status(pod)
    terminated = (status or {}).get("state", {}).get("terminated")
    if not terminated:
        return None
    conditions = pod.get("status", {}).get("conditions") or []
    return Termination(
        pod=pod["metadata"]["name"],
        exit_code=terminated.get("exitCode"),
        reason=terminated.get("reason", ""),
        message=terminated.get("message", "") or "",
        pod_reason=pod.get("status", {}).get("reason", "") or "",
        disrupted=any(c.get("type") == "DisruptionTarget" and c.get("status") == "True" for c in conditions),
        finished_at=terminated.get("finishedAt"),
    )


def trainer_message(text: str) -> TrainerResult | TrainerFailure | None:
    """The trainer's termination message, or None when it is not one (log tail, empty, garbage)."""
    if not text.strip():
        return None
    try:
        return parse_termination_message(text.strip())
    except (ValidationError, ValueError):
        return None


def by_creation(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))


def last_failed(pods: list[dict[str, Any]]) -> Termination | None:
    failed = [
        t for p in by_creation(pods) if p.get("status", {}).get("phase") == "Failed" and (t := termination(p))
    ]
    return failed[-1] if failed else None


def result_of(pods: list[dict[str, Any]]) -> TrainerResult | None:
    """The result of a succeeded run: rank 0's message (the first pod of an Indexed Job)."""
    succeeded = [p for p in by_creation(pods) if p.get("status", {}).get("phase") == "Succeeded"]
    succeeded.sort(
        key=lambda p: (
            p["metadata"].get("annotations", {}).get("batch.kubernetes.io/job-completion-index", "0")
        )
    )
    for pod in succeeded:
        ended = termination(pod)
        message = trainer_message(ended.message) if ended else None
        if isinstance(message, TrainerResult):
            return message
    return None


def waiting_reason(pods: list[dict[str, Any]]) -> tuple[str, str] | None:
    """Why the run's pods are not running yet: the scheduler's verdict or the container's wait."""
    for pod in by_creation(pods):
        if pod.get("status", {}).get("phase") != "Pending":
            continue
        for condition in pod.get("status", {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return condition.get("reason") or "Unschedulable", condition.get("message", "")
        status = trainer_status(pod)
        waiting = (status or {}).get("state", {}).get("waiting")
        if waiting:
            return waiting.get("reason", "ContainerCreating"), waiting.get("message", "")
    return None


def image_pull_failure(pods: list[dict[str, Any]]) -> tuple[str, str] | None:
    reason = waiting_reason(pods)
    if reason and reason[0] in IMAGE_PULL_REASONS:
        return reason
    return None


# The DisruptionTarget reason the kubelet gives a pod it evicts for node pressure (disk, memory).
KUBELET_EVICTION = "TerminationByKubelet"


def kubelet_evictions(pods: list[dict[str, Any]]) -> list[Termination]:
    """The run's pods the kubelet evicted for node pressure, oldest first. Other disruptions
    (preemption, an API eviction for a drain, node loss) are not the run's doing and are not listed."""
    evicted = []
    for pod in by_creation(pods):
        status = pod.get("status", {})
        conditions = status.get("conditions") or []
        by_kubelet = any(
            c.get("type") == "DisruptionTarget" and c.get("reason") == KUBELET_EVICTION for c in conditions
        )
        if status.get("phase") == "Failed" and (by_kubelet or status.get("reason") == "Evicted"):
            ended = termination(pod)
            evicted.append(
                ended
                or Termination(
                    pod=pod["metadata"]["name"],
                    exit_code=None,
                    reason="Evicted",
                    message=status.get("message", "") or "",
                    pod_reason=status.get("reason", "") or "",
                    disrupted=True,
                    finished_at=None,
                )
            )
    return evicted
