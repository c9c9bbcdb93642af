"""Early stopping in a real training on the CPU: a run whose mAP plateaus ends early, keeping its best."""

from __future__ import annotations

import json

import pytest
from trainer_harness import Trainer, run_spec

pytestmark = pytest.mark.trainer

ASKED_EPOCHS = 8
PATIENCE = 2


def test_a_plateau_ends_the_run_early_keeping_the_best_epoch(trainer: Trainer) -> None:
    import torch

    # A learning rate this small learns nothing in a few epochs, so the mAP never rises by minDelta:
    # the first validation sets the best, the next PATIENCE ones do not beat it, and training stops.
    spec = run_spec(
        "plateau",
        "shapes",
        ["circle", "square"],
        ASKED_EPOCHS,
        valInterval=1,
        learningRate=1e-9,
        earlyStopping={"patience": PATIENCE, "minDelta": 0.05},
    )
    plateau = trainer.run(spec, trainer.root / "work-plateau")
    assert plateau.returncode == 0, plateau.stderr[-3000:]
    statistics = plateau.result.statistics
    print(
        f"\nplateau: stopped after epoch {statistics.epochs} of {statistics.requested_epochs}, kept epoch "
        f"{statistics.best_epoch} (bbox mAP {plateau.result.metrics.get('bbox_mAP')}) in "
        f"{statistics.duration_seconds} s"
    )
    assert statistics.stopped_early and statistics.requested_epochs == ASKED_EPOCHS
    assert statistics.epochs == 1 + PATIENCE < ASKED_EPOCHS
    assert 1 <= statistics.best_epoch <= statistics.epochs

    output = trainer.pvc / "models" / "plateau"
    kept = torch.load(output / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert kept["meta"]["epoch"] == statistics.best_epoch, "the published weights are the best epoch's"
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["bestEpoch"] == statistics.best_epoch
    assert sorted(int(epoch) for epoch in metrics["history"]) == list(range(1, statistics.epochs + 1))
    finished = plateau.events("progress")[-1]
    assert finished["phase"] == "finished" and finished["epoch"] == statistics.epochs
