"""The four pictures and the bounded summary, from a history shaped exactly as the trainer records it
(ProgressHook.train_history and .history: mmdet's loss terms, lr, time, data_time, and `coco/` metrics
with classwise `<class>_precision`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from kubedet.api.runspec import TERMINATION_MESSAGE_LIMIT, TrainerResult, TrainerStatistics
from kubedet_trainer import plots, stats

CLASSES = ["circle", "square", "triangle"]


def recorded_history(epochs: int = 12, classes: list[str] = CLASSES) -> tuple[dict, dict, dict, int]:
    """(train_history, val_history, per-class AP at the best epoch, best epoch): a run that learns, then
    plateaus, with the keys and magnitudes of the shapes training in tests/trainer."""
    train, val = {}, {}
    for epoch in range(1, epochs + 1):
        decay = math.exp(-epoch / 4)
        train[epoch] = {
            "loss": 0.6 + 2.4 * decay,
            "loss_cls": 0.3 + 1.4 * decay,
            "loss_bbox": 0.3 + 1.0 * decay,
            "lr": 0.004 * min(1.0, epoch / 2) * (0.1 if epoch > epochs * 0.8 else 1.0),
            "time": 0.41 + 0.01 * (epoch % 3),
            "data_time": 0.02,
        }
        mAP = 0.82 * (1 - decay) - (0.02 if epoch == epochs else 0.0)
        val[epoch] = {
            "coco/bbox_mAP": mAP,
            "coco/bbox_mAP_50": min(1.0, mAP + 0.15),
            "coco/bbox_mAP_75": mAP * 0.9,
            "coco/bbox_mAP_s": -1.0,
            **{f"coco/{c}_precision": max(0.0, mAP - 0.1 * i) for i, c in enumerate(classes)},
        }
    best = max(val, key=lambda e: val[e]["coco/bbox_mAP"])
    per_class = {c: val[best][f"coco/{c}_precision"] for c in classes}
    return train, val, per_class, best


def result() -> TrainerResult:
    return TrainerResult(
        checkpoint_uri="pvc://artifacts/ns/run/checkpoint.pth",
        config_uri="pvc://artifacts/ns/run/config.py",
        metrics_uri="pvc://artifacts/ns/run/metrics.json",
        metrics={"bbox_mAP": 0.61},
        statistics=TrainerStatistics(
            duration_seconds=90, total_parameters=10, epochs=12, learning_rate=0.004, best_epoch=11
        ),
        digests={"checkpoint": "ab" * 32, "config": "ab" * 32, "metrics": "ab" * 32},
    )


def assert_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == plots.SIZES[path.name], path.name
        image.verify()


def test_the_four_pictures_are_pngs_of_the_expected_size(tmp_path: Path) -> None:
    import numpy as np

    train, val, per_class, best = recorded_history()
    image = np.full((64, 96, 3), 200, dtype=np.uint8)
    samples = [
        plots.Sample(image=image, truth=[(10, 10, 40, 40, 0)], predicted=[(12, 11, 41, 39, 0, 0.91)])
        for _ in range(5)
    ]
    written = plots.render_run(train, val, per_class, best, samples, CLASSES, tmp_path)
    assert sorted(p.name for p in written) == sorted(plots.SIZES)
    for path in written:
        assert_png(path)


def test_a_failing_picture_is_skipped_not_raised(tmp_path: Path) -> None:
    train, val, per_class, best = recorded_history()
    broken = [plots.Sample(image="not an image")]
    written = plots.render_run(train, val, per_class, best, broken, CLASSES, tmp_path)
    assert plots.SAMPLES_PNG not in [p.name for p in written] and len(written) == 3


def test_summary_pictures_from_the_cluster_side_summary(tmp_path: Path) -> None:
    train, val, per_class, best = recorded_history()
    summary = stats.build_summary(train, val, per_class, best)
    written = plots.render_summary(summary, tmp_path)
    assert [p.name for p in written] == [plots.LOSS_PNG, plots.MAP_PNG, plots.PER_CLASS_PNG]
    for path in written:
        assert_png(path)


def test_summary_keeps_the_best_epoch_and_the_ends_when_downsampled() -> None:
    train, val, per_class, best = recorded_history(epochs=300)
    summary = stats.build_summary(train, val, per_class, best)
    assert len(summary.epochs) == 50 and summary.total_epochs == 300
    assert {1, 300, best} <= set(summary.epochs)
    assert summary.epochs == sorted(summary.epochs)
    assert len(summary.loss) == len(summary.bbox_map) == len(summary.lr) == 50


@pytest.mark.parametrize(("epochs", "classes"), [(12, 3), (300, 80), (1000, 1000)])
def test_result_with_summary_fits_the_termination_message(epochs: int, classes: int) -> None:
    names = [f"class-with-a-rather-long-name-{i:04d}" for i in range(classes)]
    train, val, per_class, best = recorded_history(epochs, names)
    fitted = stats.fit_summary(result(), train, val, per_class, best)
    text = fitted.serialize()
    assert len(text.encode()) < TERMINATION_MESSAGE_LIMIT
    assert fitted.summary is not None and fitted.summary.best_epoch == best
    assert best in fitted.summary.epochs
    if classes <= 10:
        assert fitted.summary.per_class_ap.keys() == set(names)


def test_epoch_accumulator_means_losses_and_keeps_the_last_lr() -> None:
    acc = stats.EpochAccumulator()
    acc.add({"loss": 1.0, "lr": 0.1})
    acc.add({"loss": 3.0, "lr": 0.2, "time": float("nan")})
    assert acc.close() == {"loss": 2.0, "lr": 0.2}
    assert acc.close() == {}
