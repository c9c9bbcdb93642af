"""Progress events and the divergence check, driven by a stand-in for mmengine's runner."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("mmengine")

from kubedet_trainer.errors import TrainingDiverged
from kubedet_trainer.progress import LatestFileReporter, ProgressHook, default_reporters


class Collect:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def report(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def runner(epoch: int, iteration: int, rank: int = 0) -> SimpleNamespace:
    return SimpleNamespace(epoch=epoch, iter=iteration, max_epochs=4, max_iters=40, rank=rank)


def test_events_carry_progress_eta_loss_and_best(tmp_path: Path) -> None:
    sink, clock = Collect(), Clock()
    hook = ProgressHook(
        [sink, LatestFileReporter(tmp_path / "progress.json")], min_interval_seconds=5, clock=clock
    )
    hook.before_train(runner(0, 0))
    for iteration in range(10):
        clock.now += 1
        hook.after_train_iter(runner(0, iteration), iteration, outputs={"loss": 2.0 - iteration / 10})
    hook.after_train_epoch(runner(0, 10))
    hook.after_val_epoch(runner(1, 10), {"coco/bbox_mAP": 0.25, "coco/bbox_mAP_50": 0.5})
    phases = [event["phase"] for event in sink.events]
    assert phases == ["started", "training", "training", "epoch", "validated"]
    epoch_event = sink.events[3]
    assert epoch_event["epoch"] == 1 and epoch_event["iteration"] == 10 and epoch_event["percent"] == 25.0
    assert epoch_event["etaSeconds"] == pytest.approx(30.0)
    assert epoch_event["loss"] == pytest.approx(1.1)
    validated = json.loads((tmp_path / "progress.json").read_text())
    assert validated["bestMAP"] == 0.25 and validated["bestEpoch"] == 1


def test_resumed_runs_say_where_they_resumed_and_keep_history() -> None:
    sink = Collect()
    hook = ProgressHook([sink], history={2: {"coco/bbox_mAP": 0.4}})
    hook.before_train(runner(2, 20))
    assert sink.events[0]["resumedFromEpoch"] == 2 and sink.events[0]["bestMAP"] == 0.4
    hook.after_val_epoch(runner(3, 30), {"coco/bbox_mAP": 0.3})
    assert hook.best() == (2, {"coco/bbox_mAP": 0.4})


def test_non_finite_loss_stops_training() -> None:
    hook = ProgressHook([Collect()])
    hook.before_train(runner(0, 0))
    with pytest.raises(TrainingDiverged):
        hook.after_train_iter(runner(1, 12), 2, outputs={"loss": float("nan")})


def test_only_rank_zero_reports() -> None:
    sink = Collect()
    ProgressHook([sink]).before_train(runner(0, 0, rank=1))
    assert sink.events == []


def test_default_reporters_follow_the_environment(tmp_path: Path) -> None:
    assert len(default_reporters({})) == 1
    assert len(default_reporters({"KUBEDET_PROGRESS_FILE": str(tmp_path / "p.json")})) == 2


def test_every_event_says_where_the_attempt_resumed_from() -> None:
    fresh, resumed = Collect(), Collect()
    ProgressHook([fresh]).before_train(runner(0, 0))
    hook = ProgressHook([resumed], resumed_checkpoint_saved_at="2026-11-26T12:04:20Z")
    hook.before_train(runner(2, 20))
    hook.after_train_epoch(runner(2, 30))
    assert fresh.events[0]["resumedFromEpoch"] == 0 and "resumedCheckpointSavedAt" not in fresh.events[0]
    assert [e["resumedFromEpoch"] for e in resumed.events] == [2, 2]
    assert {e["resumedCheckpointSavedAt"] for e in resumed.events} == {"2026-11-26T12:04:20Z"}


def test_of_equal_scores_the_earliest_is_best_as_the_checkpoint_hook_keeps_it() -> None:
    hook = ProgressHook([Collect()])
    for epoch in (1, 2, 3):
        hook.after_val_epoch(runner(epoch, 10 * epoch), {"coco/bbox_mAP": 0.3})
    assert hook.best() == (1, {"coco/bbox_mAP": 0.3})


def test_a_validation_that_detected_nothing_is_an_map_of_zero_for_the_later_hooks_too() -> None:
    metrics: dict[str, float] = {}
    ProgressHook([Collect()]).after_val_epoch(runner(1, 10), metrics)
    assert metrics == {"coco/bbox_mAP": 0.0}, "CheckpointHook and EarlyStoppingHook read the same dict"


class Loop:
    stop_training = False


def stopping_runner(epoch: int) -> SimpleNamespace:
    return SimpleNamespace(epoch=epoch, train_loop=Loop(), logger=SimpleNamespace(info=lambda message: None))


def test_early_stopping_stops_after_patience_rounds_without_a_big_enough_rise() -> None:
    from kubedet.api.common import EarlyStopping
    from kubedet_trainer.early_stop import ResumableEarlyStopping

    hook = ResumableEarlyStopping(EarlyStopping(patience=2, min_delta=0.01), {})
    run = stopping_runner(0)
    hook.before_train(run)
    for epoch, score in enumerate((0.30, 0.305, 0.309), start=1):
        run.epoch = epoch
        hook.after_val_epoch(run, {"coco/bbox_mAP": score})
        assert run.train_loop.stop_training is (epoch == 3), epoch


def test_a_rise_of_exactly_min_delta_is_an_improvement() -> None:
    from kubedet.api.common import EarlyStopping
    from kubedet_trainer.early_stop import ResumableEarlyStopping

    hook = ResumableEarlyStopping(EarlyStopping(patience=1, min_delta=0.001), {})
    run = stopping_runner(0)
    for score in (0.412, 0.413, 0.414):  # 0.412 + 0.001 is 0.41300000000000003 in floating point
        hook.after_val_epoch(run, {"coco/bbox_mAP": score})
    assert run.train_loop.stop_training is False


def test_a_resumed_run_remembers_the_rounds_before_the_restart() -> None:
    from kubedet.api.common import EarlyStopping
    from kubedet_trainer.early_stop import ResumableEarlyStopping

    earlier = {1: {"coco/bbox_mAP": 0.3}, 2: {"coco/bbox_mAP": 0.3}}
    hook = ResumableEarlyStopping(EarlyStopping(patience=2, min_delta=0.01), earlier)
    run = stopping_runner(2)
    hook.before_train(run)
    assert run.train_loop.stop_training is False
    run.epoch = 3
    hook.after_val_epoch(run, {"coco/bbox_mAP": 0.3})
    assert run.train_loop.stop_training is True, "the third round without a rise, counting across the restart"
    # The earlier attempt stopped but was killed before it finished: the next one finishes at once.
    stopped = ResumableEarlyStopping(EarlyStopping(patience=1, min_delta=0.01), earlier)
    again = stopping_runner(2)
    stopped.before_train(again)
    assert again.train_loop.stop_training is True
