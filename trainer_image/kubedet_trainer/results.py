"""Publishing a finished run: artifacts to the output URI, then the termination message.

The output holds checkpoint.pth (the best epoch's weights and meta, without optimizer state),
config.py (the resolved config), metrics.json and, written last as the commit marker, result.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedet.api.runspec import Lineage, TrainerResult, TrainerStatistics
from kubedet_trainer.errors import TrainerError
from kubedet_trainer.mmconfig import BEST_METRIC
from kubedet_trainer.stats import fit_summary, full_history_document
from kubedet_trainer.storage import Storage, join_uri

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
CHECKPOINT_NAME = "checkpoint.pth"
CONFIG_NAME = "config.py"
METRICS_NAME = "metrics.json"
RESULT_NAME = "result.json"
PLOTS_DIR = "plots"
COCO_PREFIX = "coco/"
PER_CLASS_SUFFIX = "_precision"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split_metrics(raw: dict[str, float], classes: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(COCO summary metrics, per-class AP) from mmdet's `coco/...` validation keys."""
    summary: dict[str, float] = {}
    per_class: dict[str, float] = {}
    for key, value in raw.items():
        name = key.removeprefix(COCO_PREFIX)
        if name.endswith(PER_CLASS_SUFFIX) and name.removesuffix(PER_CLASS_SUFFIX) in classes:
            per_class[name.removesuffix(PER_CLASS_SUFFIX)] = value
        elif name.startswith("bbox_"):
            summary[name] = value
    return summary, per_class


def best_checkpoint_file(work_dir: Path, best_epoch: int, fallback: str | None) -> Path:
    exact = work_dir / f"best_{BEST_METRIC.replace('/', '_')}_epoch_{best_epoch}.pth"
    if exact.exists():
        return exact
    if fallback and (work_dir / fallback).exists():
        return work_dir / fallback
    # mmengine saves no "best" file for an epoch whose validation found nothing (mAP 0): the epoch's
    # own checkpoint is then the best one.
    regular = work_dir / f"epoch_{best_epoch}.pth"
    if regular.exists():
        return regular
    raise TrainerError(f"no best checkpoint found in {work_dir} for epoch {best_epoch}")


def slim_checkpoint(source: Path, target: Path) -> None:
    """Weights and meta only: what inference and fine-tuning load; optimizer state would triple it."""
    import torch

    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"meta": checkpoint.get("meta", {}), "state_dict": checkpoint["state_dict"]}, target)


@dataclass
class RunOutcome:
    best_epoch: int
    best_metrics: dict[str, float]
    history: dict[int, dict[str, float]]
    best_checkpoint: Path
    config_file: Path
    classes: list[str]
    statistics: TrainerStatistics
    lineage: Lineage | None
    train_history: dict[int, dict[str, float]] = field(default_factory=dict)
    """Per-epoch training scalars (ProgressHook.train_history)."""
    samples: list[Any] = field(default_factory=list)
    """plots.Sample: validation images with true and predicted boxes, for the pictures."""


def publish(outcome: RunOutcome, storage: Storage, output_uri: str, artifacts_dir: Path) -> TrainerResult:
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = artifacts_dir / CHECKPOINT_NAME
    slim_checkpoint(outcome.best_checkpoint, checkpoint)
    summary, per_class = split_metrics(outcome.best_metrics, outcome.classes)
    metrics_document: dict[str, Any] = {
        "bestEpoch": outcome.best_epoch,
        "metrics": summary,
        "perClassAP": per_class,
        "history": {
            str(epoch): split_metrics(m, outcome.classes)[0] for epoch, m in sorted(outcome.history.items())
        },
        **full_history_document(outcome.train_history, outcome.history),
    }
    metrics = artifacts_dir / METRICS_NAME
    metrics.write_text(json.dumps(metrics_document, indent=2))
    files = {"checkpoint": checkpoint, "config": outcome.config_file, "metrics": metrics}
    names = {"checkpoint": CHECKPOINT_NAME, "config": CONFIG_NAME, "metrics": METRICS_NAME}
    uris = {key: join_uri(output_uri, names[key]) for key in files}
    for key, path in files.items():
        storage.put(path, uris[key])
    result = TrainerResult(
        checkpoint_uri=uris["checkpoint"],
        config_uri=uris["config"],
        metrics_uri=uris["metrics"],
        metrics=summary,
        statistics=outcome.statistics,
        digests={key: sha256_of(path) for key, path in files.items()},
        lineage=outcome.lineage,
    )
    result = fit_summary(result, outcome.train_history, outcome.history, per_class, outcome.best_epoch)
    publish_plots(outcome, per_class, storage, output_uri, artifacts_dir / PLOTS_DIR)
    result_file = artifacts_dir / RESULT_NAME
    result_file.write_text(result.serialize())
    storage.put(result_file, join_uri(output_uri, RESULT_NAME))
    return result


def publish_plots(
    outcome: RunOutcome, per_class: dict[str, float], storage: Storage, output_uri: str, directory: Path
) -> None:
    """The four pictures under <output>/plots/. A picture that cannot be drawn or stored is logged:
    it must never fail a training that produced a model."""
    try:
        from kubedet_trainer.plots import render_run

        written = render_run(
            outcome.train_history,
            outcome.history,
            per_class,
            outcome.best_epoch,
            outcome.samples,
            outcome.classes,
            directory,
        )
        for path in written:
            storage.put(path, join_uri(output_uri, f"{PLOTS_DIR}/{path.name}"))
    except Exception as error:
        print(f"kubedet-trainer: the pictures were not published: {type(error).__name__}: {error}",
              file=sys.stderr)


def write_termination_message(text: str) -> None:
    """Where Kubernetes reads the container's termination message; outside a pod it may not exist."""
    path = os.environ.get("KUBEDET_TERMINATION_LOG", DEFAULT_TERMINATION_LOG)
    try:
        Path(path).write_text(text)
    except OSError as error:
        print(f"kubedet-trainer: cannot write the termination message to {path}: {error}", file=sys.stderr)
