"""The contract between the operator and the trainer program inside the training Job.

The operator writes a `RunSpec` into a ConfigMap mounted into the trainer's pod; the trainer answers with
one termination message: a `TrainerResult` when it succeeded, a `TrainerFailure` when it did not. Both
messages carry a `kind` field so `parse_termination_message` can tell them apart, and both serialize to
less than Kubernetes' 4096-byte termination message limit.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, JsonValue, TypeAdapter

from kubedet.api.common import (
    DNS_SUBDOMAIN_PATTERN,
    STORAGE_URI_PATTERN,
    Hyperparameters,
    KubedetModel,
    SecretKeysReference,
    StorageURI,
    no_parent_segments,
)
from kubedet.api.dataset import ClassName, DatasetSpec

# Kubernetes truncates a container's termination message at 4096 bytes.
TERMINATION_MESSAGE_LIMIT = 4096


# str + Enum rather than StrEnum: the project still declares requires-python >= 3.10.
class FailureReason(str, Enum):  # noqa: UP042
    """Why a training run failed; the operator shows it as the run's condition reason."""

    DATASET_INVALID = "DatasetInvalid"
    CONFIG_INVALID = "ConfigInvalid"
    OUT_OF_MEMORY = "OutOfMemory"
    TRAINING_DIVERGED = "TrainingDiverged"
    STORAGE_UNAVAILABLE = "StorageUnavailable"
    UNKNOWN = "Unknown"


# The user's input is wrong: retrying cannot help, so the Job's podFailurePolicy fails fast on this code.
EXIT_USER_ERROR = 42
EXIT_OUT_OF_MEMORY = 43
EXIT_TRAINING_DIVERGED = 44
# Possibly transient (an object store or a volume was unreachable): worth a retry.
EXIT_STORAGE_UNAVAILABLE = 45
EXIT_UNKNOWN = 1

EXIT_CODES: dict[FailureReason, int] = {
    FailureReason.DATASET_INVALID: EXIT_USER_ERROR,
    FailureReason.CONFIG_INVALID: EXIT_USER_ERROR,
    FailureReason.OUT_OF_MEMORY: EXIT_OUT_OF_MEMORY,
    FailureReason.TRAINING_DIVERGED: EXIT_TRAINING_DIVERGED,
    FailureReason.STORAGE_UNAVAILABLE: EXIT_STORAGE_UNAVAILABLE,
    FailureReason.UNKNOWN: EXIT_UNKNOWN,
}

MMDET_CONFIG_PREFIX = "mmdet::"
# The artifacts' URIs are the output URI plus a short file name; bounding it keeps a result message,
# with its three artifact URIs, under the termination message limit.
OUTPUT_URI_MAX_LENGTH = 640


def _valid_config_reference(value: str) -> str:
    if value.startswith(MMDET_CONFIG_PREFIX):
        path = value[len(MMDET_CONFIG_PREFIX) :]
        if not path.endswith(".py") or path.startswith("/") or "\\" in path:
            raise ValueError(f"{value!r}: an mmdet config reference names a .py file under mmdet's configs")
        no_parent_segments(path)
        return value
    if not re.match(STORAGE_URI_PATTERN, value):
        raise ValueError(
            f"{value!r} is neither an mmdet config reference (mmdet::<dir>/<file>.py) nor a storage URI"
        )
    return no_parent_segments(value)


ConfigReference = Annotated[
    str,
    Field(min_length=1, max_length=2048),
    AfterValidator(_valid_config_reference),
]


class RunReference(KubedetModel):
    """The TrainingRun this spec was made for; the trainer only echoes it in logs."""

    namespace: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    uid: str = Field(min_length=1, max_length=64)


class RunDataset(KubedetModel):
    """The Dataset the run trains on, resolved by the operator."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    """Name of the Dataset object."""
    spec: DatasetSpec
    """The Dataset's spec as it was when the run started."""


class BaseModelSpec(KubedetModel):
    """The model that training starts from."""

    name: str = Field(min_length=1, max_length=253)
    """Name of the base model (a TrainedModel or a built-in one)."""
    config: ConfigReference
    """MMDetection config: `mmdet::<dir>/<file>.py` from the installed mmdet, or a storage URI of a .py
    config (a trained model's published config)."""
    checkpoint_uri: StorageURI | None = None
    """Weights to start from. Unset trains from scratch (no download is attempted)."""
    classes: list[ClassName] | None = None
    """Classes the base model was trained on, for the record; the run's classes come from the dataset."""
    checkpoint_secret_ref: SecretKeysReference | None = None
    """The Secret whose keys reach the trainer as environment to read the checkpoint (never its values)."""


class RunSpec(KubedetModel):
    """Everything the trainer needs for one training run."""

    run: RunReference
    dataset: RunDataset
    base_model: BaseModelSpec
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    gpus: int = Field(default=1, ge=0, le=64)
    """GPUs per node (0 trains on the CPU)."""
    nodes: int = Field(default=1, ge=1, le=64)
    """Number of pods (torchrun nodes) taking part."""
    cfg_options: dict[str, JsonValue] = Field(default_factory=dict)
    """Extra MMDetection config overrides as dotted keys (`optim_wrapper.clip_grad.max_norm: 10`); the
    trainer refuses the keys kubedet.api.cfgoptions forbids."""
    output_uri: StorageURI = Field(max_length=OUTPUT_URI_MAX_LENGTH)
    """Where the artifacts (checkpoint.pth, config.py, metrics.json) are written."""
    workers: int = Field(default=2, ge=0, le=64)
    """Data loader worker processes per GPU."""


class TrainerStatistics(KubedetModel):
    duration_seconds: float = Field(ge=0)
    total_parameters: int = Field(ge=0)
    epochs: int = Field(ge=0)
    """Epochs trained: the last epoch of the training."""
    requested_epochs: int | None = Field(default=None, ge=1)
    """Epochs the run spec asked for."""
    stopped_early: bool = False
    """Early stopping ended the training before requestedEpochs (validation bbox mAP stopped improving)."""
    learning_rate: float
    """The learning rate actually used, after scaling by the effective batch size."""
    final_loss: float | None = None
    best_epoch: int = Field(ge=0)
    seed: int | None = None


class Lineage(KubedetModel):
    """Proof that the base checkpoint was the starting point."""

    base_checkpoint_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    loaded_tensors: int = Field(ge=0)
    """Tensors of the model equal to the base checkpoint's just after loading it."""
    total_tensors: int = Field(ge=0)
    """Tensors in the base checkpoint (heads of a different class count cannot load)."""


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
ArtifactURI = Annotated[str, Field(min_length=1, max_length=OUTPUT_URI_MAX_LENGTH + 32)]

# The COCO metrics kept in the termination message; metrics.json holds the rest (per-class AP).
CORE_METRICS = ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l")


# Where the operator puts a run's TrainingSummary: an annotation of the TrainedModel it creates, so that
# whoever may get trainedmodels/status (kubedet-view-trained-model-statistics) can read it, without a
# grant on ConfigMaps (RBAC cannot narrow those to one name pattern) and without a CRD change.
STATISTICS_ANNOTATION = "kubedet.io/statistics"
SUMMARY_MAX_POINTS = 50
SUMMARY_MAX_CLASSES = 100
SummaryValue = float | None


class TrainingSummary(KubedetModel):
    """A bounded history of the training: per-epoch curves (downsampled to at most 50 points) and the
    best epoch's AP per class (at most 100 classes). It rides in the result message only when it fits."""

    epochs: list[int] = Field(default_factory=list, max_length=SUMMARY_MAX_POINTS)
    """The epochs (1-based) the curves below have a point for; the same length as each curve."""
    loss: list[SummaryValue] = Field(default_factory=list, max_length=SUMMARY_MAX_POINTS)
    """Mean training loss of each epoch."""
    lr: list[SummaryValue] = Field(default_factory=list, max_length=SUMMARY_MAX_POINTS)
    """Learning rate at the end of each epoch."""
    bbox_map: list[SummaryValue] = Field(default_factory=list, max_length=SUMMARY_MAX_POINTS, alias="bboxMAP")
    """Validation bbox mAP (0.50:0.95) after each epoch; null where the epoch was not validated."""
    bbox_map50: list[SummaryValue] = Field(
        default_factory=list, max_length=SUMMARY_MAX_POINTS, alias="bboxMAP50"
    )
    """Validation bbox mAP at IoU 0.50 after each epoch."""
    best_epoch: int | None = Field(default=None, ge=1)
    per_class_ap: dict[Annotated[str, Field(max_length=64)], float] = Field(
        default_factory=dict, max_length=SUMMARY_MAX_CLASSES, alias="perClassAP"
    )
    """AP per class at the best epoch (the best-scoring classes when there are more than 100)."""
    total_epochs: int | None = Field(default=None, ge=0)
    """Epochs trained; more than len(epochs) when the curves were downsampled."""
    truncated_classes: int = Field(default=0, ge=0)
    """Classes left out of perClassAP to stay bounded."""


class TrainerResult(KubedetModel):
    """The success termination message."""

    kind: Literal["result"] = "result"
    checkpoint_uri: ArtifactURI
    config_uri: ArtifactURI
    metrics_uri: ArtifactURI
    metrics: dict[Annotated[str, Field(max_length=64)], float] = Field(default_factory=dict)
    """COCO metrics of the best epoch (bbox_mAP, bbox_mAP_50, ...)."""
    statistics: TrainerStatistics
    digests: dict[Annotated[str, Field(max_length=32)], Sha256] = Field(default_factory=dict, max_length=8)
    """sha256 per artifact, keyed checkpoint, config, metrics."""
    lineage: Lineage | None = None
    summary: TrainingSummary | None = None
    """The bounded training history; the trainer shrinks or drops it so the message fits."""

    def serialize(self) -> str:
        """Compact JSON under the termination message limit; the summary, then extra metrics are
        dropped to get there (the trainer shrinks the summary to fit before, see kubedet_trainer.stats)."""
        text = _compact(self.to_wire())
        if len(text.encode()) < TERMINATION_MESSAGE_LIMIT:
            return text
        if self.summary is not None:
            return self.model_copy(update={"summary": None}).serialize()
        core = {k: v for k, v in self.metrics.items() if k in CORE_METRICS}
        text = _compact(self.model_copy(update={"metrics": core}).to_wire())
        if len(text.encode()) >= TERMINATION_MESSAGE_LIMIT:
            # Unreachable with the field bounds above; tests/unit/trainer check the worst case.
            raise ValueError(f"result message is {len(text.encode())} bytes even without extra metrics")
        return text


TRACEBACK_TAIL_LIMIT = 1500
MESSAGE_LIMIT = 1500


class TrainerFailure(KubedetModel):
    """The failure termination message."""

    kind: Literal["failure"] = "failure"
    reason: FailureReason
    message: str
    exit_code: int
    traceback_tail: str = ""
    """The last lines of the traceback, bounded."""

    @classmethod
    def for_reason(cls, reason: FailureReason, message: str, traceback_tail: str = "") -> TrainerFailure:
        return cls(
            reason=reason, message=message, exit_code=EXIT_CODES[reason], traceback_tail=traceback_tail
        )

    def serialize(self) -> str:
        """Compact JSON under the termination message limit: message and traceback keep their ends."""
        message = _keep_head(self.message, MESSAGE_LIMIT)
        tail = _keep_tail(self.traceback_tail, TRACEBACK_TAIL_LIMIT)
        text = _compact(self.model_copy(update={"message": message, "traceback_tail": tail}).to_wire())
        while len(text.encode()) >= TERMINATION_MESSAGE_LIMIT:
            # Multi-byte characters can still push it over; halve the traceback, then the message.
            if tail:
                tail = _keep_tail(tail, len(tail) // 2)
            else:
                message = _keep_head(message, len(message) // 2)
            text = _compact(self.model_copy(update={"message": message, "traceback_tail": tail}).to_wire())
        return text


def _compact(wire: dict) -> str:
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False)


def _keep_head(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _keep_tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[len(text) - max(0, limit - 1) :]


_TERMINATION_ADAPTER: TypeAdapter[TrainerResult | TrainerFailure] = TypeAdapter(
    Annotated[TrainerResult | TrainerFailure, Field(discriminator="kind")]
)


def parse_termination_message(text: str) -> TrainerResult | TrainerFailure:
    """Read a trainer pod's termination message (raises pydantic.ValidationError when it is neither)."""
    return _TERMINATION_ADAPTER.validate_json(text)
