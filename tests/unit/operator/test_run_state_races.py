"""Decisions that must wait for the watches to catch up, and writes that may be held back."""

from __future__ import annotations

from datetime import timedelta

from tests import kubedet_objects as messages
from tests.unit.operator import fixtures as f

from kubedet.api.common import LocalObjectReference
from kubedet.api.conditions import get_condition
from kubedet.api.trainingrun import TrainingRunStatus
from kubedet.builders.run_state import Observed, decide, only_attempts, only_settling, pods_behind
from kubedet.builders.trainedmodel import model_status

COMPLETE = {"type": "Complete", "status": "True", "lastTransitionTime": f.NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}


def observed(**overrides):  # type: ignore[no-untyped-def]
    values = {"run": f.run(), "dataset": f.dataset(), "base_model": f.model(), "max_gpus_per_node": None}
    return Observed(**(values | overrides))


def test_pods_behind_counts_uncounted_terminated_pods() -> None:
    job = f.job([COMPLETE], succeeded=0, uncountedTerminatedPods={"succeeded": ["uid-1"]})
    assert pods_behind(job, [f.pod("Running")])
    succeeded = f.pod("Succeeded", terminated={"exitCode": 0, "reason": "Completed", "message": ""})
    assert not pods_behind(job, [succeeded])


def test_complete_job_with_a_lagging_pod_watch_waits_instead_of_failing() -> None:
    job = f.job([COMPLETE], succeeded=1)
    decision = decide(observed(job=job, pods=[f.pod("Running")]), f.NOW)
    assert get_condition(decision.status.conditions, "Failed") is None
    assert decision.recheck_after is not None and decision.recheck_after > 0
    # Long after the Job ended the pod still is not there: it was deleted, and the run fails.
    later = decide(observed(job=job, pods=[f.pod("Running")]), f.NOW + timedelta(minutes=5))
    assert get_condition(later.status.conditions, "Failed") is not None


def test_complete_job_with_its_pod_seen_succeeds() -> None:
    pod = f.pod(
        "Succeeded",
        terminated={"exitCode": 0, "reason": "Completed", "message": messages.trainer_result("run-1")},
    )
    decision = decide(observed(job=f.job([COMPLETE], succeeded=1), pods=[pod]), f.NOW)
    assert decision.status.phase == "Succeeded"


def test_a_starting_pods_wait_is_held_but_running_is_not() -> None:
    scheduled = decide(observed(), f.NOW)
    old = TrainingRunStatus.model_validate(scheduled.status.to_wire())
    run = f.run().model_copy(update={"status": old})
    creating = decide(
        observed(
            run=run, job=f.job(active=1), pods=[f.pod("Pending", waiting={"reason": "ContainerCreating"})]
        ),
        f.NOW,
    )
    assert only_settling(old, creating) and not only_attempts(old, creating)
    started = decide(observed(run=run, job=f.job(active=1), pods=[f.pod("Pending")]), f.NOW)
    assert only_attempts(old, started), "attempts 0 -> 1 alone waits for the next change, untimed"
    running = decide(observed(run=run, job=f.job(active=1), pods=[f.pod("Running")]), f.NOW)
    assert not only_settling(old, running)
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/4"}
    waiting = decide(
        observed(run=run, job=f.job(active=1), pods=[f.pod("Pending", conditions=[unschedulable])]), f.NOW
    )
    assert not only_settling(old, waiting), "a run waiting for GPUs must say so at once"
    pulling = decide(
        observed(run=run, job=f.job(active=1), pods=[f.pod("Pending", waiting={"reason": "ErrImagePull"})]),
        f.NOW,
    )
    assert not only_settling(old, pulling)


def test_trained_model_is_not_ready_until_its_run_succeeded_and_only_then_publishable() -> None:
    trained = f.model(is_ready=False).model_copy(deep=True)
    trained.spec.training_run_ref = LocalObjectReference(name="run-1")
    trained.spec.base_model_ref = LocalObjectReference(name="base")
    trained.spec.dataset_ref = LocalObjectReference(name="shapes")
    trained.spec.published = True
    status = model_status(trained, run_succeeded=False, now=f.NOW)
    assert get_condition(status.conditions, "Ready").status == "False"
    assert get_condition(status.conditions, "Published").reason == "NotReady"
    imported = f.model(is_ready=False)
    imported.spec.published = True
    published = model_status(imported, run_succeeded=None, now=f.NOW)
    assert published.phase == "Published" and published.published_at == f.NOW
