"""decide() on the defects a review found (issue 14): each case failed on the code before the fix."""

from __future__ import annotations

from tests import kubedet_objects as messages
from tests.unit.operator import fixtures as f

from kubedet.api.conditions import get_condition
from kubedet.api.trainingrun import TrainingRunStatus
from kubedet.builders.run_state import Action, Observed, decide


def observed(**overrides):  # type: ignore[no-untyped-def]
    values = {"run": f.run(), "dataset": f.dataset(), "base_model": f.model()}
    return Observed(**(values | overrides))


def cond(decision, kind):  # type: ignore[no-untyped-def]
    return get_condition(decision.status.conditions, kind)


def scheduled(run, **status):  # type: ignore[no-untyped-def]
    fields = {"phase": "Running", "job_name": "run-1-train", "start_time": f.NOW} | status
    return run.model_copy(update={"status": TrainingRunStatus(**fields)})


def test_a_job_kueue_queued_is_never_unsuspended_whatever_the_run_says() -> None:
    # spec.queueName cleared on the run (the API now refuses it, but an old object may say so).
    decision = decide(observed(run=scheduled(f.run()), job=f.job(suspend=True, queue="gpus")), f.NOW)
    assert Action.SET_JOB_SUSPEND not in decision.actions
    assert cond(decision, "Scheduled").reason == "Queued"


def test_a_gpu_request_no_node_can_hold_still_gets_its_job() -> None:
    # Nodes are not consulted: a pool scaled to zero has none until the pending pod asks for one.
    decision = decide(observed(run=f.run(resources={"gpusPerNode": 8})), f.NOW)
    assert decision.actions == [Action.CREATE_JOB]


def test_a_gpu_request_above_the_admins_maximum_is_refused_up_front() -> None:
    decision = decide(observed(run=f.run(resources={"gpusPerNode": 8}), max_gpus_per_node=4), f.NOW)
    validated = cond(decision, "Validated")
    assert (validated.status, validated.reason) == ("False", "Unschedulable") and decision.actions == []
    assert "KUBEDET_MAX_GPUS_PER_NODE" in validated.message


def test_an_unschedulable_pod_puts_the_schedulers_words_in_scheduled_once() -> None:
    message = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    pending = f.pod(
        "Pending",
        conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        ],
    )
    first = decide(observed(run=scheduled(f.run()), job=f.job(active=1), pods=[pending]), f.NOW)
    sched = cond(first, "Scheduled")
    assert (sched.status, sched.reason) == ("False", "Unschedulable") and message in sched.message
    after = f.run().model_copy(update={"status": first.status})
    again = decide(observed(run=after, job=f.job(active=1), pods=[pending]), f.NOW)
    assert again.events == [] and again.status == first.status
    placed = decide(observed(run=after, job=f.job(active=1), pods=[f.pod("Running")]), f.NOW)
    assert cond(placed, "Scheduled").status == "True" and placed.status.phase == "Running"


def test_running_goes_false_when_the_pods_go_away() -> None:
    running = decide(observed(run=scheduled(f.run()), job=f.job(active=1), pods=[f.pod("Running")]), f.NOW)
    assert cond(running, "Running").status == "True"
    run = f.run(suspend=True).model_copy(update={"status": running.status})
    paused = decide(observed(run=run, job=f.job(suspend=True)), f.NOW)
    assert (cond(paused, "Running").status, cond(paused, "Running").reason) == ("False", "NoPodRunning")
    assert "suspended" in cond(paused, "Running").message and paused.status.phase == "Pending"
    between = decide(observed(run=f.run().model_copy(update={"status": running.status}), job=f.job()), f.NOW)
    assert cond(between, "Running").status == "False" and between.status.phase == "Pending"


def _evicted(name: str) -> dict:  # type: ignore[type-arg]
    return f.pod(
        "Failed",
        name=name,
        reason="Evicted",
        terminated={"exitCode": 137, "reason": "Error"},
        conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"}],
    )


def test_kubelet_evictions_count_against_the_backoff_limit() -> None:
    run = scheduled(f.run(backoffLimit=1))
    once = decide(observed(run=run, job=f.job(active=1, failed=1), pods=[_evicted("a")]), f.NOW)
    assert once.status.phase != "Failed"
    twice = decide(observed(run=run, job=f.job(failed=2), pods=[_evicted("a"), _evicted("b")]), f.NOW)
    assert twice.status.phase == "Failed" and cond(twice, "Failed").reason == "Evicted"
    assert Action.DELETE_JOB in twice.actions and "ephemeralStorage" in cond(twice, "Failed").message
    preempted = f.pod(
        "Failed",
        name="c",
        terminated={"exitCode": 137, "reason": "Error"},
        conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}],
    )
    other = decide(observed(run=run, job=f.job(failed=2), pods=[preempted, preempted]), f.NOW)
    assert other.status.phase != "Failed", "preemptions are not the run's fault"


def test_a_namesake_job_is_not_mistaken_for_a_deleted_one() -> None:
    decision = decide(observed(run=scheduled(f.run()), job=None, job_name_taken=True), f.NOW)
    assert cond(decision, "Failed") is None and decision.actions == []
    assert cond(decision, "Scheduled").reason == "JobNameTaken"
    fresh = decide(observed(run=f.run(), job=None, job_name_taken=True), f.NOW)
    assert fresh.actions == [] and fresh.status.phase == "Pending"
    assert fresh.status.job_name is None and fresh.status.start_time is None, "nothing of its own yet"
    assert "run-1-train belongs to another TrainingRun" in cond(fresh, "Scheduled").message
    gone = decide(observed(run=f.run(), job=None), f.NOW)
    assert gone.actions == [Action.CREATE_JOB] and gone.status.job_name == "run-1-train"
    lost = decide(observed(run=scheduled(f.run()), job=None), f.NOW)
    assert cond(lost, "Failed").reason == "JobDeleted"


def test_a_model_name_someone_else_holds_gets_the_run_a_model_of_its_own() -> None:
    result = messages.trainer_result("run-1")
    done = f.pod("Succeeded", terminated={"exitCode": 0, "reason": "Completed", "message": result})
    complete = f.job([{"type": "Complete", "status": "True"}])
    decision = decide(observed(job=complete, pods=[done], model_name_taken=True), f.NOW)
    name = decision.status.trained_model_ref.name
    assert name != "run-1-model" and name.startswith("run-1-") and name.endswith("-model")
    assert "run-1-model already exists" in cond(decision, "Succeeded").message
    assert decide(observed(job=complete, pods=[done]), f.NOW).status.trained_model_ref.name == "run-1-model"
