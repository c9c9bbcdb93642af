"""Every failure maps to a reason and an exit code."""

from __future__ import annotations

import pytest

from kubedet.api.runspec import EXIT_USER_ERROR, FailureReason
from kubedet_trainer.errors import (
    ConfigInvalid,
    DatasetInvalid,
    StorageUnavailable,
    TrainingDiverged,
    check_finite_loss,
    classify,
    failure_from_exception,
)


def raise_chained() -> None:
    try:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    except RuntimeError as error:
        raise ValueError("step failed") from error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DatasetInvalid("x"), FailureReason.DATASET_INVALID),
        (ConfigInvalid("x"), FailureReason.CONFIG_INVALID),
        (StorageUnavailable("x"), FailureReason.STORAGE_UNAVAILABLE),
        (TrainingDiverged("x"), FailureReason.TRAINING_DIVERGED),
        (RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"), FailureReason.OUT_OF_MEMORY),
        (KeyError("model"), FailureReason.UNKNOWN),
    ],
)
def test_classify(error: Exception, reason: FailureReason) -> None:
    assert classify(error) is reason


def test_out_of_memory_is_found_through_the_cause_chain() -> None:
    with pytest.raises(ValueError) as caught:
        raise_chained()
    failure = failure_from_exception(caught.value)
    assert failure.reason is FailureReason.OUT_OF_MEMORY
    assert "raise_chained" in failure.traceback_tail


def test_user_errors_use_the_user_exit_code() -> None:
    failure = failure_from_exception(DatasetInvalid("train.json: annotation id 3: box outside"))
    assert failure.exit_code == EXIT_USER_ERROR
    assert failure.message == "train.json: annotation id 3: box outside"


def test_unknown_errors_name_their_type() -> None:
    assert failure_from_exception(KeyError("model")).message.startswith("KeyError")


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_loss_diverges(loss: float) -> None:
    with pytest.raises(TrainingDiverged, match="epoch 2, iteration 7"):
        check_finite_loss(loss, 2, 7)
    check_finite_loss(0.5, 2, 7)
