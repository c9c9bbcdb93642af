"""The trainer's failures, each tied to a reason of the run spec contract."""

from __future__ import annotations

import math
import traceback

from kubedet.api.runspec import FailureReason, TrainerFailure


class TrainerError(Exception):
    """A failure the trainer understands; `reason` says which one."""

    reason = FailureReason.UNKNOWN


class DatasetInvalid(TrainerError):
    reason = FailureReason.DATASET_INVALID


class ConfigInvalid(TrainerError):
    reason = FailureReason.CONFIG_INVALID


class StorageUnavailable(TrainerError):
    reason = FailureReason.STORAGE_UNAVAILABLE


class TrainingDiverged(TrainerError):
    reason = FailureReason.TRAINING_DIVERGED


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA OOM, whichever way torch reports it (its own class or a RuntimeError from a kernel)."""
    try:
        import torch

        if isinstance(error, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def classify(error: BaseException) -> FailureReason:
    """The reason for an exception escaping a run, looking through its chain of causes."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TrainerError):
            return seen.reason
        if is_out_of_memory(seen):
            return FailureReason.OUT_OF_MEMORY
        seen = seen.__cause__ or seen.__context__
    return FailureReason.UNKNOWN


def failure_from_exception(error: BaseException) -> TrainerFailure:
    reason = classify(error)
    message = str(error) or type(error).__name__
    if reason is FailureReason.UNKNOWN:
        message = f"{type(error).__name__}: {message}"
    lines = traceback.format_exception(error)
    return TrainerFailure.for_reason(reason, message, "".join(lines[-8:]))


def check_finite_loss(loss: float, epoch: int, iteration: int) -> None:
    if not math.isfinite(loss):
        raise TrainingDiverged(
            f"the loss became {loss} at epoch {epoch}, iteration {iteration}; "
            "try a lower learning rate or gradient clipping (cfgOptions optim_wrapper.clip_grad)"
        )
