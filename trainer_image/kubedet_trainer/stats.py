"""Training statistics: per-epoch training scalars, and the bounded summary that reaches the cluster.

The trainer keeps the whole history in metrics.json (the artifacts have room); the cluster gets a
`TrainingSummary` inside the result message, which Kubernetes cuts at 4096 bytes. `fit_summary` shrinks
the summary (fewer epochs, fewer classes, fewer digits) until the message fits, and drops it when even
the smallest one does not, so a big summary can never cost a run its result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from kubedet.api.runspec import (
    SUMMARY_MAX_CLASSES,
    SUMMARY_MAX_POINTS,
    TERMINATION_MESSAGE_LIMIT,
    TrainerResult,
    TrainingSummary,
)

COCO_PREFIX = "coco/"
History = Mapping[int, Mapping[str, float]]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class EpochAccumulator:
    """Means of the scalars logged at each training iteration of one epoch (losses, time, data time)
    and the last value of those that are a setting rather than a measurement (lr, memory)."""

    LAST_VALUE = ("lr", "memory")

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def add(self, scalars: Mapping[str, Any]) -> None:
        for name, raw in scalars.items():
            value = _finite(raw)
            if value is None:
                continue
            if name in self.LAST_VALUE:
                self.last[name] = value
            else:
                self.sums[name] = self.sums.get(name, 0.0) + value
                self.counts[name] = self.counts.get(name, 0) + 1

    def close(self) -> dict[str, float]:
        means = {name: self.sums[name] / self.counts[name] for name in self.sums}
        result = means | self.last
        self.sums, self.counts, self.last = {}, {}, {}
        return result


def iteration_scalars(runner: Any, outputs: Mapping[str, Any] | None) -> dict[str, float]:
    """Loss terms from the train step's outputs, and lr, time, data time and GPU memory from the runner.
    Each is optional: a missing one must never fail a training."""
    scalars: dict[str, float] = {}
    for name, value in (outputs or {}).items():
        if name.startswith("loss"):
            number = _finite(value.item() if hasattr(value, "item") else value)
            if number is not None:
                scalars[name] = number
    try:
        lrs = runner.optim_wrapper.get_lr().get("lr") or []
        if lrs:
            scalars["lr"] = float(lrs[0])
    except Exception:  # an optimizer wrapper without get_lr: no lr curve
        pass
    try:
        hub = runner.message_hub
        for key, name in (("train/time", "time"), ("train/data_time", "data_time")):
            if key in hub.log_scalars:
                scalars[name] = float(hub.get_scalar(key).current())
    except Exception:  # no IterTimerHook: no timing curve
        pass
    try:
        import torch

        if torch.cuda.is_available():
            scalars["memory"] = torch.cuda.max_memory_allocated() / 2**20
    except Exception:  # no CUDA: no memory curve
        pass
    return scalars


def downsample(epochs: list[int], limit: int, keep: Iterable[int] = ()) -> list[int]:
    """At most `limit` of the sorted `epochs`, evenly spread, always with the first, the last and the
    epochs in `keep` (the best one), so the curve's shape and its peak survive."""
    if len(epochs) <= limit:
        return list(epochs)
    if limit <= 0:
        return []
    wanted = {epochs[0], epochs[-1]} | {e for e in keep if e in epochs}
    slots = max(0, limit - len(wanted))
    step = len(epochs) / (slots + 1)
    wanted |= {epochs[min(len(epochs) - 1, round(step * (i + 1)))] for i in range(slots)}
    picked = sorted(wanted)
    # Evenly spread picks can collide with the kept ones; trim from the middle, never the ends.
    while len(picked) > limit:
        middle = [e for e in picked if e not in (epochs[0], epochs[-1]) and e not in keep]
        picked.remove(middle[len(middle) // 2] if middle else picked[len(picked) // 2])
    return picked


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


def build_summary(
    train_history: History,
    val_history: History,
    per_class_ap: Mapping[str, float],
    best_epoch: int | None,
    max_points: int = SUMMARY_MAX_POINTS,
    max_classes: int = SUMMARY_MAX_CLASSES,
    digits: int = 4,
) -> TrainingSummary:
    """The summary of a run's histories (epoch -> scalars; validation keys as mmdet names them)."""
    all_epochs = sorted(set(train_history) | set(val_history))
    epochs = downsample(all_epochs, max_points, keep=[best_epoch] if best_epoch else [])

    def series(history: History, *names: str) -> list[float | None]:
        values = []
        for epoch in epochs:
            row = history.get(epoch, {})
            value = next((row[n] for n in names if n in row), None)
            values.append(_round(_finite(value), digits))
        return values

    ranked = sorted(per_class_ap.items(), key=lambda item: (-item[1], item[0]))
    kept = {name[:64]: _round(_finite(ap), digits) or 0.0 for name, ap in ranked[:max_classes]}
    return TrainingSummary(
        epochs=epochs,
        loss=series(train_history, "loss"),
        lr=series(train_history, "lr"),
        bbox_map=series(val_history, "coco/bbox_mAP", "bbox_mAP"),
        bbox_map50=series(val_history, "coco/bbox_mAP_50", "bbox_mAP_50"),
        best_epoch=best_epoch or None,
        per_class_ap=kept,
        total_epochs=len(all_epochs),
        truncated_classes=max(0, len(per_class_ap) - len(kept)),
    )


def fit_summary(
    result: TrainerResult,
    train_history: History,
    val_history: History,
    per_class_ap: Mapping[str, float],
    best_epoch: int | None,
) -> TrainerResult:
    """`result` with the largest summary whose message fits the termination message limit, or without
    one. Shrinks points and classes by halves (log2 of 50 x 100: a dozen tries at most)."""
    points, classes, digits = SUMMARY_MAX_POINTS, SUMMARY_MAX_CLASSES, 4
    while True:
        summary = build_summary(train_history, val_history, per_class_ap, best_epoch, points, classes, digits)
        candidate = result.model_copy(update={"summary": summary})
        wire = candidate.model_dump_json(by_alias=True, exclude_none=True)
        if len(wire.encode()) < TERMINATION_MESSAGE_LIMIT - 64:  # slack for serialize's separators
            return candidate
        if digits > 3:
            digits = 3
        elif classes > 10:
            classes //= 2
        elif points > 8:
            points //= 2
        elif classes > 0:
            classes = 0
        else:
            return result


def full_history_document(train_history: History, val_history: History) -> dict[str, Any]:
    """The whole history for metrics.json: every training scalar and every COCO metric per epoch."""
    return {
        "trainHistory": {str(e): dict(train_history[e]) for e in sorted(train_history)},
        "validationHistory": {
            str(e): {k.removeprefix(COCO_PREFIX): v for k, v in val_history[e].items()}
            for e in sorted(val_history)
        },
    }
