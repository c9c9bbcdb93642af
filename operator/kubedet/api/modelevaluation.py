"""The ModelEvaluation kind: score a TrainedModel on one split of a Dataset, with COCO metrics in status.

An evaluation is a measurement, so its spec is immutable: to score again (another split, a changed
dataset), create another evaluation. Quality gates reuse an evaluation whose model and dataset digests
match, so the same measurement is never paid for twice.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from kubedet.api.common import (
    CONDITIONS_LIST_SCHEMA,
    MAX_CONDITIONS,
    Condition,
    DNSSubdomain,
    KubedetModel,
    LocalObjectReference,
    Quantity,
    Score,
    Sha256,
    Timestamp,
    cel,
    phases,
    validations,
)
from kubedet.api.constants import Phase
from kubedet.api.dataset import ClassName
from kubedet.api.evaluation import EvaluationSplit
from kubedet.api.metrics import BoxMetrics
from kubedet.api.placement import Toleration
from kubedet.api.podmetadata import LabelValue, PodMetadata
from kubedet.api.resource import AGE_COLUMN, CRDNames, KubedetObject, PrinterColumn


class EvaluationResources(KubedetModel):
    """What the evaluation pod gets. Scoring is inference only: one pod, at most one GPU."""

    gpus: int = Field(default=1, ge=0, le=1)
    """GPUs (nvidia.com/gpu) of the pod: 1 (the default) or 0 to score on the CPU."""
    cpu: Quantity | None = None
    """CPU request and limit, e.g. 2. Unset: 2."""
    memory: Quantity | None = None
    """Memory request and limit, e.g. 8Gi. Unset: 8Gi."""


class EvaluationTemplate(KubedetModel):
    """How an evaluation pod is placed and sized: the part of a ModelEvaluation a publish policy sets
    for the evaluations it creates."""

    resources: EvaluationResources = Field(default_factory=EvaluationResources)
    """GPU, CPU and memory of the evaluation pod."""
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    """Time limit of the evaluation Job; when it runs out the evaluation fails with DeadlineExceeded."""
    node_selector: dict[str, LabelValue] | None = Field(default=None, max_length=64)
    """Node labels the evaluation pod must match."""
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    """Taints the evaluation pod tolerates."""
    pod_metadata: PodMetadata | None = None
    """Labels and annotations for the evaluation pod."""


class ModelEvaluationSpec(EvaluationTemplate):
    """Which model to score on which split of which dataset, and how the pod is placed. Immutable: create
    another evaluation to score again."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self == oldSelf",
                "spec is immutable: an evaluation is a measurement; create another ModelEvaluation",
                reason="FieldValueForbidden",
            )
        )
    )

    model_ref: LocalObjectReference
    """The TrainedModel to score. It must be Ready (or Published)."""
    dataset_ref: LocalObjectReference
    """The Dataset to score it on (a golden dataset kept for this). It must be Ready; it need not be
    published, so a held-out set can stay out of training."""
    split: EvaluationSplit = "test"
    """Which split of the dataset: test (the default), val or train."""


class EvaluationMetrics(BoxMetrics):
    """The model's COCO figures on the split, as pycocotools computes them, with recall per class."""

    per_class_recall: dict[ClassName, Score] | None = Field(default=None, max_length=1000)
    """Recall (IoU 0.50:0.95, at most 100 detections per image) per class name."""
    classes_without_boxes: list[ClassName] | None = Field(default=None, max_length=1000)
    """Classes the split has no boxes of: COCO defines no AP for them."""
    omitted_classes: int | None = Field(default=None, ge=0)
    """Classes left out of the per-class maps so the trainer's message fit its 4096 bytes; the lowest-AP
    classes are always kept."""


EvaluationPhase = Annotated[Phase, *phases(Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED)]


class ModelEvaluationStatus(KubedetModel):
    """What the operator observed: the evaluation's progress and, once it succeeded, its figures."""

    phase: EvaluationPhase | None = None
    """Pending (waiting for the model, the dataset or a node), Running, Succeeded or Failed."""
    conditions: list[Condition] = Field(
        default_factory=list, max_length=MAX_CONDITIONS, json_schema_extra=CONDITIONS_LIST_SCHEMA
    )
    """Scheduled, Succeeded, Failed. `kubectl wait --for=condition=Succeeded` waits for the figures."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the status describes."""
    job_name: DNSSubdomain | None = None
    """The evaluation Job."""
    start_time: Timestamp | None = None
    """When the operator created the Job."""
    completion_time: Timestamp | None = None
    """When the evaluation succeeded or failed."""
    images: int | None = Field(default=None, ge=0)
    """Images of the split the model was scored on."""
    metrics: EvaluationMetrics | None = None
    """The figures, once the evaluation succeeded."""
    model_digest: Sha256 | None = None
    """sha256 of the checkpoint that was scored: an evaluation speaks for these weights only."""
    dataset_digest: Sha256 | None = None
    """sha256 of the split's annotations as scored: equal digests mean the same images and boxes."""
    dataset_generation: int | None = Field(default=None, ge=0)
    """The Dataset's metadata.generation when the Job was made: a dataset changed since (a new generation)
    makes the evaluation stale for publish gates, which then score again."""
    duration_seconds: float | None = Field(default=None, ge=0)
    """How long the scoring took in the pod."""
    error_config_map_ref: LocalObjectReference | None = None
    """ConfigMap with the error and the end of the pod's log, once the evaluation failed."""


class ModelEvaluation(KubedetObject):
    """Scores a TrainedModel on one split of a Dataset with COCO metrics, per class included."""

    NAMES: ClassVar[CRDNames] = CRDNames("ModelEvaluation", "modelevaluations", "modelevaluation", ("meval",))
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Model", ".spec.modelRef.name", "string", "The model scored."),
        PrinterColumn("Dataset", ".spec.datasetRef.name", "string", "The dataset scored on."),
        PrinterColumn("Split", ".spec.split", "string", "The split scored on."),
        PrinterColumn("mAP", ".status.metrics.bboxMAP", "number", "COCO bbox mAP (IoU 0.50:0.95)."),
        PrinterColumn("mAP50", ".status.metrics.bboxMAP50", "number", "COCO bbox mAP at IoU 0.50."),
        PrinterColumn("Phase", ".status.phase", "string", "Pending, Running, Succeeded or Failed."),
        AGE_COLUMN,
        PrinterColumn("Images", ".status.images", "integer", "Images scored.", priority=1),
    )
    SELECTABLE_FIELDS: ClassVar[tuple[str, ...]] = (".spec.modelRef.name", ".spec.datasetRef.name")

    kind: Literal["ModelEvaluation"] = "ModelEvaluation"
    """Kind is the type of this object: ModelEvaluation."""
    spec: ModelEvaluationSpec
    """The model, the dataset and the split."""
    status: ModelEvaluationStatus | None = None
    """What the operator observed; written by the operator only."""
