"""A run's attempts and the GPU time they used and lost (builders.attempts), through decide()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.operator import fixtures as f

from kubedet.api.conditions import get_condition
from kubedet.api.runspec import TrainerResult, TrainerStatistics
from kubedet.api.trainingrun import Progress, TrainingRun, TrainingRunStatus
from kubedet.api.usage import MAX_ATTEMPTS_LISTED, Attempt, AttemptOutcome, RunStatistics
from kubedet.builders.attempts import record_attempts, seconds_lost
from kubedet.builders.run_state import Action, Decision, Observed, decide
from kubedet.builders.trainedmodel import trained_model_status

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
EVICTED = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
COMPLETE = [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-26T12:10:10Z"}]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str,
    created: float,
    started: float,
    finished: float | None = None,
    *,
    phase: str | None = None,
    conditions: list[dict[str, Any]] | None = None,
    message: str = "",
    deleting: bool = False,
    index: str | None = None,
) -> dict[str, Any]:
    """A trainer pod as the operator's pod index keeps it (kubedet.handlers.indexes.pod_view)."""
    if finished is None:
        state: dict[str, Any] = {"running": {"startedAt": stamp(started)}}
    else:
        code = 0 if phase == "Succeeded" else 137
        state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "message": message,
                "startedAt": stamp(started),
                "finishedAt": stamp(finished),
            }
        }
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": stamp(created)}
    if deleting:
        metadata["deletionTimestamp"] = stamp(finished if finished is not None else started)
    if index is not None:
        metadata["annotations"] = {"batch.kubernetes.io/job-completion-index": index}
    status = {
        "phase": phase or ("Running" if finished is None else "Failed"),
        "conditions": conditions or [],
        "containerStatuses": [{"name": "trainer", "state": state}],
    }
    return {"metadata": metadata, "status": status}


def progress(pod_name: str, iteration: int, resumed: int = 0, saved_at: float | None = None) -> Progress:
    """What the trainer of `pod_name` reported last: 10 epochs of 10 iterations."""
    return Progress(
        epoch=iteration // 10,
        total_epochs=10,
        iteration=iteration,
        total_iterations=100,
        pod_name=pod_name,
        resumed_from_epoch=resumed,
        resumed_checkpoint_saved_at=at(saved_at) if saved_at is not None else None,
    )


def result(epochs: int = 10, best: int = 9, stopped_early: bool = False) -> TrainerResult:
    return TrainerResult(
        checkpoint_uri="pvc://artifacts/run-1/checkpoint.pth",
        config_uri="pvc://artifacts/run-1/config.py",
        metrics_uri="pvc://artifacts/run-1/metrics.json",
        metrics={"bbox_mAP": 0.412},
        statistics=TrainerStatistics(
            duration_seconds=600,
            total_parameters=1000,
            epochs=epochs,
            requested_epochs=10,
            stopped_early=stopped_early,
            learning_rate=0.001,
            best_epoch=best,
        ),
    )


def step(
    run: TrainingRun, now: float, pods: list[dict[str, Any]], reported: Progress | None, **job: Any
) -> tuple[Decision, TrainingRun]:
    """One decision on what the cluster shows now; returns it and the run as the operator wrote it."""
    status = (run.status or TrainingRunStatus()).model_copy(update={"progress": reported})
    run = run.model_copy(update={"status": status})
    observed = Observed(
        run=run,
        job=f.job(**job),
        pods=pods,
        dataset=f.dataset(),
        base_model=f.model(),
        max_gpus_per_node=None,
    )
    decision = decide(observed, at(now))
    return decision, run.model_copy(update={"status": decision.status})


def test_an_evicted_and_resumed_run_adds_up() -> None:
    run = f.run(resources={"gpusPerNode": 2})
    first = pod("run-1-train-aaaaa", created=-10, started=0)
    decision, run = step(run, 60, [first], progress("run-1-train-aaaaa", 30), active=1)
    (attempt,) = decision.status.statistics.attempts  # type: ignore[union-attr]
    assert attempt.start_time == at(0) and attempt.end_time is None and attempt.seconds is None
    assert decision.status.statistics.gpu_seconds == 0, "the running attempt counts once it ends"  # type: ignore[union-attr]

    # Evicted at 12:05 halfway through epoch 5: it reported 45 iterations (4 epochs done).
    evicted = pod("run-1-train-aaaaa", -10, 0, finished=300, conditions=[EVICTED], deleting=True)
    decision, run = step(run, 301, [evicted], progress("run-1-train-aaaaa", 45), failed=1)
    (attempt,) = decision.status.statistics.attempts  # type: ignore[union-attr]
    assert (attempt.outcome, attempt.seconds, attempt.reached_epoch) == (AttemptOutcome.EVICTED, 300, 4)
    assert attempt.resumed_from_epoch == 0 and attempt.seconds_lost is None, (
        "lost: known when the next resumes"
    )

    # The next pod resumes from epoch 4's checkpoint, saved at 12:04:20: the 40 s after it were lost.
    second = pod("run-1-train-bbbbb", created=302, started=310)
    resumed = progress("run-1-train-bbbbb", 40, resumed=4, saved_at=260)
    decision, run = step(run, 330, [evicted, second], resumed, failed=1, active=1)
    first_attempt, second_attempt = decision.status.statistics.attempts  # type: ignore[union-attr]
    assert first_attempt.seconds_lost == 40 and second_attempt.resumed_from_epoch == 4
    assert second_attempt.resumed_checkpoint_saved_at == at(260)

    done = pod("run-1-train-bbbbb", 302, 310, finished=610, phase="Succeeded", message=result().serialize())
    decision, run = step(
        run,
        611,
        [evicted, done],
        progress("run-1-train-bbbbb", 100, 4, 260),
        conditions=COMPLETE,
        failed=1,
        succeeded=1,
    )
    assert decision.actions == [Action.CREATE_MODEL]
    statistics = decision.status.statistics
    assert statistics is not None
    assert [a.number for a in statistics.attempts] == [1, 2]
    assert [a.outcome for a in statistics.attempts] == [AttemptOutcome.EVICTED, AttemptOutcome.SUCCEEDED]
    assert [a.resumed_from_epoch for a in statistics.attempts] == [0, 4]
    assert [a.reached_epoch for a in statistics.attempts] == [4, 10]
    assert [a.seconds for a in statistics.attempts] == [300, 300]
    assert [a.seconds_lost for a in statistics.attempts] == [40, 0]
    # Used is the sum over the attempts, lost is the evicted attempt's work after the resume point.
    assert statistics.gpu_seconds == (300 + 300) * 2 and statistics.pod_seconds == 600
    assert statistics.gpu_seconds_lost == 40 * 2 and statistics.pod_seconds_lost == 40

    model = trained_model_status(result(), 1, at(611), published=False, usage=statistics)
    assert model.statistics is not None
    assert (model.statistics.gpu_seconds, model.statistics.gpu_seconds_lost) == (1200, 80)
    assert model.statistics.attempts == statistics.attempts


def test_statistics_change_only_when_an_attempt_starts_ends_or_resumes() -> None:
    run = f.run()
    running = pod("run-1-train-aaaaa", -10, 0)
    first, run = step(run, 60, [running], progress("run-1-train-aaaaa", 30), active=1)
    later, run = step(run, 200, [running], progress("run-1-train-aaaaa", 80), active=1)
    assert later.status.statistics == first.status.statistics, "no status write per progress report"


def test_a_pod_that_has_not_started_is_no_attempt() -> None:
    pending = pod("run-1-train-aaaaa", -10, 0)
    pending["status"] = {"phase": "Pending", "containerStatuses": [{"name": "trainer", "state": {}}]}
    decision, _ = step(f.run(), 5, [pending], None, active=1)
    assert decision.status.statistics is None


def test_an_attempt_restarted_afresh_lost_all_its_time() -> None:
    run = f.run(resources={"gpusPerNode": 1})
    failed = pod("run-1-train-aaaaa", -10, 0, finished=120)
    _, run = step(run, 121, [failed], None, failed=1)
    again = pod("run-1-train-bbbbb", 125, 130)
    decision, _ = step(run, 140, [failed, again], progress("run-1-train-bbbbb", 0), failed=1, active=1)
    attempt = decision.status.statistics.attempts[0]  # type: ignore[union-attr]
    assert attempt.outcome == AttemptOutcome.FAILED and attempt.resumed_from_epoch is None
    assert attempt.seconds_lost == 120 and decision.status.statistics.gpu_seconds_lost == 120  # type: ignore[union-attr]


def test_a_pod_kueue_deleted_unseen_was_preempted_and_ended_before_the_next_pod() -> None:
    run = f.run(queueName="gpus", resources={"gpusPerNode": 4})
    _, run = step(run, 60, [pod("run-1-train-aaaaa", -10, 0)], None, active=1, queue="gpus")
    # Kueue took the admission back and gave it again: the old pod is gone, the next one exists since 12:03.
    queued_again = pod("run-1-train-bbbbb", 180, 190)
    decision, _ = step(run, 400, [queued_again], None, active=1, queue="gpus")
    first, second = decision.status.statistics.attempts  # type: ignore[union-attr]
    assert (first.outcome, first.end_time, first.seconds) == (AttemptOutcome.PREEMPTED, at(180), 180)
    assert second.end_time is None and decision.status.statistics.gpu_seconds == 180 * 4  # type: ignore[union-attr]


def test_a_suspended_jobs_deleted_pod_was_preempted_by_kueue_or_suspended_by_the_user() -> None:
    stopped = pod("run-1-train-aaaaa", -10, 0, finished=50, deleting=True)
    queued, _ = step(f.run(queueName="gpus"), 60, [stopped], None, suspend=True, queue="gpus")
    paused, _ = step(f.run(suspend=True), 60, [stopped], None, suspend=True)
    assert queued.status.statistics.attempts[0].outcome == AttemptOutcome.PREEMPTED  # type: ignore[union-attr]
    assert paused.status.statistics.attempts[0].outcome == AttemptOutcome.SUSPENDED  # type: ignore[union-attr]


def test_a_deleted_pod_seen_after_the_job_runs_again_is_told_by_the_queue() -> None:
    stopped = pod("run-1-train-aaaaa", -10, 0, finished=50, deleting=True)
    readmitted, _ = step(f.run(queueName="gpus"), 60, [stopped], None, active=1, queue="gpus")
    by_hand, _ = step(f.run(), 60, [stopped], None, active=1)
    assert readmitted.status.statistics.attempts[0].outcome == AttemptOutcome.PREEMPTED  # type: ignore[union-attr]
    assert by_hand.status.statistics.attempts[0].outcome == AttemptOutcome.DELETED  # type: ignore[union-attr]


def test_a_multi_node_attempt_is_timed_by_its_rank_zero_pod_for_all_its_gpus() -> None:
    run = f.run(resources={"gpusPerNode": 4, "nodes": 2})
    ranks = [
        pod("run-1-train-0-aaaaa", -10, 0, finished=100, phase="Succeeded", index="0"),
        pod("run-1-train-1-bbbbb", -10, 2, finished=101, phase="Succeeded", index="1"),
    ]
    decision, _ = step(run, 102, ranks, None, succeeded=2)
    statistics = decision.status.statistics
    assert statistics is not None and [a.pod_name for a in statistics.attempts] == ["run-1-train-0-aaaaa"]
    assert statistics.gpu_seconds == 100 * 8 and statistics.pod_seconds == 100 * 2


def test_a_deleted_job_ends_the_attempt_it_left_open() -> None:
    run = f.run()
    _, run = step(run, 60, [pod("run-1-train-aaaaa", -10, 0)], None, active=1)
    run = run.model_copy(update={"status": run.status.model_copy(update={"start_time": T0})})  # type: ignore[union-attr]
    decision = decide(Observed(run=run, dataset=f.dataset(), base_model=f.model()), at(90))
    assert get_condition(decision.status.conditions, "Failed").reason == "JobDeleted"  # type: ignore[union-attr]
    (attempt,) = decision.status.statistics.attempts  # type: ignore[union-attr]
    assert (attempt.outcome, attempt.seconds) == (AttemptOutcome.DELETED, 90)


def test_attempts_beyond_the_list_still_count_in_the_totals() -> None:
    ended = [
        Attempt(
            number=n + 1,
            pod_name=f"run-1-train-{n:05d}",
            start_time=at(100 * n),
            end_time=at(100 * n + 10),
            outcome=AttemptOutcome.PREEMPTED,
            resumed_from_epoch=0,
            seconds=10,
            # Each next one started afresh: all lost, but for the last, whose next has not reported.
            seconds_lost=10 if n < MAX_ATTEMPTS_LISTED - 1 else None,
        )
        for n in range(MAX_ATTEMPTS_LISTED)
    ]
    listed, lost = MAX_ATTEMPTS_LISTED * 10, (MAX_ATTEMPTS_LISTED - 1) * 10
    previous = RunStatistics(
        gpu_seconds=listed, gpu_seconds_lost=lost, pod_seconds=listed, pod_seconds_lost=lost, attempts=ended
    )
    run = f.run(resources={"gpusPerNode": 1})
    newest = pod("run-1-train-zzzzz", 10_000, 10_000, finished=10_030)
    after = record_attempts(run, previous, [newest], None, False, False, at(10_031))
    assert after is not None and len(after.attempts) == MAX_ATTEMPTS_LISTED
    assert after.attempts[0].number == 2 and after.attempts[-1].number == MAX_ATTEMPTS_LISTED + 1
    assert after.gpu_seconds == listed + 30 and after.gpu_seconds_lost == lost
    # Once left out, an attempt stays counted: the totals do not shrink on the next decision.
    again = record_attempts(run, after, [newest], None, False, False, at(10_040))
    assert again == after


def test_lost_time_starts_at_the_resumed_checkpoint_or_the_attempt_whichever_is_later() -> None:
    def attempt(start: float, end: float) -> Attempt:
        return Attempt(
            number=1, pod_name="p", start_time=at(start), end_time=at(end), seconds=int(end - start)
        )

    def resumed(epoch: int, saved: float | None) -> Attempt:
        saved_at = at(saved) if saved is not None else None
        return Attempt(
            number=2,
            pod_name="q",
            start_time=at(999),
            resumed_from_epoch=epoch,
            resumed_checkpoint_saved_at=saved_at,
        )

    assert seconds_lost(attempt(100, 200), resumed(3, 150)) == 50
    assert seconds_lost(attempt(100, 200), resumed(3, 50)) == 100, "an older checkpoint: all of it"
    assert seconds_lost(attempt(100, 200), resumed(0, None)) == 100, "a fresh start: all of it"
    assert seconds_lost(attempt(100, 200), resumed(3, None)) is None, "not reported: unknown"


def test_early_stopping_is_the_succeeded_reason_with_where_and_why() -> None:
    run = f.run(hyperparameters={"epochs": 20, "earlyStopping": {"patience": 3, "minDelta": 0.001}})
    stopped = result(epochs=7, best=4, stopped_early=True)
    stopped.statistics.requested_epochs = 20
    done = pod("run-1-train-aaaaa", -10, 0, finished=70, phase="Succeeded", message=stopped.serialize())
    decision, _ = step(run, 71, [done], None, conditions=COMPLETE, succeeded=1)
    succeeded = get_condition(decision.status.conditions, "Succeeded")
    assert succeeded is not None and (succeeded.status, succeeded.reason) == ("True", "EarlyStopped")
    assert succeeded.message.startswith(
        "validation bbox mAP did not improve by 0.001 for 3 validation rounds: stopped after epoch 7 of 20; "
        "kept epoch 4 (bbox mAP 0.412); TrainedModel run-1-model was created"
    ), succeeded.message
    assert (
        decision.status.phase == "Succeeded"
        and ("Normal", "EarlyStopped", succeeded.message) in decision.events
    )
    model = trained_model_status(stopped, 1, at(71), published=False)
    assert model.statistics is not None
    assert (model.statistics.epochs, model.statistics.requested_epochs) == (7, 20)
    assert model.statistics.stopped_early is True and model.statistics.best_epoch == 4


def test_a_run_that_trained_every_epoch_succeeds_as_before() -> None:
    done = pod("run-1-train-aaaaa", -10, 0, finished=70, phase="Succeeded", message=result().serialize())
    decision, _ = step(f.run(), 71, [done], None, conditions=COMPLETE, succeeded=1)
    assert get_condition(decision.status.conditions, "Succeeded").reason == "TrainingSucceeded"  # type: ignore[union-attr]
    model = trained_model_status(result(), 1, at(71), published=False)
    assert model.statistics is not None and model.statistics.stopped_early is False


def test_an_attempt_whose_container_exited_zero_succeeded_before_the_pod_phase_says_so() -> None:
    # Seen on the real node: the kubelet reports the container's exit before the pod's phase.
    run = f.run(resources={"gpusPerNode": 1})
    exited = pod("run-1-train-aaaaa", -10, 0, finished=60, phase="Succeeded")
    exited["status"]["phase"] = "Running"
    decision, run = step(run, 61, [exited], progress("run-1-train-aaaaa", 0), active=1)
    (attempt,) = decision.status.statistics.attempts  # type: ignore[union-attr]
    assert attempt.outcome == AttemptOutcome.SUCCEEDED and attempt.seconds == 60


def test_an_attempt_judged_failed_on_an_early_view_is_corrected_by_the_pods_phase() -> None:
    run = f.run(resources={"gpusPerNode": 1})
    early = pod("run-1-train-aaaaa", -10, 0, finished=60)  # exit 137 as first seen
    _, run = step(run, 61, [early], None, active=1)
    later = pod("run-1-train-aaaaa", -10, 0, finished=60, phase="Succeeded")
    decision, _ = step(run, 62, [later], None, succeeded=1)
    (attempt,) = decision.status.statistics.attempts  # type: ignore[union-attr]
    assert attempt.outcome == AttemptOutcome.SUCCEEDED
