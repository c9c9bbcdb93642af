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
