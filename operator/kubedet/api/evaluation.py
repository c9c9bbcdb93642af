"""The contract of a model evaluation: which model to score on which split, and the trainer's answer.

`python -m kubedet_trainer evaluate` reads an `EvaluationSpec` (a file, or an environment variable as the
preflight Job passes its spec) and answers with one termination message: an `EvaluationResult` when it
scored the model, a `TrainerFailure` (kubedet.api.runspec: the same reasons and exit codes as a training)
when it could not. `parse_evaluation_message` tells them apart by their `kind`.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationInfo, field_validator, model_validator

from kubedet.api.common import KubedetModel, Score, SecretKeysReference, StorageURI
from kubedet.api.dataset import ClassName
from kubedet.api.runspec import (
    TERMINATION_MESSAGE_LIMIT,
    ConfigReference,
    RunDataset,
    Sha256,
    TrainerFailure,
)

EVALUATION_SPEC_ENV = "KUBEDET_EVALUATION_SPEC"

EvaluationSplit = Literal["train", "val", "test"]
OptionalScore = Score | None
"""None where COCO defines no value: no ground-truth box of that class, or of that size, in the split."""

# Values kept on the wire; COCO's own summary prints three decimals, so four loses nothing it shows.
WIRE_DECIMALS = 4
# Fewer decimals are tried before any class is left out: a class's presence matters more than its
# fourth digit.
MIN_WIRE_DECIMALS = 2


class EvaluatedModel(KubedetModel):
    """The trained model to score, as its artifacts name it (a TrainerResult's configUri/checkpointUri)."""

    name: str = Field(min_length=1, max_length=253)
    """Name of the model (a TrainedModel), for the record."""
    config: ConfigReference
    """MMDetection config: a storage URI of the model's published config.py, or `mmdet::<dir>/<file>.py`."""
    checkpoint_uri: StorageURI
    """The weights to score (checkpoint.pth)."""
    checkpoint_sha256: Sha256 | None = None
    """The checkpoint's digest when known (the TrainerResult's digests.checkpoint); a checkpoint read with
    another digest is refused."""
    checkpoint_secret_ref: SecretKeysReference | None = None
    """The Secret whose keys reach the trainer as environment to read the checkpoint (never its values)."""


class EvaluationSpec(KubedetModel):
    """Everything the trainer needs to score one model on one split of a dataset."""

    dataset: RunDataset
    """The Dataset to score on, resolved by the operator."""
    split: EvaluationSplit = Field(default="test", validate_default=True)
    """Which split of the dataset to score on: test (the default), val or train."""
    model: EvaluatedModel
    workers: int = Field(default=2, ge=0, le=64)
    """Data loader worker processes."""

    @field_validator("split")
    @classmethod
    def _split_exists(cls, split: EvaluationSplit, info: ValidationInfo) -> EvaluationSplit:
        # train and val always exist; the dataset is validated first (field order) unless it is invalid.
        dataset: RunDataset | None = info.data.get("dataset")
        if split != "test" or dataset is None:
            return split
        annotations = dataset.spec.annotations
        if annotations.splits is not None and annotations.splits.test is None:
            raise ValueError(
                f"dataset {dataset.name} has no test annotation file (spec.annotations.splits.test); "
                "evaluate its val or train split"
            )
        if annotations.file is not None and annotations.split.test == 0:
            raise ValueError(
                f"dataset {dataset.name} gives the test split 0% (spec.annotations.split.test); "
                "evaluate its val or train split"
            )
        return split


class EvaluationResult(KubedetModel):
    """The success termination message of an evaluation."""

    kind: Literal["evaluation"] = "evaluation"
    split: EvaluationSplit
    images: int = Field(ge=0)
    """Images of the split the model was scored on."""
    bbox_map: Score = Field(alias="bboxMAP")
    """COCO bbox mAP at IoU 0.50:0.95."""
    bbox_map50: Score = Field(alias="bboxMAP50")
    bbox_map75: Score = Field(alias="bboxMAP75")
    bbox_map_small: OptionalScore = Field(default=None, alias="bboxMAPSmall")
    bbox_map_medium: OptionalScore = Field(default=None, alias="bboxMAPMedium")
    bbox_map_large: OptionalScore = Field(default=None, alias="bboxMAPLarge")
    per_class_ap: dict[ClassName, OptionalScore] = Field(
        default_factory=dict, max_length=1000, alias="perClassAP"
    )
    """AP (IoU 0.50:0.95) per class name; null for a class without ground truth in the split."""
    per_class_recall: dict[ClassName, OptionalScore] = Field(default_factory=dict, max_length=1000)
    """COCO recall (IoU 0.50:0.95, all areas, at most 100 detections per image) per class name."""
    omitted_classes: int = Field(default=0, ge=0)
    """Classes left out of perClassAP and perClassRecall so the message fits; the lowest-AP classes are
    the ones kept, as they are what a quality gate fails on."""
    per_class_decimals: int | None = Field(default=None, ge=0)
    """Decimals the per-class values carry in the message (serialize rounds them); unset in memory."""
    checkpoint_sha256: Sha256
    """Digest of the checkpoint file that was scored."""
    dataset_digest: Sha256
    """sha256 of the split's COCO annotation file as the trainer read it (the split cut out, categories in
    class order): equal digests mean the same images and boxes were scored."""
    duration_seconds: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _same_classes(self) -> EvaluationResult:
        if set(self.per_class_recall) != set(self.per_class_ap):
            raise ValueError("perClassRecall must name the same classes as perClassAP")
        return self

    def coco_metrics(self) -> dict[str, float]:
        """The summary under mmdet's names, as a TrainerResult's `metrics` holds them."""
        named = {
            "bbox_mAP": self.bbox_map,
            "bbox_mAP_50": self.bbox_map50,
            "bbox_mAP_75": self.bbox_map75,
            "bbox_mAP_s": self.bbox_map_small,
            "bbox_mAP_m": self.bbox_map_medium,
            "bbox_mAP_l": self.bbox_map_large,
        }
        return {name: value for name, value in named.items() if value is not None}

    def serialize(self) -> str:
        """Compact JSON under the termination message limit: the per-class values are rounded (to fewer
        decimals as needed), then the highest-AP classes are left out, and the fields above say so."""
        for decimals in range(WIRE_DECIMALS, MIN_WIRE_DECIMALS - 1, -1):
            text = self._wire_text(decimals, len(self.per_class_ap))
            if _fits(text):
                return text
        # Message size grows with the classes kept: the most that fit, by bisection.
        fitting, too_many = 0, len(self.per_class_ap)
        while too_many - fitting > 1:
            middle = (fitting + too_many) // 2
            if _fits(self._wire_text(MIN_WIRE_DECIMALS, middle)):
                fitting = middle
            else:
                too_many = middle
        text = self._wire_text(MIN_WIRE_DECIMALS, fitting)
        if not _fits(text):
            # Unreachable with the field bounds above; tests/unit/trainer check the worst case.
            raise ValueError(f"evaluation message is {len(text.encode())} bytes even without classes")
        return text

    def _wire_text(self, decimals: int, classes: int) -> str:
        kept = set(self._lowest_ap_first()[:classes])
        shrunk = self.model_copy(
            update={
                "per_class_ap": _rounded(self.per_class_ap, kept, decimals),
                "per_class_recall": _rounded(self.per_class_recall, kept, decimals),
                "omitted_classes": self.omitted_classes + len(self.per_class_ap) - len(kept),
                "per_class_decimals": decimals,
            }
        )
        return json.dumps(shrunk.to_wire(), separators=(",", ":"), ensure_ascii=False)

    def _lowest_ap_first(self) -> list[str]:
        # Classes without ground truth carry no score: they are the first to go.
        return sorted(
            self.per_class_ap,
            key=lambda name: (self.per_class_ap[name] is None, self.per_class_ap[name] or 0.0, name),
        )


def _rounded(values: dict[str, float | None], kept: set[str], decimals: int) -> dict[str, float | None]:
    return {name: None if v is None else round(v, decimals) for name, v in values.items() if name in kept}


def _fits(text: str) -> bool:
    return len(text.encode()) < TERMINATION_MESSAGE_LIMIT


def coco_score(value: float | None) -> float | None:
    """mmdet's and pycocotools' "no value" (-1, NaN) as None, any other value as it is."""
    if value is None or math.isnan(value) or value < 0:
        return None
    return float(value)


_MESSAGE_ADAPTER: TypeAdapter[EvaluationResult | TrainerFailure] = TypeAdapter(
    Annotated[EvaluationResult | TrainerFailure, Field(discriminator="kind")]
)


def parse_evaluation_message(text: str) -> EvaluationResult | TrainerFailure:
    """Read an evaluation pod's termination message (raises pydantic.ValidationError when it is neither)."""
    return _MESSAGE_ADAPTER.validate_json(text)
