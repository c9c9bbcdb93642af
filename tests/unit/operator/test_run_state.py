"""The whole TrainingRun lifecycle as a pure function of what the cluster shows."""

from __future__ import annotations

import pytest
from tests import kubedet_objects as messages
from tests.unit.operator import fixtures as f

from kubedet.api.conditions import get_condition
from kubedet.api.runspec import FailureReason
from kubedet.api.trainingrun import TrainingRunStatus
from kubedet.builders.run_state import Action, Observed, classify_failure, decide


def observed(**overrides):  # type: ignore[no-untyped-def]
    values = {"run": f.run(), "dataset": f.dataset(), "base_model": f.model(), "max_gpus_per_node": None}
    values |= overrides
    return Observed(**values)


def cond(decision, kind):  # type: ignore[no-untyped-def]
    return get_condition(decision.status.conditions, kind)


@pytest.mark.parametrize(
    ("overrides", "reason", "hint"),
    [
        ({"dataset": None}, "DatasetNotFound", "spec.datasetRef.name"),
        ({"dataset": f.dataset(published=False)}, "DatasetNotPublished", "spec.published: true"),
        ({"dataset": f.dataset(is_ready=False)}, "DatasetNotReady", "kubectl describe dataset"),
        ({"base_model": None}, "BaseModelNotFound", "spec.baseModelRef.name"),
        ({"base_model": f.model(is_ready=False)}, "BaseModelNotReady", "kubectl describe trainedmodel"),
        (
            {"max_gpus_per_node": 4, "run": f.run(resources={"gpusPerNode": 8})},
            "Unschedulable",
            "gpusPerNode",
        ),
    ],
)
def test_validation_failures_keep_the_run_pending(overrides, reason, hint) -> None:  # type: ignore[no-untyped-def]
    decision = decide(observed(**overrides), f.NOW)
    validated = cond(decision, "Validated")
    assert (validated.status, validated.reason) == ("False", reason)
    assert hint in validated.message
    assert decision.status.phase == "Pending" and decision.actions == []
    assert decision.events and decision.events[0][1] == reason


def test_valid_run_is_scheduled() -> None:
    decision = decide(observed(), f.NOW)
    assert decision.actions == [Action.CREATE_JOB]
    assert cond(decision, "Scheduled").status == "True"
    assert decision.status.start_time == f.NOW and decision.status.job_name == "run-1-train"


def test_draft_is_validated_but_not_scheduled() -> None:
    decision = decide(observed(run=f.run(suspend=True)), f.NOW)
    assert decision.actions == [] and cond(decision, "Suspended").status == "True"
    assert cond(decision, "Validated").status == "True"


def test_queued_run_waits_for_kueue() -> None:
    decision = decide(observed(run=f.run(queueName="gpus"), job=f.job(suspend=True, queue="gpus")), f.NOW)
    assert cond(decision, "Scheduled").reason == "Queued" and Action.SET_JOB_SUSPEND not in decision.actions


def test_suspending_a_scheduled_run_pauses_its_job() -> None:
    decision = decide(observed(run=f.run(suspend=True), job=f.job()), f.NOW)
    assert decision.actions == [Action.SET_JOB_SUSPEND] and decision.suspend_job is True


def test_running_pod_makes_the_run_running() -> None:
    decision = decide(observed(job=f.job(active=1), pods=[f.pod("Running")]), f.NOW)
    assert decision.status.phase == "Running" and cond(decision, "Running").status == "True"


def test_pending_pod_says_why() -> None:
    unschedulable = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
    }
    decision = decide(
        observed(job=f.job(active=1), pods=[f.pod("Pending", conditions=[unschedulable])]), f.NOW
    )
    running = cond(decision, "Running")
    assert running.reason == "Unschedulable" and "Insufficient nvidia.com/gpu" in running.message


def test_completed_job_creates_the_model() -> None:
    result = messages.trainer_result("run-1")
    pod = f.pod("Succeeded", terminated={"exitCode": 0, "reason": "Completed", "message": result})
    decision = decide(observed(job=f.job([{"type": "Complete", "status": "True"}]), pods=[pod]), f.NOW)
    assert decision.actions == [Action.CREATE_MODEL] and decision.status.phase == "Succeeded"
    assert decision.status.trained_model_ref.name == "run-1-model"
    assert decision.status.progress.percent == 100 and decision.status.progress.best_map == pytest.approx(
        0.61
    )
    assert cond(decision, "Running").status == "False"


def test_completed_job_without_result_fails_as_unknown() -> None:
    pod = f.pod("Succeeded", terminated={"exitCode": 0, "reason": "Completed", "message": "done"})
    decision = decide(observed(job=f.job([{"type": "Complete", "status": "True"}]), pods=[pod]), f.NOW)
    assert cond(decision, "Failed").reason == "Unknown" and Action.CREATE_ERROR_CONFIGMAP in decision.actions


@pytest.mark.parametrize(
    ("job_reason", "pod", "expected"),
    [
        ("DeadlineExceeded", None, "DeadlineExceeded"),
        (
            "PodFailurePolicy",
            f.pod(
                "Failed",
                terminated={
                    "exitCode": 42,
                    "reason": "Error",
                    "message": messages.trainer_failure(FailureReason.DATASET_INVALID, "x"),
                },
            ),
            "DatasetInvalid",
        ),
        (
            "BackoffLimitExceeded",
            f.pod("Failed", terminated={"exitCode": 137, "reason": "OOMKilled"}),
            "OutOfMemory",
        ),
        (
            "BackoffLimitExceeded",
            f.pod(
                "Failed",
                terminated={
                    "exitCode": 44,
                    "reason": "Error",
                    "message": messages.trainer_failure(FailureReason.TRAINING_DIVERGED, "nan"),
                },
            ),
            "TrainingDiverged",
        ),
        (
            "BackoffLimitExceeded",
            f.pod("Failed", terminated={"exitCode": 137, "reason": "Error"}, reason="Evicted"),
            "Evicted",
        ),
        (
            "BackoffLimitExceeded",
            f.pod("Failed", terminated={"exitCode": 1, "reason": "Error"}),
            "BackoffLimitExceeded",
        ),
        ("Whatever", None, "Unknown"),
    ],
)
def test_failure_classification(job_reason, pod, expected) -> None:  # type: ignore[no-untyped-def]
    job = f.job([{"type": "Failed", "status": "True", "reason": job_reason, "message": "m"}])
    assert classify_failure(job, [pod] if pod else []).reason == expected


def test_image_pull_errors_fail_after_the_grace_period_only() -> None:
    waiting = {"reason": "ErrImagePull", "message": "not found"}
    young = f.pod("Pending", waiting=waiting, created=f.NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    decision = decide(observed(job=f.job(active=1), pods=[young], image_pull_grace_seconds=3600), f.NOW)
    assert cond(decision, "Failed") is None and decision.recheck_after is not None
    old = f.pod("Pending", waiting=waiting, created="2020-01-01T00:00:00Z")
    decision = decide(observed(job=f.job(active=1), pods=[old], image_pull_grace_seconds=60), f.NOW)
    assert cond(decision, "Failed").reason == "ImagePullFailed" and Action.DELETE_JOB in decision.actions


def test_lost_job_fails_the_run_instead_of_leaving_it_running() -> None:
    status = TrainingRunStatus(phase="Running", job_name="run-1-train", start_time=f.NOW)
    run = f.run().model_copy(update={"status": status})
    decision = decide(observed(run=run, job=None), f.NOW)
    assert decision.status.phase == "Failed" and cond(decision, "Failed").reason == "JobDeleted"


def test_terminal_runs_are_left_alone() -> None:
    run = f.run().model_copy(update={"status": TrainingRunStatus(phase="Succeeded")})
    decision = decide(observed(run=run, job=None), f.NOW)
    assert decision.actions == [] and decision.events == []


def test_same_observation_twice_changes_nothing_the_second_time() -> None:
    first = decide(observed(job=f.job(active=1), pods=[f.pod("Running")]), f.NOW)
    run = f.run().model_copy(update={"status": first.status})
    second = decide(observed(run=run, job=f.job(active=1), pods=[f.pod("Running")]), f.NOW)
    assert second.status == first.status and second.events == [] and second.actions == []


def _walk(*steps):  # type: ignore[no-untyped-def]
    """decide() over a sequence of observations, each seeing the status the previous one wrote; the
    Events of each step."""
    run, events = f.run(), []
    for step in steps:
        seen = observed(**({"run": run} | step(run)))
        decision = decide(seen, f.NOW)
        run = seen.run.model_copy(update={"status": decision.status})
        events.append([reason for _, reason, _ in decision.events])
    return events


def test_a_happy_run_posts_two_events_what_was_done_and_how_it_ended() -> None:
    result = messages.trainer_result("run-1")
    done = f.pod("Succeeded", terminated={"exitCode": 0, "reason": "Completed", "message": result})
    events = _walk(
        lambda run: {},
        lambda run: {"job": f.job(active=1), "pods": [f.pod("Pending")]},
        lambda run: {"job": f.job(active=1), "pods": [f.pod("Running")]},
        lambda run: {"job": f.job([{"type": "Complete", "status": "True"}]), "pods": [done]},
    )
    assert events == [["JobCreated"], [], [], ["TrainingSucceeded"]]


def test_waiting_and_pausing_post_events_at_both_ends() -> None:
    events = _walk(
        lambda run: {"dataset": None},
        lambda run: {},
        lambda run: {
            "job": f.job(active=1),
            "run": f.run(suspend=True).model_copy(update={"status": run.status}),
        },
        lambda run: {
            "job": f.job(suspend=True, active=1),
            "pods": [f.pod("Running")],
            "run": f.run().model_copy(update={"status": run.status}),
        },
    )
    assert events[0] == ["DatasetNotFound"]
    assert events[1] == ["Validated", "JobCreated"]
    assert events[2] == ["Suspended"]
    assert events[3] == ["NotSuspended"]


def test_two_different_credential_secrets_are_refused_before_any_job() -> None:
    run = f.run(output={"uri": "s3://bucket/models", "secretRef": {"name": "output-creds"}})
    base = f.model(checkpoint={"uri": "s3://zoo/rtmdet.pth", "secretRef": {"name": "zoo-creds"}})
    decision = decide(observed(run=run, base_model=base), f.NOW)
    validated = cond(decision, "Validated")
    assert (validated.status, validated.reason) == ("False", "ConfigInvalid") and decision.actions == []
    assert "spec.output.secretRef (output-creds)" in validated.message
    assert "spec.checkpoint.secretRef (zoo-creds)" in validated.message and "one Secret" in validated.message
    same = f.model(checkpoint={"uri": "s3://zoo/rtmdet.pth", "secretRef": {"name": "output-creds"}})
    assert decide(observed(run=run, base_model=same), f.NOW).actions == [Action.CREATE_JOB]
