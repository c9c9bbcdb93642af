"""A queued run in Kueue's words: where it waits, why, and when Kueue took its admission back."""

from __future__ import annotations

from typing import Any

from tests import kubedet_objects as messages
from tests.unit.operator import fixtures as f

from kubedet.api.conditions import get_condition
from kubedet.api.trainingrun import TrainingRunStatus
from kubedet.builders import kueue
from kubedet.builders.run_state import QUEUE_RECHECK_SECONDS, Action, Observed, decide

PENDING = (
    "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor "
    "default-flavor, 4 more needed"
)


def workload(
    *conditions: tuple[str, str, str, str], evictions: int = 0, cluster_queue: str = ""
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {"type": kind, "status": state, "reason": reason, "message": message}
            for kind, state, reason, message in conditions
        ]
    }
    if evictions:
        status["schedulingStats"] = {"evictions": [{"reason": "Preempted", "count": evictions}]}
    if cluster_queue:
        status["admission"] = {"clusterQueue": cluster_queue}
    return {"metadata": {"name": "job-run-1-train-4f2a1"}, "status": status}


def queued_observed(wl: dict[str, Any] | None, suspend: bool = True, **job_status: Any) -> Observed:
    run = f.run(queueName="gpus")
    run.status = TrainingRunStatus(job_name="run-1-train", start_time=f.NOW)
    return Observed(
        run=run,
        job=f.job(suspend=suspend, queue="gpus", **job_status),
        dataset=f.dataset(),
        base_model=f.model(),
        workload=wl,
    )


def scheduled(decision):  # type: ignore[no-untyped-def]
    return get_condition(decision.status.conditions, "Scheduled")


def test_before_kueue_made_its_workload_the_run_looks_again_soon() -> None:
    decision = decide(queued_observed(None), f.NOW)
    condition = scheduled(decision)
    assert (condition.status, condition.reason) == ("False", "Queued")
    assert "LocalQueue gpus" in condition.message
    assert decision.recheck_after == QUEUE_RECHECK_SECONDS


def test_waiting_for_quota_says_where_and_why_in_kueues_words() -> None:
    wl = workload(("QuotaReserved", "False", "Pending", PENDING))
    decision = decide(queued_observed(wl), f.NOW)
    condition = scheduled(decision)
    assert condition.reason == "Queued"
    assert "LocalQueue gpus" in condition.message and "4 more needed" in condition.message
    assert "job-run-1-train-4f2a1" in condition.message
    # Kueue has spoken: no re-check (the Job's next event, its admission, brings the run back).
    assert decision.recheck_after is None
    assert Action.SET_JOB_SUSPEND not in decision.actions and decision.suspend_job is None


def test_preemption_is_named_and_counted_as_an_attempt() -> None:
    wl = workload(
        ("QuotaReserved", "False", "Pending", PENDING),
        ("Admitted", "False", "NoReservation", "The workload has no reservation"),
        ("Evicted", "True", "Preempted", "Preempted to accommodate a workload (UID: 1) in the ClusterQueue"),
        evictions=1,
    )
    decision = decide(queued_observed(wl), f.NOW)
    condition = scheduled(decision)
    assert (condition.status, condition.reason) == ("False", "Preempted")
    assert "resumes from its last checkpoint" in condition.message and "LocalQueue gpus" in condition.message
    assert decision.status.preemptions == 1 and decision.status.attempts == 1
    assert decision.status.phase == "Pending" and decision.suspend_job is None


def test_readmitted_after_preemption_counts_the_second_attempt() -> None:
    obs = queued_observed(None, suspend=False, active=1)
    assert obs.run.status is not None
    obs.run.status.preemptions = 1
    decision = decide(Observed(**{**obs.__dict__, "pods": [f.pod("Running")]}), f.NOW)
    condition = scheduled(decision)
    assert (condition.status, condition.reason) == ("True", "JobCreated")
    assert "admitted by Kueue from LocalQueue gpus" in condition.message
    assert decision.status.attempts == 2 and decision.status.phase == "Running"


def test_eviction_for_another_cause_is_queued_with_kueues_reason() -> None:
    wl = workload(("Evicted", "True", "PodsReadyTimeout", "Exceeded the PodsReady timeout"), evictions=1)
    state = kueue.queue_state(wl, "gpus", "run-1-train")
    assert state.reason == "Queued" and "evicted (PodsReadyTimeout)" in state.message
    assert state.evictions == 1


def test_a_deactivated_workload_says_how_to_requeue_it() -> None:
    wl = workload(("Evicted", "True", "Deactivated", "The workload is deactivated"), evictions=1)
    wl["spec"] = {"active": False}
    state = kueue.queue_state(wl, "gpus", "run-1-train")
    assert state.reason == "Queued" and "deactivated (spec.active: false)" in state.message
    assert "set spec.active to true" in state.message and state.settled


def test_admitted_but_not_yet_unsuspended() -> None:
    wl = workload(
        ("QuotaReserved", "True", "QuotaReserved", ""),
        ("Admitted", "True", "Admitted", ""),
        cluster_queue="cluster-gpus",
    )
    state = kueue.queue_state(wl, "gpus", "run-1-train")
    assert state.reason == "Queued" and "ClusterQueue cluster-gpus" in state.message and state.settled


def test_evictions_sum_over_causes() -> None:
    wl = {
        "status": {
            "schedulingStats": {
                "evictions": [{"reason": "Preempted", "count": 2}, {"reason": "PodsReadyTimeout", "count": 1}]
            }
        }
    }
    assert kueue.evictions(wl) == 3
    assert kueue.evictions({"status": {}}) == 0


def test_a_job_ending_with_uncounted_pods_still_counts_its_attempts() -> None:
    """The Job controller marks a Job SuccessCriteriaMet with its pod under uncountedTerminatedPods
    (succeeded still 0, active 0): the attempt that succeeded and the preemption before it both count."""
    obs = queued_observed(None, suspend=False)
    assert obs.run.status is not None
    obs.run.status.preemptions = 1
    job = f.job(
        conditions=[{"type": "SuccessCriteriaMet", "status": "True"}],
        queue="gpus",
        uncountedTerminatedPods={"succeeded": ["pod-uid"]},
    )
    pod = f.pod("Succeeded", terminated={"exitCode": 0, "message": messages.trainer_result("run-1")})
    decision = decide(Observed(**{**obs.__dict__, "job": job, "pods": [pod]}), f.NOW)
    assert decision.status.phase == "Succeeded" and decision.status.attempts == 2


def test_a_pod_being_deleted_is_not_training() -> None:
    terminating = f.pod("Running")
    terminating["metadata"]["deletionTimestamp"] = "2026-11-26T12:00:00Z"
    obs = queued_observed(None, suspend=False, active=1)
    decision = decide(Observed(**{**obs.__dict__, "pods": [terminating]}), f.NOW)
    assert decision.status.phase == "Pending"
