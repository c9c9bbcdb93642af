"""The operator/trainer contract: run spec validation and bounded termination messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from kubedet.api.runspec import (
    EXIT_CODES,
    EXIT_USER_ERROR,
    OUTPUT_URI_MAX_LENGTH,
    TERMINATION_MESSAGE_LIMIT,
    FailureReason,
    Lineage,
    RunSpec,
    TrainerFailure,
    TrainerResult,
    TrainerStatistics,
    parse_termination_message,
)


def test_run_spec_reads_camel_case_and_defaults(run_spec_wire: dict[str, Any]) -> None:
    spec = RunSpec.model_validate(run_spec_wire)
    assert spec.base_model.config.startswith("mmdet::")
    assert spec.hyperparameters.batch_size == 2
    assert spec.workers == 2 and spec.nodes == 1
    assert spec.dataset.spec.classes == ["circle", "square"]
    assert RunSpec.model_validate(spec.to_wire()) == spec


@pytest.mark.parametrize(
    "config",
    [
        "mmdet::../../etc/passwd.py",
        "mmdet::/abs/config.py",
        "mmdet::rtmdet/readme.md",
        "file:///etc/config.py",
        "/local/config.py",
        "pvc://claim/../x.py",
    ],
)
def test_bad_config_references_are_refused(run_spec_wire: dict[str, Any], config: str) -> None:
    run_spec_wire["baseModel"]["config"] = config
    with pytest.raises(ValidationError):
        RunSpec.model_validate(run_spec_wire)


def test_storage_uri_configs_are_accepted(run_spec_wire: dict[str, Any]) -> None:
    run_spec_wire["baseModel"]["config"] = "pvc://models/run-1/config.py"
    run_spec_wire["baseModel"]["checkpointUri"] = "s3://bucket/models/run-1/checkpoint.pth"
    assert RunSpec.model_validate(run_spec_wire).base_model.checkpoint_uri


def test_unknown_fields_are_refused(run_spec_wire: dict[str, Any]) -> None:
    broken = copy.deepcopy(run_spec_wire)
    broken["hyperparameters"]["epoch"] = 3
    with pytest.raises(ValidationError):
        RunSpec.model_validate(broken)


def worst_case_result() -> TrainerResult:
    uri = "s3://" + "b" * 60 + "/" + "p" * (OUTPUT_URI_MAX_LENGTH - 66)
    return TrainerResult(
        checkpoint_uri=uri + "/checkpoint.pth",
        config_uri=uri + "/config.py",
        metrics_uri=uri + "/metrics.json",
        metrics={f"class_{i:03d}_{'x' * 40}_precision": 0.123456789 for i in range(200)}
        | {
            "bbox_mAP": 0.5,
            "bbox_mAP_50": 0.7,
            "bbox_mAP_75": 0.4,
            "bbox_mAP_s": -1.0,
            "bbox_mAP_m": 0.1,
            "bbox_mAP_l": 0.6,
        },
        statistics=TrainerStatistics(
            duration_seconds=1e9,
            total_parameters=10**12,
            epochs=499,
            requested_epochs=500,
            stopped_early=True,
            learning_rate=1e-5,
            final_loss=1.234567e-7,
            best_epoch=500,
            seed=2**31 - 1,
        ),
        digests={name: "f" * 64 for name in ("checkpoint", "config", "metrics")},
        lineage=Lineage(base_checkpoint_sha256="a" * 64, loaded_tensors=10**6, total_tensors=10**6),
    )


def test_result_serializes_under_the_limit_keeping_core_metrics() -> None:
    text = worst_case_result().serialize()
    assert len(text.encode()) < TERMINATION_MESSAGE_LIMIT
    parsed = parse_termination_message(text)
    assert isinstance(parsed, TrainerResult)
    assert parsed.metrics["bbox_mAP"] == 0.5 and len(parsed.metrics) == 6
    assert parsed.digests["checkpoint"] == "f" * 64


def test_failure_serializes_under_the_limit_keeping_the_traceback_end() -> None:
    failure = TrainerFailure.for_reason(
        FailureReason.DATASET_INVALID, "bad box " * 2000, "frame\n" * 3000 + "ValueError: the last line é"
    )
    text = failure.serialize()
    assert len(text.encode()) < TERMINATION_MESSAGE_LIMIT
    parsed = parse_termination_message(text)
    assert isinstance(parsed, TrainerFailure)
    assert parsed.exit_code == EXIT_USER_ERROR
    assert parsed.traceback_tail.endswith("the last line é")
    assert parsed.message.startswith("bad box")


def test_every_reason_has_an_exit_code_and_user_errors_share_one() -> None:
    assert set(EXIT_CODES) == set(FailureReason)
    assert all(code != 0 for code in EXIT_CODES.values())
    user_errors = {FailureReason.DATASET_INVALID, FailureReason.CONFIG_INVALID}
    assert {EXIT_CODES[r] for r in user_errors} == {EXIT_USER_ERROR}
    assert EXIT_USER_ERROR not in {code for r, code in EXIT_CODES.items() if r not in user_errors}
    assert FailureReason("OutOfMemory") is FailureReason.OUT_OF_MEMORY


def test_garbage_termination_message_is_refused() -> None:
    with pytest.raises(ValidationError):
        parse_termination_message('{"kind": "something"}')
