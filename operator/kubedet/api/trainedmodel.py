"""The TrainedModel kind: an MMDetection config and checkpoint, with lineage, metrics and statistics."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from kubedet.api.common import (
    CONDITIONS_LIST_SCHEMA,
    MAX_CONDITIONS,
    NO_PARENT_SEGMENTS_RULE,
    STORAGE_URI_PATTERN,
    Condition,
    KubedetModel,
    LocalObjectReference,
    SecretKeysReference,
    Sha256,
    StorageURI,
    Timestamp,
    cel,
    no_parent_segments,
    phases,
    unchanged,
    validations,
)
from kubedet.api.constants import Phase
from kubedet.api.dataset import ClassNames
from kubedet.api.metrics import BoxMetrics
from kubedet.api.publishing import PublishGateStatus, PublishPolicy
from kubedet.api.resource import AGE_COLUMN, CRDNames, KubedetObject, PrinterColumn
from kubedet.api.usage import ComputeTime

# A config shipped inside the mmdet package (its .mim/configs folder), e.g.
# mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py. The path may not start with '.', so no '..'.
MMDET_CONFIG_PATTERN = r"mmdet::[A-Za-z0-9_-][A-Za-z0-9_./-]*\.py"
MODEL_CONFIG_PATTERN = f"^({MMDET_CONFIG_PATTERN}|{STORAGE_URI_PATTERN.removeprefix('^').removesuffix('$')})$"

ModelConfig = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        pattern=MODEL_CONFIG_PATTERN,
        json_schema_extra={"x-kubernetes-validations": [NO_PARENT_SEGMENTS_RULE]},
    ),
    AfterValidator(no_parent_segments),
]



class Checkpoint(KubedetModel):
    """The model's weights."""

    uri: StorageURI
    """The .pth checkpoint: pvc://, s3:// or https:// (e.g. a download.openmmlab.com model-zoo URL)."""
    secret_ref: SecretKeysReference | None = None
    """Credentials for an s3:// checkpoint."""


# Set at creation: a model is an artifact, and runs trained from it must keep meaning the same thing.
_IMMUTABLE_SPEC_FIELDS = (
    "config",
    "checkpoint",
    "classes",
    "baseModelRef",
    "datasetRef",
    "trainingRunRef",
    "publishPolicy",
)


class TrainedModelSpec(KubedetModel):
    """What a TrainedModel is: its config, weights and where it came from."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.trainingRunRef) || (has(self.baseModelRef) && has(self.datasetRef))",
                "spec.trainingRunRef: a trained model also names its baseModelRef and datasetRef",
                field_path=".trainingRunRef",
            ),
            *(
                cel(
                    unchanged(field, "self", "oldSelf"),
                    f"spec.{field} is immutable; create a new TrainedModel",
                    field_path=f".{field}",
                    reason="FieldValueForbidden",
                )
                for field in _IMMUTABLE_SPEC_FIELDS
            ),
        )
    )

    config: ModelConfig
    """The MMDetection config: mmdet::<path>.py for a config of the installed mmdet package (e.g.
    mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py), or a pvc://, s3:// or https:// URI of a config file
    (trained models point at the full config their run wrote)."""
    checkpoint: Checkpoint
    """The model's weights."""
    classes: ClassNames | None = None
    """Ordered class names the model predicts. Unset for a model-zoo base model whose config defines
    them (COCO's 80 classes)."""
    description: str | None = Field(default=None, max_length=4096)
    """Free text shown to people choosing a model."""
    published: bool = False
    """Published models are the ones offered for inference (as in the ported app). A TrainingRun with
    spec.publish sets it on success."""
    base_model_ref: LocalObjectReference | None = None
    """The TrainedModel this one was fine-tuned from. Unset for base models imported by hand."""
    dataset_ref: LocalObjectReference | None = None
    """The Dataset this model was trained on. Unset for base models imported by hand."""
    training_run_ref: LocalObjectReference | None = None
    """The TrainingRun that produced this model. Unset for base models imported by hand."""
    publish_policy: PublishPolicy | None = None
    """The gate publishing this model must pass (its run's spec.publishPolicy, or set at import): its
    line, golden dataset and thresholds. With a policy, spec.published can be set only once the gate
    passed (condition PublishGate), unless the publisher may override gates."""

    @model_validator(mode="after")
    def _trained_models_have_lineage(self) -> TrainedModelSpec:
        if self.training_run_ref is not None and (self.base_model_ref is None or self.dataset_ref is None):
            raise ValueError(
                "spec.trainingRunRef: a trained model also names its baseModelRef and datasetRef"
            )
        return self


class TrainingStatistics(ComputeTime):
    """How the model was trained (the ported app had these fields but never filled them), and the
    compute its run used (gpuSeconds, attempts, ...: the run's status.statistics when it succeeded)."""

    training_duration_seconds: int | None = Field(default=None, ge=0)
    """Wall-clock time of the training, in seconds."""
    total_parameters: int | None = Field(default=None, ge=0)
    """Number of parameters of the model."""
    epochs: int | None = Field(default=None, ge=0)
    """Epochs trained."""
    requested_epochs: int | None = Field(default=None, ge=1)
    """Epochs the run asked for (spec.hyperparameters.epochs); more than `epochs` when it stopped
    early."""
    stopped_early: bool | None = None
    """True when early stopping ended the training after `epochs` epochs, as validation bbox mAP had
    stopped improving."""
    best_epoch: int | None = Field(default=None, ge=1)
    """The epoch whose checkpoint was kept (highest bboxMAP)."""
    learning_rate: float | None = Field(default=None, ge=0)
    """Base learning rate after batch-size scaling."""
    final_loss: float | None = Field(default=None, ge=0)
    """Training loss at the last logged iteration."""
    seed: int | None = Field(default=None, ge=0)
    """Random seed the run used."""


class ArtifactDigests(KubedetModel):
    """SHA-256 digests (lowercase hex) of the model's files, to detect a changed or corrupted artifact."""

    config: Sha256 | None = None
    """Digest of the config file (unset for mmdet:: configs)."""
    checkpoint: Sha256 | None = None
    """Digest of the checkpoint file."""


ModelPhase = Annotated[Phase, *phases(Phase.PENDING, Phase.READY, Phase.PUBLISHED, Phase.FAILED)]


class TrainedModelStatus(KubedetModel):
    """What the operator observed about the model."""

    phase: ModelPhase | None = None
    """Pending until checked, Ready when its config and checkpoint were found, Published when also
    published, Failed when they could not be found."""
    conditions: list[Condition] = Field(
        default_factory=list, max_length=MAX_CONDITIONS, json_schema_extra=CONDITIONS_LIST_SCHEMA
    )
    """Ready: config and checkpoint exist. Published: offered for inference."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the status describes."""
    metrics: BoxMetrics | None = None
    """Validation metrics of the kept checkpoint (trained models only)."""
    statistics: TrainingStatistics | None = None
    """How the model was trained (trained models only)."""
    digests: ArtifactDigests | None = None
    """Digests of the artifacts, recorded when they were written or first checked."""
    published_at: Timestamp | None = None
    """When the model was last published."""
    publish_gate: PublishGateStatus | None = None
    """The publish policy's verdict, with every check and its numbers (models with a publishPolicy)."""
    replaces: LocalObjectReference | None = None
    """The model of its line it replaced as the published one."""
    replaced_by: LocalObjectReference | None = None
    """The model of its line that replaced it as the published one."""


class TrainedModel(KubedetObject):
    """An object-detection model: an MMDetection config and checkpoint. Base models are imported by
    hand; TrainingRuns create the others."""

    NAMES: ClassVar[CRDNames] = CRDNames("TrainedModel", "trainedmodels", "trainedmodel", ("tm",))
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Base Model", ".spec.baseModelRef.name", "string", "The model it was fine-tuned from."),
        PrinterColumn("Dataset", ".spec.datasetRef.name", "string", "The dataset it was trained on."),
        PrinterColumn("mAP", ".status.metrics.bboxMAP", "number", "COCO bbox mAP on the validation split."),
        PrinterColumn("Published", ".spec.published", "boolean", "Whether it is offered for inference."),
        PrinterColumn("Phase", ".status.phase", "string", "Pending, Ready, Published or Failed.", priority=1),
        PrinterColumn("Line", ".spec.publishPolicy.modelLine", "string", "Its model line.", priority=1),
        PrinterColumn(
            "Gate", ".status.publishGate.passed", "boolean", "Whether it passed its gate.", priority=1
        ),
        AGE_COLUMN,
    )
    SELECTABLE_FIELDS: ClassVar[tuple[str, ...]] = (".spec.baseModelRef.name", ".spec.datasetRef.name")

    kind: Literal["TrainedModel"] = "TrainedModel"
    """Kind is the type of this object: TrainedModel."""
    spec: TrainedModelSpec
    """The model's config, weights and lineage."""
    status: TrainedModelStatus | None = None
    """What the operator observed; written by the operator only."""
