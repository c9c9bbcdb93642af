"""The four pictures a person judges a run by: loss curves, mAP over epochs, AP per class, and
validation images with true (green) and predicted (red) boxes.

matplotlib with the Agg backend (no display in a pod), fixed figure sizes and no tight bounding box,
so every picture has a known pixel size. Used by the trainer at the end of training (`render_run`, whose
failures are logged, never raised) and by `kubectl kubedet stats --plot` (`render_summary`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DPI = 100
SIZES: dict[str, tuple[int, int]] = {
    "loss.png": (1200, 700),
    "map.png": (1200, 700),
    "per_class_ap.png": (1200, 800),
    "validation_samples.png": (1600, 1200),
}
"""File name -> (width, height) in pixels."""
LOSS_PNG, MAP_PNG, PER_CLASS_PNG, SAMPLES_PNG = SIZES
MAX_BARS = 50


@dataclass
class Sample:
    """One validation image with its boxes in image pixels: (x1, y1, x2, y2, label[, score])."""

    image: Any  # HxWx3 uint8 array
    truth: list[tuple[float, float, float, float, int]] = field(default_factory=list)
    predicted: list[tuple[float, float, float, float, int, float]] = field(default_factory=list)


def _figure(name: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width, height = SIZES[name]
    return plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)


def _save(fig: Any, directory: Path, name: str) -> Path:
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    # No bbox_inches="tight": it would change the pixel size with the labels' lengths.
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def _points(epochs: Sequence[int], values: Sequence[float | None]) -> tuple[list[int], list[float]]:
    pairs = [(e, v) for e, v in zip(epochs, values, strict=False) if v is not None and math.isfinite(v)]
    return [e for e, _ in pairs], [v for _, v in pairs]


def plot_losses(
    epochs: Sequence[int],
    losses: Mapping[str, Sequence[float | None]],
    lr: Sequence[float | None],
    directory: Path,
) -> Path:
    """Each loss term per epoch (log scale when it spans a decade), the learning rate on a twin axis."""
    fig = _figure(LOSS_PNG)
    ax = fig.add_subplot(1, 1, 1)
    plotted: list[float] = []
    for name, values in sorted(losses.items(), key=lambda item: item[0] != "loss"):
        xs, ys = _points(epochs, values)
        if xs:
            ax.plot(
                xs,
                ys,
                marker="o" if len(xs) < 30 else None,
                linewidth=2.5 if name == "loss" else 1.2,
                label=name,
            )
            plotted += ys
    if plotted and min(plotted) > 0 and max(plotted) / min(plotted) > 10:
        ax.set_yscale("log")
    _integer_epochs(ax)
    ax.set_ylabel("training loss (epoch mean)")
    ax.set_title("Training loss")
    ax.grid(True, alpha=0.3)
    xs, ys = _points(epochs, lr)
    if xs:
        twin = ax.twinx()
        twin.plot(xs, ys, color="grey", linestyle="--", label="learning rate")
        twin.set_ylabel("learning rate")
        twin.legend(loc="upper center")
    if plotted:
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "no training loss recorded", ha="center", transform=ax.transAxes)
    return _save(fig, directory, LOSS_PNG)


def plot_map(
    epochs: Sequence[int],
    metrics: Mapping[str, Sequence[float | None]],
    best_epoch: int | None,
    directory: Path,
) -> Path:
    """Validation mAP curves (0-1) with the best epoch marked: is it still improving, or overfitting?"""
    fig = _figure(MAP_PNG)
    ax = fig.add_subplot(1, 1, 1)
    any_points = False
    for name, values in metrics.items():
        xs, ys = _points(epochs, values)
        if xs:
            any_points = True
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=name)
    if best_epoch:
        ax.axvline(best_epoch, color="green", linestyle=":", label=f"best epoch {best_epoch}")
    ax.set_ylim(0, 1)
    _integer_epochs(ax)
    ax.set_ylabel("bbox mAP (validation)")
    ax.set_title("Validation mAP")
    ax.grid(True, alpha=0.3)
    if any_points:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no validation recorded", ha="center", transform=ax.transAxes)
    return _save(fig, directory, MAP_PNG)


def _integer_epochs(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_per_class(per_class_ap: Mapping[str, float], directory: Path, title_note: str = "") -> Path:
    """AP per class, worst first: the classes the model cannot see yet are the ones to act on."""
    fig = _figure(PER_CLASS_PNG)
    ax = fig.add_subplot(1, 1, 1)
    ranked = sorted(per_class_ap.items(), key=lambda item: (item[1], item[0]))
    shown = ranked[:MAX_BARS]
    if shown:
        names = [n if len(n) <= 24 else n[:23] + "…" for n, _ in shown]
        values = [max(0.0, v) for _, v in shown]
        ax.barh(range(len(shown)), values, color=["#d62728" if v < 0.3 else "#1f77b4" for v in values])
        ax.set_yticks(range(len(shown)), names, fontsize=max(5, min(10, 400 // max(1, len(shown)))))
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no per-class AP recorded", ha="center", transform=ax.transAxes)
    ax.set_xlim(0, 1)
    ax.set_xlabel("AP at the best epoch")
    more = f" (the {len(shown)} worst of {len(ranked)})" if len(ranked) > len(shown) else ""
    ax.set_title(f"AP per class{more}{title_note}")
    fig.subplots_adjust(left=0.22)
    return _save(fig, directory, PER_CLASS_PNG)


def plot_samples(samples: Sequence[Sample], classes: Sequence[str], directory: Path) -> Path:
    """Up to 12 validation images: true boxes green, predictions red with class and score."""
    fig = _figure(SAMPLES_PNG)
    shown = list(samples)[:12]
    columns = 4 if len(shown) > 6 else 3
    rows = max(1, math.ceil(len(shown) / columns))
    if not shown:
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no validation images", ha="center", transform=ax.transAxes)

    def label(index: int) -> str:
        return classes[index] if 0 <= index < len(classes) else str(index)

    for i, sample in enumerate(shown):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(sample.image)
        ax.axis("off")
        for x1, y1, x2, y2, _cls in sample.truth:
            ax.add_patch(_rectangle(x1, y1, x2, y2, "#2ca02c", "-"))
        for x1, y1, x2, y2, cls, score in sample.predicted:
            ax.add_patch(_rectangle(x1, y1, x2, y2, "#d62728", "--"))
            ax.text(
                x1,
                y1,
                f"{label(cls)} {score:.2f}",
                color="white",
                fontsize=7,
                bbox={"facecolor": "#d62728", "alpha": 0.7, "pad": 1, "linewidth": 0},
            )
    fig.suptitle("Validation images: green = true boxes, red = predictions")
    return _save(fig, directory, SAMPLES_PNG)


def _rectangle(x1: float, y1: float, x2: float, y2: float, color: str, style: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.5, linestyle=style)


def render_summary(summary: Any, directory: Path) -> list[Path]:
    """The three curve pictures from a TrainingSummary (what the cluster keeps; no images there)."""
    return [
        plot_losses(summary.epochs, {"loss": summary.loss}, summary.lr, directory),
        plot_map(
            summary.epochs,
            {"bbox_mAP": summary.bbox_map, "bbox_mAP_50": summary.bbox_map50},
            summary.best_epoch,
            directory,
        ),
        plot_per_class(summary.per_class_ap, directory),
    ]


def render_run(
    train_history: Mapping[int, Mapping[str, float]],
    val_history: Mapping[int, Mapping[str, float]],
    per_class_ap: Mapping[str, float],
    best_epoch: int | None,
    samples: Sequence[Sample],
    classes: Sequence[str],
    directory: Path,
) -> list[Path]:
    """The four pictures from the full history. Never raises: a picture is not worth a training."""
    written: list[Path] = []
    train_epochs = sorted(train_history)
    val_epochs = sorted(val_history)
    loss_terms = sorted({k for row in train_history.values() for k in row if k.startswith("loss")})
    metric_names = ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75")
    steps = [
        lambda: plot_losses(
            train_epochs,
            {n: [train_history[e].get(n) for e in train_epochs] for n in loss_terms},
            [train_history[e].get("lr") for e in train_epochs],
            directory,
        ),
        lambda: plot_map(
            val_epochs,
            {
                n: [val_history[e].get(f"coco/{n}", val_history[e].get(n)) for e in val_epochs]
                for n in metric_names
            },
            best_epoch,
            directory,
        ),
        lambda: plot_per_class(per_class_ap, directory),
        lambda: plot_samples(samples, classes, directory),
    ]
    for step in steps:
        try:
            written.append(step())
        except Exception as error:
            print(
                f"kubedet-trainer: a picture could not be drawn: {type(error).__name__}: {error}",
                file=sys.stderr,
            )
    return written


def collect_samples(runner: Any, limit: int = 8, score_threshold: float = 0.3) -> list[Sample]:
    """Predictions of the trained model on the first validation images, in original image pixels."""
    import numpy as np
    import torch
    from PIL import Image

    model = runner.model
    model.eval()
    samples: list[Sample] = []
    with torch.no_grad():
        for batch in runner.val_dataloader:
            for out in model.val_step(batch):
                image = np.asarray(Image.open(out.img_path).convert("RGB"))
                sx, sy = out.metainfo.get("scale_factor", (1.0, 1.0))
                truth = [
                    (b[0] / sx, b[1] / sy, b[2] / sx, b[3] / sy, int(lbl))
                    for b, lbl in zip(
                        out.gt_instances.bboxes.tolist(), out.gt_instances.labels.tolist(), strict=False
                    )
                ]
                pred = out.pred_instances
                predicted = [
                    (b[0], b[1], b[2], b[3], int(lbl), float(s))
                    for b, lbl, s in zip(
                        pred.bboxes.tolist(), pred.labels.tolist(), pred.scores.tolist(), strict=False
                    )
                    if s >= score_threshold
                ][:30]
                samples.append(Sample(image=image, truth=truth, predicted=predicted))
                if len(samples) >= limit:
                    return samples
    return samples
