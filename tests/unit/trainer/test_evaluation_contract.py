"""The evaluation contract: its spec's validation, and a result message bounded like every trainer answer.

Needs neither torch nor PIL: kubedet_trainer.evaluate imports the trainer stack only where it scores."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kubedet.api.evaluation import (
    EVALUATION_SPEC_ENV,
    MIN_WIRE_DECIMALS,
    WIRE_DECIMALS,
    EvaluationResult,
    EvaluationSpec,
    coco_score,
    parse_evaluation_message,
)
from kubedet.api.runspec import TERMINATION_MESSAGE_LIMIT, FailureReason, TrainerFailure
from kubedet_trainer.errors import ConfigInvalid
from kubedet_trainer.evaluate import check_classes, load_evaluation_spec

SHA = "ab" * 32


def spec_wire(**overrides: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "dataset": {
            "name": "shapes",
            "spec": {
                "source": {"uri": "pvc://data/ds"},
                "annotations": {"splits": {"train": "train.json", "val": "val.json", "test": "test.json"}},
                "classes": ["circle", "square"],
            },
        },
        "model": {
            "name": "first",
            "config": "pvc://models/first/config.py",
            "checkpointUri": "pvc://models/first/checkpoint.pth",
            "checkpointSha256": SHA,
        },
    }
    return {**wire, **overrides}


def error_locations(error: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [".".join(str(part) for part in item["loc"]) for item in error.value.errors()]


def test_spec_defaults_to_the_test_split_and_round_trips() -> None:
    spec = EvaluationSpec.model_validate(spec_wire())
    assert spec.split == "test" and spec.workers == 2
    assert spec.model.checkpoint_sha256 == SHA
    assert spec.to_wire()["model"]["checkpointUri"] == "pvc://models/first/checkpoint.pth"
    assert EvaluationSpec.model_validate(spec.to_wire()) == spec


@pytest.mark.parametrize("split", ["val", "train"])
def test_the_other_splits_are_accepted(split: str) -> None:
    assert EvaluationSpec.model_validate(spec_wire(split=split)).split == split


def test_an_unknown_split_name_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as error:
        EvaluationSpec.model_validate(spec_wire(split="validation"))
    assert error_locations(error) == ["split"]


def test_a_test_split_the_dataset_lacks_is_refused_naming_the_field() -> None:
    wire = spec_wire()
    del wire["dataset"]["spec"]["annotations"]["splits"]["test"]
    with pytest.raises(ValidationError) as error:
        EvaluationSpec.model_validate(wire)
    assert error_locations(error) == ["split"]
    assert "no test annotation file" in str(error.value)
    assert EvaluationSpec.model_validate({**wire, "split": "val"}).split == "val"


def test_a_test_split_given_no_share_of_a_single_file_is_refused() -> None:
    wire = spec_wire()
    wire["dataset"]["spec"]["annotations"] = {
        "file": "annotations.json",
        "split": {"train": 80, "val": 20, "test": 0},
    }
    with pytest.raises(ValidationError) as error:
        EvaluationSpec.model_validate(wire)
    assert error_locations(error) == ["split"] and "0%" in str(error.value)
    wire["dataset"]["spec"]["annotations"]["split"] = {"train": 70, "val": 20, "test": 10}
    assert EvaluationSpec.model_validate(wire).split == "test"


@pytest.mark.parametrize(
    ("field", "value", "location"),
    [
        ("checkpointSha256", "not-a-digest", "model.checkpointSha256"),
        ("checkpointUri", "/local/checkpoint.pth", "model.checkpointUri"),
        ("checkpointUri", None, "model.checkpointUri"),
        ("config", "mmdet::../../etc/passwd.py", "model.config"),
        ("extra", 1, "model.extra"),
    ],
)
def test_bad_model_fields_are_refused_by_name(field: str, value: Any, location: str) -> None:
    wire = copy.deepcopy(spec_wire())
    if value is None:
        del wire["model"][field]
    else:
        wire["model"][field] = value
    with pytest.raises(ValidationError) as error:
        EvaluationSpec.model_validate(wire)
    assert error_locations(error) == [location]


def result(classes: list[str], **overrides: Any) -> EvaluationResult:
    """AP and recall that differ per class, so the classes kept can be told apart."""
    count = max(1, len(classes))
    fields: dict[str, Any] = {
        "split": "val",
        "images": 16,
        "bbox_map": 0.512,
        "bbox_map50": 0.9,
        "bbox_map75": 0.6,
        "bbox_map_small": None,
        "bbox_map_medium": 0.4,
        "bbox_map_large": 0.55,
        "per_class_ap": {name: (i + 0.123456) / count for i, name in enumerate(classes)},
        "per_class_recall": {name: 1 - i / (3 * count) - 1e-7 for i, name in enumerate(classes)},
        "checkpoint_sha256": SHA,
        "dataset_digest": "cd" * 32,
        "duration_seconds": 12.5,
    }
    return EvaluationResult(**{**fields, **overrides})


def test_a_small_result_keeps_every_class_to_four_decimals() -> None:
    text = result(["circle", "square"]).serialize()
    parsed = parse_evaluation_message(text)
    assert isinstance(parsed, EvaluationResult)
    assert parsed.per_class_decimals == WIRE_DECIMALS and parsed.omitted_classes == 0
    assert parsed.per_class_ap == {"circle": 0.0617, "square": 0.5617}
    assert parsed.per_class_recall == {"circle": 1.0, "square": 0.8333}
    assert parsed.bbox_map == 0.512 and parsed.bbox_map_small is None
    assert parsed.coco_metrics() == {
        "bbox_mAP": 0.512,
        "bbox_mAP_50": 0.9,
        "bbox_mAP_75": 0.6,
        "bbox_mAP_m": 0.4,
        "bbox_mAP_l": 0.55,
    }
    wire = json.loads(text)
    assert wire["kind"] == "evaluation" and "bboxMAPSmall" not in wire and wire["perClassAP"]


def test_the_worst_case_fits_keeping_the_lowest_ap_classes() -> None:
    # 1000 classes of 63 three-byte characters: the longest names the Dataset allows, in bytes.
    classes = [f"{i:03d}" + "漢" * 60 for i in range(1000)]
    full = result(classes)
    text = full.serialize()
    assert len(text.encode()) < TERMINATION_MESSAGE_LIMIT
    parsed = parse_evaluation_message(text)
    assert isinstance(parsed, EvaluationResult)
    kept = list(parsed.per_class_ap)
    assert kept and parsed.omitted_classes == 1000 - len(kept)
    assert parsed.per_class_decimals == MIN_WIRE_DECIMALS
    assert kept == classes[: len(kept)], "AP rises with the index: the first classes are the lowest"
    assert set(parsed.per_class_recall) == set(kept)


def test_classes_without_ground_truth_are_the_first_left_out() -> None:
    classes = [f"class-{i:03d}-" + "x" * 50 for i in range(200)]
    aps: dict[str, float | None] = {name: (None if i % 2 else 0.5) for i, name in enumerate(classes)}
    parsed = parse_evaluation_message(result(classes, per_class_ap=aps).serialize())
    assert isinstance(parsed, EvaluationResult) and parsed.omitted_classes > 0
    assert all(value == 0.5 for value in parsed.per_class_ap.values())


def test_rounding_comes_before_leaving_classes_out() -> None:
    regimes = set()
    for count in range(0, 300):
        classes = [f"c{i:04d}-{'y' * 12}" for i in range(count)]
        text = result(classes).serialize()
        assert len(text.encode()) < TERMINATION_MESSAGE_LIMIT
        parsed = parse_evaluation_message(text)
        assert isinstance(parsed, EvaluationResult)
        assert parsed.omitted_classes + len(parsed.per_class_ap) == count
        if parsed.omitted_classes:
            assert parsed.per_class_decimals == MIN_WIRE_DECIMALS
        regimes.add((parsed.per_class_decimals, parsed.omitted_classes > 0))
    # Each step of the shrinking was taken somewhere in the range.
    assert {(4, False), (3, False), (2, False), (2, True)} <= regimes, regimes


@pytest.mark.parametrize(
    ("field", "value", "location"),
    [
        ("bboxMAP", 1.5, "bboxMAP"),
        ("bboxMAPSmall", -1.0, "bboxMAPSmall"),
        ("perClassRecall", {"a": 1.01}, "perClassRecall.a"),
        ("datasetDigest", "xyz", "datasetDigest"),
        ("images", -1, "images"),
        ("kind", "result", "kind"),
    ],
)
def test_bad_result_fields_are_refused_by_name(field: str, value: Any, location: str) -> None:
    wire = result(["a"]).to_wire()
    with pytest.raises(ValidationError) as error:
        EvaluationResult.model_validate({**wire, field: value})
    assert error_locations(error) == [location]


def test_recall_and_ap_must_name_the_same_classes() -> None:
    with pytest.raises(ValidationError, match="perClassRecall must name the same classes"):
        result(["a"], per_class_recall={"a": 0.5, "b": 0.5})


def test_failures_parse_and_garbage_is_refused() -> None:
    failure = TrainerFailure.for_reason(FailureReason.CONFIG_INVALID, "the checkpoint's classes differ")
    parsed = parse_evaluation_message(failure.serialize())
    assert isinstance(parsed, TrainerFailure) and parsed.exit_code == 42
    with pytest.raises(ValidationError):
        parse_evaluation_message('{"kind": "result"}')


@pytest.mark.parametrize(("value", "expected"), [(-1.0, None), (math.nan, None), (None, None), (0.0, 0.0)])
def test_coco_no_value_markers_become_none(value: float | None, expected: float | None) -> None:
    assert coco_score(value) == expected


def test_the_spec_loads_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec_wire(split="val")))
    assert load_evaluation_spec(path).split == "val"
    monkeypatch.setenv(EVALUATION_SPEC_ENV, json.dumps(spec_wire(split="validation")))
    with pytest.raises(
        ConfigInvalid, match=f"in environment variable {EVALUATION_SPEC_ENV} is invalid: split"
    ):
        load_evaluation_spec(variable=EVALUATION_SPEC_ENV)
    monkeypatch.delenv(EVALUATION_SPEC_ENV)
    with pytest.raises(ConfigInvalid, match="is not set"):
        load_evaluation_spec(variable=EVALUATION_SPEC_ENV)
    with pytest.raises(ConfigInvalid, match="not found"):
        load_evaluation_spec(tmp_path / "missing.json")


def test_a_checkpoint_of_other_classes_is_refused() -> None:
    check_classes(("circle", "square"), ["circle", "square"])
    check_classes(None, ["circle", "square"])
    with pytest.raises(ConfigInvalid, match="in another order"):
        check_classes(["square", "circle"], ["circle", "square"])
    with pytest.raises(ConfigInvalid, match=r"classes \['circle'\] differ from the dataset's"):
        check_classes(["circle"], ["circle", "square"])
