"""What Kueue says about a run's Job, read from the Job's Workload: a pure function.

Kueue admits a Job by un-suspending it and takes the admission back (preemption, eviction) by suspending
it again; the Job alone cannot tell "not admitted yet" from "admitted, then preempted", nor say which
queue holds it or why. The Workload Kueue makes for the Job (labelled with the Job's uid) says all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubedet.api.constants import Reason

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta2"
WORKLOADS = "workloads"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
"""Kueue labels the Workload of a Job with the Job's uid."""


@dataclass(frozen=True)
class QueueState:
    """The run's place in Kueue while its Job is suspended."""

    reason: Reason
    message: str
    evictions: int
    """How often Kueue took the Job's admission back (preemptions included), by Kueue's own count."""
    settled: bool
    """Kueue has looked at the Workload (its QuotaReserved condition is set): nothing to re-check soon."""


def _condition(workload: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in workload.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _true(workload: dict[str, Any], kind: str) -> dict[str, Any] | None:
    condition = _condition(workload, kind)
    return condition if condition and condition.get("status") == "True" else None


def evictions(workload: dict[str, Any]) -> int:
    stats = workload.get("status", {}).get("schedulingStats") or {}
    return sum(int(e.get("count", 0)) for e in stats.get("evictions") or [])


def queue_state(workload: dict[str, Any] | None, queue: str, job_name: str) -> QueueState:
    """Why the run's suspended Job waits, in Kueue's words, with where it waits."""
    where = f"LocalQueue {queue}"
    if workload is None:
        return QueueState(
            Reason.QUEUED, f"Job {job_name} waits for Kueue to admit it from {where}", 0, settled=False
        )
    count = evictions(workload)
    name = workload["metadata"]["name"]
    evicted = _true(workload, "Evicted")
    if workload.get("spec", {}).get("active") is False:
        return QueueState(
            Reason.QUEUED,
            (
                f"Kueue holds Job {job_name}: its Workload {name} is deactivated (spec.active: false); "
                f"set spec.active to true to requeue it in {where}, and it resumes from its last checkpoint"
            ),
            count,
            settled=True,
        )
    if evicted and not _true(workload, "Admitted"):
        preempted = evicted.get("reason") == "Preempted" or _true(workload, "Preempted") is not None
        what = "preempted" if preempted else f"evicted ({evicted.get('reason', 'unknown reason')})"
        return QueueState(
            Reason.PREEMPTED if preempted else Reason.QUEUED,
            (
                f"Kueue {what} Job {job_name}: {evicted.get('message', '')}. It waits in {where} to be "
                f"admitted again and then resumes from its last checkpoint (Workload {name})"
            ),
            count,
            settled=True,
        )
    reserved = _condition(workload, "QuotaReserved")
    if reserved and reserved.get("status") == "True":
        cluster_queue = (workload.get("status", {}).get("admission") or {}).get("clusterQueue", "")
        return QueueState(
            Reason.QUEUED,
            f"Job {job_name} was admitted from {where} (ClusterQueue {cluster_queue}) and is starting",
            count,
            settled=True,
        )
    detail = reserved.get("message", "") if reserved else "Kueue has not looked at it yet"
    return QueueState(
        Reason.QUEUED,
        f"Job {job_name} waits in {where} for quota (Workload {name}): {detail}",
        count,
        settled=reserved is not None,
    )
