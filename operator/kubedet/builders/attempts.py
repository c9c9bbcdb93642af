"""A run's attempts and the GPU time they used and lost: status.statistics, a pure function.

Pods go away (Kueue's preemption deletes them, so does an eviction), so the attempts cannot be re-derived
from the cluster alone: the list in the run's status is the memory, and each decision merges what the
pods show now into it. Its fields change only when an attempt starts or ends, or when the attempt after a
disruption first says where it resumed from: moments the run's status is written for anyway, or rare
ones. The running attempt's time is not counted until it ends, so the totals never need a write per
second.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from kubedet.api.trainingrun import Progress, TrainingRun
from kubedet.api.usage import MAX_ATTEMPTS_LISTED, Attempt, AttemptOutcome, RunStatistics
from kubedet.builders import pods as podinfo

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
# The DisruptionTarget reason of a pod the scheduler preempted for a higher-priority one.
SCHEDULER_PREEMPTION = "PreemptionByScheduler"


def _time(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def leaders(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods that each stand for one attempt, oldest first: every pod of a one-node run, the pods
    of completion index 0 (which reports progress) of a multi-node run."""
    return [
        p
        for p in podinfo.by_creation(pods)
        if (p["metadata"].get("annotations") or {}).get(COMPLETION_INDEX, "0") == "0"
    ]


def trainer_started(pod: dict[str, Any]) -> datetime | None:
    state = (podinfo.trainer_status(pod) or {}).get("state") or {}
    return _time((state.get("running") or state.get("terminated") or {}).get("startedAt"))


def _ended(pod: dict[str, Any]) -> bool:
    phase = pod.get("status", {}).get("phase")
    return phase in ("Succeeded", "Failed") or podinfo.termination(pod) is not None


def outcome_of(pod: dict[str, Any], job_suspended: bool, queued: bool) -> AttemptOutcome:
    """How an ended pod's attempt ended."""
    status = pod.get("status", {})
    ended = podinfo.termination(pod)
    # The container ends before the kubelet reports the pod's phase: its exit code is the first word.
    if status.get("phase") == "Succeeded" or (ended is not None and ended.exit_code == 0):
        return AttemptOutcome.SUCCEEDED
    if ended is not None and ended.reason == "OOMKilled":
        return AttemptOutcome.OUT_OF_MEMORY
    disruption = next(
        (
            c
            for c in status.get("conditions") or []
            if c.get("type") == "DisruptionTarget" and c.get("status") == "True"
        ),
        None,
    )
    if disruption is not None and disruption.get("reason") == SCHEDULER_PREEMPTION:
        return AttemptOutcome.PREEMPTED
    if disruption is not None or status.get("reason") == "Evicted":
        return AttemptOutcome.EVICTED
    if pod["metadata"].get("deletionTimestamp"):
        return _vanished_outcome(job_suspended, queued)
    return AttemptOutcome.FAILED


def _vanished_outcome(job_suspended: bool, queued: bool) -> AttemptOutcome:
    """How an attempt whose pod was deleted ended, when nothing on the pod says why: Kueue deletes a
    queued Job's pods when it takes its admission back (the Job may be admitted again by the time the
    operator looks), a user's pause deletes the others' (anything else: deleted by hand)."""
    if queued:
        return AttemptOutcome.PREEMPTED
    return AttemptOutcome.SUSPENDED if job_suspended else AttemptOutcome.DELETED


def completed_epochs(progress: Progress) -> int | None:
    """Epochs done at a progress report: from the iteration count, which (unlike `epoch`) means the
    same in every phase of a report."""
    if progress.iteration is not None and progress.total_iterations and progress.total_epochs:
        per_epoch = max(1, progress.total_iterations // progress.total_epochs)
        return progress.iteration // per_epoch
    return progress.epoch


def _learn_resume(record: Attempt, progress: Progress | None) -> None:
    if progress is None or progress.pod_name != record.pod_name or progress.resumed_from_epoch is None:
        return
    record.resumed_from_epoch = progress.resumed_from_epoch
    record.resumed_checkpoint_saved_at = progress.resumed_checkpoint_saved_at


def _close(record: Attempt, end: datetime, outcome: AttemptOutcome, progress: Progress | None) -> None:
    record.end_time = max(end, record.start_time)
    record.outcome = outcome
    record.seconds = int((record.end_time - record.start_time).total_seconds())
    if progress is not None and progress.pod_name == record.pod_name:
        # The trainer's last report before its pod ended; once the next pod reports, it is gone.
        _learn_resume(record, progress)
        record.reached_epoch = completed_epochs(progress)


def seconds_lost(attempt: Attempt, following: Attempt | None) -> int | None:
    """The part of `attempt` that `following` trained again (see Attempt.seconds_lost)."""
    if attempt.seconds is None or attempt.end_time is None:
        return None
    if following is None:
        return 0 if attempt.outcome == AttemptOutcome.SUCCEEDED else None
    if following.resumed_from_epoch is None:
        return None
    if following.resumed_from_epoch == 0:
        return attempt.seconds
    saved = following.resumed_checkpoint_saved_at
    if saved is None:
        return None
    kept_until = max(attempt.start_time, min(saved, attempt.end_time))
    return int((attempt.end_time - kept_until).total_seconds())


def record_attempts(
    run: TrainingRun,
    previous: RunStatistics | None,
    pods: list[dict[str, Any]],
    progress: Progress | None,
    job_suspended: bool,
    queued: bool,
    now: datetime,
) -> RunStatistics | None:
    """The run's statistics after merging what its pods and its trainer's progress show now into the
    `previous` ones. None while no training pod has started."""
    records = [a.model_copy() for a in previous.attempts] if previous else []
    by_pod = {a.pod_name: a for a in records}
    current = leaders(pods)
    for pod in current:
        name = pod["metadata"]["name"]
        record = by_pod.get(name)
        if record is None:
            started = trainer_started(pod)
            if started is None:
                continue  # nothing of it ran yet (pending, pulling its image)
            number = records[-1].number + 1 if records else 1
            record = by_pod[name] = Attempt(number=number, pod_name=name, start_time=started)
            records.append(record)
        if record.end_time is None and _ended(pod):
            finished = podinfo.termination(pod)
            end = _time(finished.finished_at if finished else None) or now
            _close(record, end, outcome_of(pod, job_suspended, queued), progress)
        elif record.outcome == AttemptOutcome.FAILED and pod.get("status", {}).get("phase") == "Succeeded":
            # Judged on an earlier view of the pod; its phase now says better.
            record.outcome = AttemptOutcome.SUCCEEDED
    shown = {p["metadata"]["name"] for p in current}
    for record in records:
        if record.end_time is None and record.pod_name not in shown:
            # Gone without the operator seeing it end. A one-node Job makes the next pod only once the
            # last one ended, so the next pod's creation bounds the end.
            later = [
                created
                for p in current
                if (created := _time(p["metadata"].get("creationTimestamp"))) is not None
                and created > record.start_time
            ]
            _close(record, min([now, *later]), _vanished_outcome(job_suspended, queued), progress)
    for earlier, record in itertools.pairwise(records):
        if record.resumed_from_epoch is None and earlier.end_time is not None:
            # What the earlier attempt lost is known once this one says where it resumed: learnt as
            # soon as its trainer reports, not only when it ends.
            _learn_resume(record, progress)
    for index, record in enumerate(records):
        following = records[index + 1] if index + 1 < len(records) else None
        record.seconds_lost = seconds_lost(record, following)
    if not records:
        return previous
    return _totals(run, previous, records)


def _totals(run: TrainingRun, previous: RunStatistics | None, records: list[Attempt]) -> RunStatistics:
    nodes = run.spec.resources.nodes
    gpus = run.spec.resources.gpus_per_node * nodes
    dropped = records[: max(0, len(records) - MAX_ATTEMPTS_LISTED)]
    kept = records[len(dropped) :]

    def sums(attempts: list[Attempt]) -> tuple[int, int]:
        return sum(a.seconds or 0 for a in attempts), sum(a.seconds_lost or 0 for a in attempts)

    # Attempts that left the list earlier are counted in the previous totals only.
    listed_before = previous.attempts if previous else []
    before_seconds, before_lost = sums(listed_before)
    carried_pod = (previous.pod_seconds or 0) - before_seconds * nodes if previous else 0
    carried_pod_lost = (previous.pod_seconds_lost or 0) - before_lost * nodes if previous else 0
    carried_gpu = (previous.gpu_seconds or 0) - before_seconds * gpus if previous else 0
    carried_gpu_lost = (previous.gpu_seconds_lost or 0) - before_lost * gpus if previous else 0
    seconds, lost = sums(records)
    return RunStatistics(
        gpu_seconds=carried_gpu + seconds * gpus,
        gpu_seconds_lost=carried_gpu_lost + lost * gpus,
        pod_seconds=carried_pod + seconds * nodes,
        pod_seconds_lost=carried_pod_lost + lost * nodes,
        attempts=kept,
    )
