"""What a training cost: its attempts, the GPU time they used and the GPU time disruptions wasted.

Kept by the operator in a TrainingRun's status.statistics while the run goes on (kubedet.builders.attempts
derives it from the run's pods and the progress its trainer reports), and copied into the TrainedModel's
status.statistics when the run succeeds.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from kubedet.api.common import DNSSubdomain, KubedetModel, Timestamp

MAX_ATTEMPTS_LISTED = 32
"""Attempts kept in the list; older ones leave it, and still count in the totals."""


class AttemptOutcome(StrEnum):
    """How one attempt ended."""

    SUCCEEDED = "Succeeded"
    """The training finished; the run's model comes from this attempt."""
    FAILED = "Failed"
    """The trainer failed (the run's Failed condition or the next attempt says more)."""
    OUT_OF_MEMORY = "OutOfMemory"
    """The pod was killed for going over its memory limit."""
    EVICTED = "Evicted"
    """A disruption took the pod: an eviction (node pressure, a drain), node loss, a taint."""
    PREEMPTED = "Preempted"
    """Its resources went to another workload: Kueue took the run's admission back, or the scheduler
    preempted the pod."""
    SUSPENDED = "Suspended"
    """spec.suspend paused the run's Job."""
    DELETED = "Deleted"
    """The pod went away before the operator saw how it ended (deleted, or evicted while the operator
    was not watching)."""


class Attempt(KubedetModel):
    """One try at the training: one training pod (rank 0's, in a multi-node run) from the start of its
    trainer to its end. Another attempt follows a disruption or a retried failure and resumes from the
    last checkpoint the earlier ones saved."""

    number: int = Field(ge=1)
    """1 for the run's first attempt, counting on through every later one."""
    pod_name: DNSSubdomain
    """The training pod."""
    start_time: Timestamp
    """When its trainer container started."""
    end_time: Timestamp | None = None
    """When its trainer container ended; unset while it runs. For a pod that went away before the
    operator saw it end: when the operator noticed, or when the Job made the next pod if that was
    earlier."""
    outcome: AttemptOutcome | None = None
    """How it ended; unset while it runs."""
    resumed_from_epoch: int | None = Field(default=None, ge=0)
    """The epoch whose checkpoint it resumed from (0: it started afresh), as its trainer reported it.
    Unset when the operator saw no report of this attempt (progress reports turned off, or the attempt
    ended before its first report)."""
    resumed_checkpoint_saved_at: Timestamp | None = None
    """When that checkpoint was saved, by an earlier attempt; unset for a fresh start."""
    reached_epoch: int | None = Field(default=None, ge=0)
    """Epochs completed when it ended, from its trainer's last progress report."""
    seconds: int | None = Field(default=None, ge=0)
    """Its running time (endTime - startTime); unset while it runs."""
    seconds_lost: int | None = Field(default=None, ge=0)
    """Of `seconds`, the time trained again by the next attempt: from the save of the checkpoint the
    next attempt resumed from (or from startTime, if that checkpoint is older) to endTime; all of
    `seconds` when the next attempt started afresh. 0 for the attempt that succeeded. Unset until the
    next attempt reported where it resumed from, and for a last attempt that failed."""


class ComputeTime(KubedetModel):
    """The compute a training used, over all of its attempts. A GPU-second is one GPU held for one
    second: an attempt's running time times gpusPerNode times nodes (a multi-node attempt is timed by its
    rank-0 pod). Time before the trainer starts (scheduling, image pull) is not counted."""

    gpu_seconds: int | None = Field(default=None, ge=0)
    """GPU-seconds of all ended attempts (0 for a CPU run: see podSeconds)."""
    gpu_seconds_lost: int | None = Field(default=None, ge=0)
    """Of gpuSeconds, those trained again after a resume: each attempt's secondsLost x its GPUs."""
    pod_seconds: int | None = Field(default=None, ge=0)
    """Pod-seconds of all ended attempts (running time x nodes): the same account for CPU runs."""
    pod_seconds_lost: int | None = Field(default=None, ge=0)
    """Of podSeconds, those trained again after a resume."""
    attempts: list[Attempt] = Field(default_factory=list, max_length=MAX_ATTEMPTS_LISTED)
    """The attempts, oldest first (the 32 latest when there were more; the totals count them all)."""


class RunStatistics(ComputeTime):
    """A run's attempts and compute time, kept by the operator as the run goes on. Totals count ended
    attempts; `kubectl kubedet stats RUN` adds the running one's time so far."""
