"""Progress of a run as structured JSON events, sent to pluggable sinks by an mmengine hook.

Every event is one JSON object with "kind": "progress". Sinks: stdout (one line per event, for logs)
a file holding the latest event (env KUBEDET_PROGRESS_FILE) and the TrainingRun's status
(progress_api.RunStatusReporter). Another sink only needs `report(event)`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from mmengine.hooks import Hook

from kubedet_trainer.errors import check_finite_loss
from kubedet_trainer.mmconfig import BEST_METRIC
from kubedet_trainer.stats import EpochAccumulator, iteration_scalars

Event = dict[str, Any]


class ProgressReporter(Protocol):
    def report(self, event: Event) -> None: ...


class StdoutReporter:
    def report(self, event: Event) -> None:
        sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        sys.stdout.flush()


class LatestFileReporter:
    """Keeps the latest event in a file, replaced atomically so a reader never sees half of one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def report(self, event: Event) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(event, separators=(",", ":")))
        partial.replace(self.path)


def default_reporters(environ: Mapping[str, str] | None = None) -> list[ProgressReporter]:
    """stdout always; the latest-event file with KUBEDET_PROGRESS_FILE; the run's status in the cluster
    when the operator gave the pod an identity for it (progress_api)."""
    from kubedet_trainer.progress_api import RunStatusReporter

    env = os.environ if environ is None else environ
    reporters: list[ProgressReporter] = [StdoutReporter()]
    if env.get("KUBEDET_PROGRESS_FILE"):
        reporters.append(LatestFileReporter(Path(env["KUBEDET_PROGRESS_FILE"])))
    cluster = RunStatusReporter.from_environment(env)
    if cluster is not None:
        reporters.append(cluster)
    return reporters


class ProgressHook(Hook):
    """Reports progress, keeps every validation's metrics and stops a run whose loss is not finite."""

    priority = "LOW"

    def __init__(
        self,
        reporters: list[ProgressReporter],
        min_interval_seconds: float = 10.0,
        history: dict[int, dict[str, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        resumed_checkpoint_saved_at: str | None = None,
    ) -> None:
        self.reporters = reporters
        self.resumed_checkpoint_saved_at = resumed_checkpoint_saved_at
        """When the checkpoint this attempt resumes from was saved (ResumeState.latest_saved_at)."""
        self.min_interval_seconds = min_interval_seconds
        self.clock = clock
        self.history: dict[int, dict[str, float]] = dict(history or {})
        """Validation metrics per epoch (1-based), including epochs before a restart."""
        self.train_history: dict[int, dict[str, float]] = {}
        """Per epoch (1-based): mean of each loss term, time and data time; last lr and GPU memory.
        Epochs of this process only (a resumed run's curves start at the restart)."""
        self._epoch = EpochAccumulator()
        self.last_loss: float | None = None
        self.start_iteration = 0
        self.start_epoch = 0
        self._started = 0.0
        self._last_report = float("-inf")

    def best(self) -> tuple[int, dict[str, float]] | None:
        """The best validation: of equal scores the earliest, as mmengine's CheckpointHook keeps it (it
        saves a new best only on a strictly greater score), so the kept checkpoint is this epoch's."""
        if not self.history:
            return None
        epoch = max(self.history, key=lambda e: (self.history[e].get(BEST_METRIC, float("-inf")), -e))
        return epoch, self.history[epoch]

    def emit(self, runner: Any, phase: str, done_iterations: int, epoch: int) -> None:
        if runner.rank != 0:  # one voice per run, whatever the world size
            return
        total = max(1, runner.max_iters)
        elapsed = self.clock() - self._started
        progressed = done_iterations - self.start_iteration
        eta = elapsed / progressed * (total - done_iterations) if progressed > 0 else None
        best = self.best()
        event: Event = {
            "kind": "progress",
            "phase": phase,
            "epoch": epoch,
            "maxEpochs": runner.max_epochs,
            "iteration": done_iterations,
            "maxIterations": total,
            "percent": round(100.0 * done_iterations / total, 2),
            "etaSeconds": None if eta is None else round(eta, 1),
            "loss": self.last_loss,
            "bestMAP": None if best is None else best[1].get(BEST_METRIC),
            "bestEpoch": None if best is None else best[0],
        }
        # In every report: the operator learns from any of them where this attempt resumed from.
        event["resumedFromEpoch"] = self.start_epoch if self.start_iteration else 0
        if self.start_iteration and self.resumed_checkpoint_saved_at:
            event["resumedCheckpointSavedAt"] = self.resumed_checkpoint_saved_at
        self._last_report = self.clock()
        for reporter in self.reporters:
            reporter.report(event)

    def before_train(self, runner: Any) -> None:
        self._started = self.clock()
        self.start_iteration = runner.iter
        self.start_epoch = runner.epoch
        self.emit(runner, "started", runner.iter, runner.epoch)

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if outputs and "loss" in outputs:
            self.last_loss = float(outputs["loss"])
            check_finite_loss(self.last_loss, runner.epoch + 1, runner.iter + 1)
        if runner.rank == 0:
            self._epoch.add(iteration_scalars(runner, outputs))
        if self.clock() - self._last_report >= self.min_interval_seconds:
            self.emit(runner, "training", runner.iter + 1, runner.epoch + 1)

    def after_train_epoch(self, runner: Any) -> None:
        # The loop counts the epoch as done only after this hook, the iterations already are.
        if runner.rank == 0:
            self.train_history[runner.epoch + 1] = self._epoch.close()
        self.emit(runner, "epoch", runner.iter, runner.epoch + 1)

    def after_val_epoch(self, runner: Any, metrics: dict[str, float] | None = None) -> None:
        if metrics:
            self.history[runner.epoch] = {key: float(value) for key, value in metrics.items()}
        else:
            # mmdet's CocoMetric returns nothing when the model detected nothing at all: that is an
            # mAP of 0, not a missing validation (an early epoch of a short run, a useless model).
            self.history[runner.epoch] = {BEST_METRIC: 0.0}
            if metrics is not None:
                # Told to the hooks after this one too (the dict is theirs as well): CheckpointHook then
                # keeps a best checkpoint and EarlyStoppingHook counts the round, as for any other mAP.
                metrics[BEST_METRIC] = 0.0
        self.emit(runner, "validated", runner.iter, runner.epoch)

    def after_train(self, runner: Any) -> None:
        self.emit(runner, "finished", runner.iter, runner.epoch)
