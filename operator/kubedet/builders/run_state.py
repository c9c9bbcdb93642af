"""What a TrainingRun's status should be, given what the cluster shows: a pure function.

`decide` is the whole lifecycle in one place. It is level-based: it looks only at the run, its Job,
the Job's pods and the objects the run refers to, never at what happened before, so the operator
converges from any state (after a crash, a missed event or an API-server restart) without doing a
step twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from kubedet.api.common import LocalObjectReference
from kubedet.api.conditions import is_condition_true, set_condition
from kubedet.api.constants import ConditionType, Phase, Reason
from kubedet.api.dataset import Dataset
from kubedet.api.runspec import FailureReason, TrainerFailure, TrainerResult
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import Progress, TrainingRun, TrainingRunStatus
from kubedet.builders import attempts, kueue, naming
from kubedet.builders import pods as podinfo
from kubedet.builders.job import KUEUE_QUEUE_LABEL

TERMINAL_PHASES = (Phase.SUCCEEDED, Phase.FAILED)


class Action(Enum):
    CREATE_JOB = "create-job"
    SET_JOB_SUSPEND = "set-job-suspend"
    DELETE_JOB = "delete-job"
    CREATE_MODEL = "create-model"
    CREATE_ERROR_CONFIGMAP = "create-error-configmap"


@dataclass(frozen=True)
class Failure:
    """Why a run failed, with what the error ConfigMap records."""

    reason: Reason
    message: str
    termination: podinfo.Termination | None = None


@dataclass
class Observed:
    """The cluster as the operator sees it for one run."""

    run: TrainingRun
    job: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)
    dataset: Dataset | None = None
    base_model: TrainedModel | None = None
    max_gpus_per_node: int | None = None
    """The most GPUs per node the cluster admin allows a run to ask for (the operator's setting);
    None: any request the API accepts. Not the largest node that exists now: GPU pools that scale
    from zero have no node until a pending pod asks the autoscaler for one."""
    image_pull_grace_seconds: float = 300.0
    job_name_taken: bool = False
    """A Job with the run's Job name exists but belongs to something else (an earlier run of the same
    name, on its way out): not this run's Job, and not a sign that this run's Job was deleted."""
    workload: dict[str, Any] | None = None
    """The Kueue Workload of the run's Job, read while Kueue holds the Job suspended (None otherwise,
    or when Kueue has not made it yet)."""
    model_name_taken: bool = False
    """A TrainedModel named <run>-model exists that this run did not create (imported by hand, or kept
    from an earlier run of the same name): the run's model gets a name of its own."""


@dataclass
class Decision:
    status: TrainingRunStatus
    actions: list[Action] = field(default_factory=list)
    result: TrainerResult | None = None
    failure: Failure | None = None
    suspend_job: bool | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, reason, message) of the Events to post: one per condition that changed."""
    recheck_after: float | None = None
    """Seconds after which the run must be looked at again even if nothing changes (a deadline)."""


def validate(observed: Observed) -> tuple[Reason, str] | None:
    """What stops the run from being scheduled, or None when nothing does."""
    run = observed.run
    ds, model = observed.dataset, observed.base_model
    dataset_name, model_name = run.spec.dataset_ref.name, run.spec.base_model_ref.name
    if ds is None:
        return Reason.DATASET_NOT_FOUND, (
            f"Dataset {dataset_name!r} does not exist in namespace {run.namespace}; create it or fix "
            "spec.datasetRef.name. The run proceeds as soon as it exists."
        )
    if not ds.spec.published:
        return Reason.DATASET_NOT_PUBLISHED, (
            f"Dataset {dataset_name!r} is not published; set spec.published: true on it (only published "
            "datasets may be trained on)."
        )
    if not (ds.status and is_condition_true(ds.status.conditions, ConditionType.READY)):
        return Reason.DATASET_NOT_READY, (
            f"Dataset {dataset_name!r} is not Ready yet (its files are being checked, or the check failed: "
            f"see `kubectl describe dataset {dataset_name}`)."
        )
    if model is None:
        return Reason.BASE_MODEL_NOT_FOUND, (
            f"TrainedModel {model_name!r} does not exist in namespace {run.namespace}; create it or fix "
            "spec.baseModelRef.name."
        )
    if not (model.status and is_condition_true(model.status.conditions, ConditionType.READY)):
        return Reason.BASE_MODEL_NOT_READY, (
            f"TrainedModel {model_name!r} is not Ready (see `kubectl describe trainedmodel {model_name}`)."
        )
    secrets = {
        "the dataset's spec.source.secretRef": ds.spec.source.secret_ref,
        "the base model's spec.checkpoint.secretRef": model.spec.checkpoint.secret_ref,
        "spec.output.secretRef": run.spec.output.secret_ref if run.spec.output else None,
    }
    named = {where: ref.name for where, ref in secrets.items() if ref is not None}
    if len(set(named.values())) > 1:
        listed = ", ".join(f"{where} ({name})" for where, name in named.items())
        return Reason.CONFIG_INVALID, (
            f"{listed} name different Secrets; the trainer gets their keys as one environment, where the "
            "same key (AWS_ACCESS_KEY_ID, ...) from two Secrets would silently overwrite the other: put the "
            "credentials for every location in one Secret, or leave secretRef unset where none is needed."
        )
    gpus = run.spec.resources.gpus_per_node
    if observed.max_gpus_per_node is not None and gpus > observed.max_gpus_per_node:
        return Reason.UNSCHEDULABLE, (
            f"spec.resources.gpusPerNode is {gpus} but this cluster allows at most "
            f"{observed.max_gpus_per_node} per node (the operator's KUBEDET_MAX_GPUS_PER_NODE); lower it or "
            "spread the run over more nodes (spec.resources.nodes)."
        )
    return None


def _job_condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


_TRAINER_REASONS = {
    FailureReason.DATASET_INVALID: Reason.DATASET_INVALID,
    FailureReason.CONFIG_INVALID: Reason.CONFIG_INVALID,
    FailureReason.OUT_OF_MEMORY: Reason.OUT_OF_MEMORY,
    FailureReason.TRAINING_DIVERGED: Reason.TRAINING_DIVERGED,
    FailureReason.STORAGE_UNAVAILABLE: Reason.STORAGE_UNAVAILABLE,
    FailureReason.UNKNOWN: Reason.UNKNOWN,
}


def classify_failure(job: dict[str, Any], pods: list[dict[str, Any]]) -> Failure:
    """Name the cause of a failed Job: the trainer's own verdict first, then what Kubernetes saw."""
    condition = _job_condition(job, "Failed") or _job_condition(job, "FailureTarget") or {}
    job_reason, job_message = condition.get("reason", ""), condition.get("message", "")
    ended = podinfo.last_failed(pods)
    if job_reason == "DeadlineExceeded":
        return Failure(Reason.DEADLINE_EXCEEDED, f"spec.activeDeadlineSeconds ran out: {job_message}", ended)
    if ended is not None:
        message = podinfo.trainer_message(ended.message)
        if isinstance(message, TrainerFailure):
            return Failure(_TRAINER_REASONS[message.reason], message.message, ended)
        if ended.reason == "OOMKilled":
            return Failure(
                Reason.OUT_OF_MEMORY,
                (
                    f"pod {ended.pod} was killed for using more memory than its limit; raise "
                    "spec.resources.memory or lower spec.hyperparameters.batchSize"
                ),
                ended,
            )
        if ended.pod_reason == "Evicted" or ended.disrupted:
            return Failure(
                Reason.EVICTED, f"pod {ended.pod} was evicted: {ended.message or job_message}", ended
            )
    if job_reason == "BackoffLimitExceeded":
        detail = f"; the last attempt exited with code {ended.exit_code} ({ended.reason})" if ended else ""
        return Failure(
            Reason.BACKOFF_LIMIT_EXCEEDED, f"the Job failed after spec.backoffLimit retries{detail}", ended
        )
    return Failure(Reason.UNKNOWN, job_message or "the training Job failed for an unknown reason", ended)


def _set(
    decision: Decision,
    run: TrainingRun,
    kind: ConditionType,
    ok: bool,
    reason: Reason | str,
    message: str,
    now: datetime,
) -> None:
    before = {c.type: (c.status, c.reason) for c in decision.status.conditions}
    decision.status.conditions = set_condition(
        decision.status.conditions, kind, ok, reason, message, run.generation, now
    )
    after = next(c for c in decision.status.conditions if c.type == kind)
    # One Event per reason and decision: a run that ends flips three conditions to the same reason
    # (Succeeded, Failed, Running: TrainingSucceeded); the first, most telling message is the story,
    # the other two would be two more API writes per run saying it again.
    repeated = any(queued_reason == str(reason) for _, queued_reason, _ in decision.events)
    previous = before.get(kind)
    if previous != (after.status, after.reason) and not repeated and worth_an_event(kind, ok, previous):
        warning = (kind == ConditionType.FAILED and ok) or (kind == ConditionType.VALIDATED and not ok)
        decision.events.append(("Warning" if warning else "Normal", str(reason), message))


def worth_an_event(kind: ConditionType, ok: bool, previous: tuple[str, str] | None) -> bool:
    """Events tell what `kubectl describe` readers want: what the operator did (a Job, a model),
    what went wrong, and what a user changed (suspend, resume). Conditions that confirm the expected
    (validated, not suspended, pod running, not failed) stay in the status only: each Event is an API
    write, and they were most of the operator's writes per run."""
    if kind in (ConditionType.SCHEDULED, ConditionType.FAILED, ConditionType.SUCCEEDED):
        return ok or kind == ConditionType.SCHEDULED
    if kind == ConditionType.VALIDATED:
        # A problem, or the end of one: the run goes on after waiting.
        return not ok or (previous is not None and previous[0] == "False")
    if kind == ConditionType.SUSPENDED:
        # A pause, or a resume.
        return ok or (previous is not None and previous[0] == "True")
    return False


def _finish(decision: Decision, run: TrainingRun, phase: Phase, now: datetime) -> None:
    decision.status.phase = phase
    decision.status.completion_time = decision.status.completion_time or now
    _set(
        decision,
        run,
        ConditionType.RUNNING,
        False,
        Reason.TRAINING_SUCCEEDED if phase == Phase.SUCCEEDED else Reason.TRAINING_FAILED,
        "training ended",
        now,
    )


def _fail(decision: Decision, run: TrainingRun, failure: Failure, now: datetime) -> None:
    decision.failure = failure
    decision.actions.append(Action.CREATE_ERROR_CONFIGMAP)
    decision.status.error_config_map_ref = LocalObjectReference(name=naming.error_configmap_name(run.name))
    _set(decision, run, ConditionType.FAILED, True, failure.reason, failure.message, now)
    _set(decision, run, ConditionType.SUCCEEDED, False, failure.reason, "the run failed", now)
    _finish(decision, run, Phase.FAILED, now)


def _succeed(
    decision: Decision, run: TrainingRun, result: TrainerResult, now: datetime, name_taken: bool = False
) -> None:
    decision.result = result
    decision.actions.append(Action.CREATE_MODEL)
    usual = naming.trained_model_name(run.name)
    model = naming.trained_model_name(run.name, str(run.metadata["uid"])) if name_taken else usual
    decision.status.trained_model_ref = LocalObjectReference(name=model)
    renamed = (
        f" (TrainedModel {usual} already exists and was not made by this run, so it was left alone)"
        if name_taken
        else ""
    )
    best = result.metrics.get("bbox_mAP")
    progress = decision.status.progress or Progress()
    decision.status.progress = progress.model_copy(
        update={
            "percent": 100,
            "eta_seconds": 0,
            "best_map": best,
            "best_epoch": result.statistics.best_epoch or None,
        }
    )
    mAP = f"; bbox mAP {best:.3f}" if best is not None else ""
    created = f"TrainedModel {model} was created{mAP}{renamed}"
    stopped = early_stop_message(run, result)
    _set(
        decision,
        run,
        ConditionType.SUCCEEDED,
        True,
        Reason.EARLY_STOPPED if stopped else Reason.TRAINING_SUCCEEDED,
        f"{stopped}; {created}" if stopped else created,
        now,
    )
    _set(decision, run, ConditionType.FAILED, False, Reason.TRAINING_SUCCEEDED, "the run succeeded", now)
    _finish(decision, run, Phase.SUCCEEDED, now)


def early_stop_message(run: TrainingRun, result: TrainerResult) -> str | None:
    """Why and where early stopping ended the run, or None when it trained every epoch."""
    stats, rule = result.statistics, run.spec.hyperparameters.early_stopping
    if not stats.stopped_early:
        return None
    requested = stats.requested_epochs or run.spec.hyperparameters.epochs
    why = (
        f"validation bbox mAP did not improve by {rule.min_delta:g} for {rule.patience} validation rounds"
        if rule is not None
        else "early stopping ended the training"
    )
    best = result.metrics.get("bbox_mAP")
    kept = f"kept epoch {stats.best_epoch}" + (f" (bbox mAP {best:.3f})" if best is not None else "")
    return f"{why}: stopped after epoch {stats.epochs} of {requested}; {kept}"


def _set_scheduled(
    decision: Decision,
    run: TrainingRun,
    job_name: str,
    queue: kueue.QueueState | None,
    now: datetime,
    admitted_from: str | None = None,
) -> None:
    if queue is not None:
        _set(decision, run, ConditionType.SCHEDULED, False, queue.reason, queue.message, now)
        if not queue.settled:
            # Kueue makes the Workload and looks at it within moments of the Job, with no event on
            # the Job: look again shortly, until Kueue has said why the Job waits.
            decision.recheck_after = min(
                decision.recheck_after or QUEUE_RECHECK_SECONDS, QUEUE_RECHECK_SECONDS
            )
    else:
        _set(
            decision,
            run,
            ConditionType.SCHEDULED,
            True,
            Reason.JOB_CREATED,
            f"Job {job_name} was admitted by Kueue from LocalQueue {admitted_from}"
            if admitted_from
            else f"Job {job_name} was created",
            now,
        )


QUEUE_RECHECK_SECONDS = 2.0


def _schedule(decision: Decision, observed: Observed, now: datetime) -> None:
    run = observed.run
    problem = validate(observed)
    if problem:
        decision.status.phase = Phase.PENDING
        _set(decision, run, ConditionType.VALIDATED, False, problem[0], problem[1], now)
        return
    _set(
        decision,
        run,
        ConditionType.VALIDATED,
        True,
        Reason.VALIDATED,
        "the dataset and the base model are ready and the GPU request is within the cluster's limit",
        now,
    )
    if run.spec.suspend:
        decision.status.phase = Phase.PENDING
        _set(
            decision,
            run,
            ConditionType.SUSPENDED,
            True,
            Reason.SUSPENDED,
            "spec.suspend is true: the run is a draft; set it to false to schedule it",
            now,
        )
        return
    decision.status.phase = Phase.PENDING
    if observed.job_name_taken:
        # Not this run's Job: nothing of the run's own is created or recorded until it goes (its
        # deletion is a Job event, which brings the run back here).
        name = naming.job_name(run.name)
        _set(
            decision,
            run,
            ConditionType.SCHEDULED,
            False,
            Reason.JOB_NAME_TAKEN,
            f"Job {name} belongs to another TrainingRun of the same name (deleted, its Job still on its "
            "way out); this run's Job is created when it is gone",
            now,
        )
        return
    decision.actions.append(Action.CREATE_JOB)
    decision.status.job_name = naming.job_name(run.name)
    decision.status.start_time = decision.status.start_time or now
    decision.status.attempts = 0
    _set(decision, run, ConditionType.SUSPENDED, False, Reason.NOT_SUSPENDED, "the run is scheduled", now)
    job_name = str(decision.status.job_name)
    queue = kueue.queue_state(None, run.spec.queue_name, job_name) if run.spec.queue_name else None
    _set_scheduled(decision, run, job_name, queue, now)


def _track(decision: Decision, observed: Observed, job: dict[str, Any], now: datetime) -> None:
    run, pods = observed.run, observed.pods
    job_status = job.get("status", {})
    decision.status.job_name = job["metadata"]["name"]
    labels = job.get("metadata", {}).get("labels") or {}
    # Kueue owns the suspension of a Job it queues: whether the Job was created for a queue is read
    # from the Job itself, so nothing a user does to the run can make the operator un-suspend a Job
    # Kueue has not admitted (spec.queueName is also frozen once the run is scheduled).
    queued = KUEUE_QUEUE_LABEL in labels
    job_suspended = bool(job.get("spec", {}).get("suspend"))
    queue = (
        kueue.queue_state(observed.workload, labels[KUEUE_QUEUE_LABEL], job["metadata"]["name"])
        if queued and job_suspended
        else None
    )
    if queue is not None and queue.evictions > (decision.status.preemptions or 0):
        decision.status.preemptions = queue.evictions
    # A Job that just ended lists its last pods under uncountedTerminatedPods before it counts them.
    uncounted = job_status.get("uncountedTerminatedPods") or {}
    failed = int(job_status.get("failed", 0)) + len(uncounted.get("failed") or [])
    succeeded = int(job_status.get("succeeded", 0)) + len(uncounted.get("succeeded") or [])
    decision.status.attempts = (
        failed + int(succeeded > 0 or job_status.get("active", 0) > 0) + (decision.status.preemptions or 0)
    )
    finished = _job_condition(job, "Complete") or _job_condition(job, "SuccessCriteriaMet")
    ended = finished or _job_condition(job, "Failed") or _job_condition(job, "FailureTarget")
    if ended and (wait := _pods_behind(job, pods, ended, now)) is not None:
        # The Job counts a pod as ended that the pod watch has not shown ended yet (two watches, no
        # order between them). Judging now would miss the trainer's result and fail a run that
        # succeeded; the pod's event comes within moments, the re-check bounds the wait.
        decision.recheck_after = wait
        return
    decision.status.statistics = attempts.record_attempts(
        run, decision.status.statistics, pods, decision.status.progress, job_suspended, queued, now
    )
    if finished:
        result = podinfo.result_of(pods)
        if result is None:
            _fail(
                decision,
                run,
                Failure(
                    Reason.UNKNOWN,
                    (
                        "the training Job completed but no pod left a trainer result in its "
                        "termination message"
                    ),
                ),
                now,
            )
        else:
            _succeed(decision, run, result, now, observed.model_name_taken)
        return
    if _job_condition(job, "Failed") or _job_condition(job, "FailureTarget"):
        _fail(decision, run, classify_failure(job, pods), now)
        return
    evicted = podinfo.kubelet_evictions(pods)
    if len(evicted) > run.spec.backoff_limit:
        # The Job's pod failure policy ignores every disruption (it cannot tell their causes apart),
        # so a run that fills its node's disk or memory would be evicted and retried for ever.
        decision.actions.append(Action.DELETE_JOB)
        _fail(
            decision,
            run,
            Failure(
                Reason.EVICTED,
                (
                    f"the kubelet evicted {len(evicted)} training pod(s) for node pressure (last: "
                    f"{evicted[-1].pod}: {evicted[-1].message}), more than spec.backoffLimit "
                    f"({run.spec.backoff_limit}); lower the run's disk or memory use, or raise "
                    "spec.resources.ephemeralStorage"
                ),
                evicted[-1],
            ),
            now,
        )
        return
    if not queued and job_suspended != run.spec.suspend:
        decision.actions.append(Action.SET_JOB_SUSPEND)
        decision.suspend_job = run.spec.suspend
    if run.spec.suspend:
        _set(
            decision,
            run,
            ConditionType.SUSPENDED,
            True,
            Reason.SUSPENDED,
            "spec.suspend is true: the Job is paused; set it to false to go on",
            now,
        )
    else:
        _set(decision, run, ConditionType.SUSPENDED, False, Reason.NOT_SUSPENDED, "the run is scheduled", now)
    waiting = podinfo.waiting_reason(pods)
    if waiting and waiting[0] == "Unschedulable":
        # The scheduler's own words (which resource, which taint), where users look first. The pending
        # pod is also what a cluster autoscaler acts on (GPU pools that scale from zero).
        _set(
            decision,
            run,
            ConditionType.SCHEDULED,
            False,
            Reason.UNSCHEDULABLE,
            f"Job {job['metadata']['name']} waits for a node: {waiting[1]}",
            now,
        )
    else:
        admitted_from = labels[KUEUE_QUEUE_LABEL] if queued and not job_suspended else None
        _set_scheduled(decision, run, job["metadata"]["name"], queue, now, admitted_from)
    pull = podinfo.image_pull_failure(pods)
    pending_for = _pending_for(pods, now)
    if pull and pending_for < observed.image_pull_grace_seconds:
        # A registry hiccup heals by itself; a wrong image does not, and no further event will come.
        decision.recheck_after = observed.image_pull_grace_seconds - pending_for + 0.5
    elif pull:
        decision.actions.append(Action.DELETE_JOB)
        _fail(
            decision,
            run,
            Failure(
                Reason.IMAGE_PULL_FAILED,
                (
                    f"the trainer image could not be pulled ({pull[0]}: {pull[1]}); fix spec.image or the "
                    "operator's trainer image, or the registry credentials"
                ),
            ),
            now,
        )
        return
    # A pod being deleted (its Job suspended by Kueue or by the user, or evicted) is stopping, not training.
    running = [
        p
        for p in pods
        if p.get("status", {}).get("phase") == "Running"
        and not p.get("metadata", {}).get("deletionTimestamp")
    ]
    if running and not run.spec.suspend:
        decision.status.phase = Phase.RUNNING
        _set(
            decision,
            run,
            ConditionType.RUNNING,
            True,
            Reason.POD_RUNNING,
            f"{len(running)} training pod(s) running",
            now,
        )
        return
    if waiting:
        _set(decision, run, ConditionType.RUNNING, False, waiting[0], f"pods are pending: {waiting[1]}", now)
    elif is_condition_true(decision.status.conditions, ConditionType.RUNNING):
        # The pods went away (suspended, preempted, between attempts): nothing trains now.
        _set(decision, run, ConditionType.RUNNING, False, Reason.NO_POD_RUNNING, _not_running(run, job), now)
    decision.status.phase = Phase.PENDING


def _not_running(run: TrainingRun, job: dict[str, Any]) -> str:
    if job.get("spec", {}).get("suspend"):
        return "no training pod is running: the Job is suspended"
    return "no training pod is running: waiting for the Job's next pod"


POD_EVENT_GRACE_SECONDS = 30.0
"""How long after a Job ended the operator waits for the pod watch to show its pods ended too."""


def job_ended(job: dict[str, Any]) -> bool:
    """The Job reached (or is about to reach) its outcome."""
    return any(
        _job_condition(job, kind) for kind in ("Complete", "SuccessCriteriaMet", "Failed", "FailureTarget")
    )


def pods_behind(job: dict[str, Any], pods: list[dict[str, Any]]) -> bool:
    """The Job counts more ended pods than the pods show: the pod watch has not caught up yet. The
    Job controller first lists ended pods under uncountedTerminatedPods (and may already have set
    SuccessCriteriaMet), then moves them to its counts: both are counted."""
    status = job.get("status", {})
    uncounted = status.get("uncountedTerminatedPods") or {}
    phases = [p.get("status", {}).get("phase") for p in pods]
    succeeded = int(status.get("succeeded", 0)) + len(uncounted.get("succeeded") or [])
    failed = int(status.get("failed", 0)) + len(uncounted.get("failed") or [])
    return succeeded > phases.count("Succeeded") or failed > phases.count("Failed")


def _pods_behind(
    job: dict[str, Any], pods: list[dict[str, Any]], ended: dict[str, Any], now: datetime
) -> float | None:
    """Seconds to wait for the pods to catch up with the Job's counts, or None to judge now (the
    operator lists the pods when its watch lags; still behind after that, they were deleted)."""
    stamp = ended.get("lastTransitionTime")
    if not pods_behind(job, pods) or not stamp:
        return None
    since = (now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()
    return POD_EVENT_GRACE_SECONDS - since + 0.5 if since < POD_EVENT_GRACE_SECONDS else None


def _pending_for(pods: list[dict[str, Any]], now: datetime) -> float:
    """Seconds the oldest pending pod has existed (0 when it is unknown)."""
    oldest = None
    for pod in pods:
        created = pod["metadata"].get("creationTimestamp")
        if pod.get("status", {}).get("phase") == "Pending" and created:
            stamp = datetime.fromisoformat(created.replace("Z", "+00:00"))
            oldest = stamp if oldest is None or stamp < oldest else oldest
    if oldest is None:
        return 0.0
    # The decision's clock, not the wall clock: decide() stays a pure function of its inputs.
    return (now - oldest).total_seconds()


def changed_fields(old: TrainingRunStatus, new: TrainingRunStatus) -> set[str]:
    """The status fields (as on the wire) whose values differ."""
    before, after = old.to_wire(), new.to_wire()
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


# What a starting pod passes through on its way to Running, as the kubelet reports it.
PASSING_POD_REASONS = frozenset({"ContainerCreating", "PodInitializing"})


def only_settling(old: TrainingRunStatus | None, decision: Decision) -> bool:
    """True when a decision changes only what a starting Job passes through within a second or two:
    its attempt count, and why its pod is not running yet (ContainerCreating). Writing each of these
    as it comes costs a run two more status writes and an Event; held for a moment, they are written
    together with the next change (usually Running), or on their own if nothing else comes."""
    new = decision.status
    if old is None or decision.actions or not old.job_name or new.phase != old.phase:
        return False
    if new.phase != Phase.PENDING:
        return False
    if not changed_fields(old, new) <= {"attempts", "conditions", "observedGeneration"}:
        return False
    old_conditions = {c.type: c for c in old.conditions}
    for condition in new.conditions:
        previous = old_conditions.get(condition.type)
        if previous == condition:
            continue
        if condition.type != ConditionType.RUNNING or condition.status != "False":
            return False
        if condition.reason not in PASSING_POD_REASONS:
            # Unschedulable, ErrImagePull, ...: what a user waits on must show at once.
            return False
    return True


def only_attempts(old: TrainingRunStatus | None, decision: Decision) -> bool:
    """A settling decision (see only_settling) that changes nothing but the attempt count. It needs no
    write of its own: the count follows the Job's, and the run's next state (Running, or an outcome)
    always comes and carries it. Held on a timer instead, it still cost a write per run whenever pods
    took longer than the timer to start (4 status writes per run instead of 3 at 1,000 runs)."""
    if not only_settling(old, decision):
        return False
    assert old is not None
    return changed_fields(old, decision.status) == {"attempts"}


def decide(observed: Observed, now: datetime) -> Decision:
    run = observed.run
    status = (run.status or TrainingRunStatus()).model_copy(deep=True)
    decision = Decision(status=status)
    if status.phase in TERMINAL_PHASES:
        # Nothing changes a finished run, but tools comparing generations (kstatus, Flux) must see
        # that an allowed edit (labels, publish) was observed.
        decision.status.observed_generation = run.generation
        return decision
    decision.status.observed_generation = run.generation
    job = observed.job
    if job is None:
        if status.start_time is not None and status.job_name and not observed.job_name_taken:
            # Its pods went with it: an attempt still open ended then.
            status.statistics = attempts.record_attempts(
                run, status.statistics, [], status.progress, False, False, now
            )
            _fail(
                decision,
                run,
                Failure(
                    Reason.JOB_DELETED,
                    (
                        f"Job {status.job_name} disappeared before its outcome was recorded "
                        "(deleted by hand, or removed by ttlSecondsAfterFinished while the operator was "
                        "down); create a new run"
                    ),
                ),
                now,
            )
            return decision
        _schedule(decision, observed, now)
        return decision
    _track(decision, observed, job, now)
    return decision
