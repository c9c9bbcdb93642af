"""The Dataset kind: where a COCO-format detection dataset lives and what it contains."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from kubedet.api.common import (
    CONDITIONS_LIST_SCHEMA,
    MAX_CONDITIONS,
    NO_PARENT_SEGMENTS_RULE,
    Condition,
    KubedetModel,
    SecretKeysReference,
    StorageURI,
    cel,
    no_parent_segments,
    phases,
    validations,
)
from kubedet.api.constants import Phase
from kubedet.api.podmetadata import PodMetadata
from kubedet.api.resource import AGE_COLUMN, CRDNames, KubedetObject, PrinterColumn

# A path relative to the dataset's source URI: no leading slash, no backslash or NUL, no '..' segment.
RELATIVE_PATH_PATTERN = r"^[^/\\\x00][^\\\x00]*$"
RelativePath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        pattern=RELATIVE_PATH_PATTERN,
        json_schema_extra={"x-kubernetes-validations": [NO_PARENT_SEGMENTS_RULE]},
    ),
    AfterValidator(no_parent_segments),
]

ClassName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[^\x00-\x1f]+$")]


def unique_class_names(names: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate class name {name!r}; each class must appear once")
        seen.add(name)
    return names


# Duplicates are refused by the API server through list-type set; order is kept, and it matters.
ClassNames = Annotated[
    list[ClassName],
    Field(min_length=1, max_length=1000, json_schema_extra={"x-kubernetes-list-type": "set"}),
    AfterValidator(unique_class_names),
]


class DatasetSource(KubedetModel):
    """Where the dataset's files are."""

    uri: StorageURI
    """Root of the dataset: pvc://<claim>/<path>, s3://<bucket>/<prefix> or https://<host>/<path>."""
    secret_ref: SecretKeysReference | None = None
    """Credentials for s3:// sources. Never needed for pvc://."""


class SplitAnnotations(KubedetModel):
    """One COCO annotation file per split, relative to the source URI."""

    train: RelativePath
    """COCO annotation file of the training split."""
    val: RelativePath
    """COCO annotation file of the validation split (used to pick the best epoch)."""
    test: RelativePath | None = None
    """Optional COCO annotation file of the test split."""


class SplitRatios(KubedetModel):
    """How one annotation file is split into train/val/test (the ported app used 70/20/10)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.train + self.val + self.test == 100",
                "spec.annotations.split: train + val + test must add up to 100",
            )
        )
    )

    train: int = Field(default=70, ge=1, le=98)
    """Percentage of images in the training split."""
    val: int = Field(default=20, ge=1, le=98)
    """Percentage of images in the validation split."""
    test: int = Field(default=10, ge=0, le=98)
    """Percentage of images in the test split (0 for none)."""
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    """Seed of the shuffle, so a split is reproducible."""

    @model_validator(mode="after")
    def _sums_to_100(self) -> SplitRatios:
        if self.train + self.val + self.test != 100:
            raise ValueError("spec.annotations.split: train + val + test must add up to 100")
        return self


class DatasetAnnotations(KubedetModel):
    """The COCO annotation files: either one per split, or a single file split by ratio."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.splits) != has(self.file)",
                "spec.annotations: set exactly one of spec.annotations.splits and spec.annotations.file",
            )
        )
    )

    splits: SplitAnnotations | None = None
    """One annotation file per split. Exactly one of splits and file must be set."""
    file: RelativePath | None = None
    """A single COCO annotation file, split into train/val/test by `split`."""
    split: SplitRatios = Field(default_factory=SplitRatios)
    """Ratios and seed for splitting `file`; ignored with `splits`."""

    @model_validator(mode="after")
    def _exactly_one(self) -> DatasetAnnotations:
        if (self.splits is None) == (self.file is None):
            raise ValueError(
                "spec.annotations: set exactly one of spec.annotations.splits and spec.annotations.file"
            )
        return self


class DatasetPreflight(KubedetModel):
    """The preflight Job that checks a dataset's files before any run trains on it."""

    pod_metadata: PodMetadata | None = None
    """Labels and annotations for the preflight pod, e.g. for cost attribution or a service mesh."""


class DatasetSpec(KubedetModel):
    """What a Dataset declares."""

    description: str | None = Field(default=None, max_length=4096)
    """Free text shown to people choosing a dataset."""
    source: DatasetSource
    """Where the dataset's files are."""
    annotations: DatasetAnnotations
    """The COCO annotation files."""
    images: RelativePath = "images"
    """Folder of the images, relative to the source URI; COCO file_name entries are relative to it."""
    classes: ClassNames
    """Ordered class names; the i-th name is the i-th output of a model trained on this dataset. The
    COCO category names in the annotation files must match them."""
    published: bool = False
    """Only published datasets may be trained on (as in the ported app)."""
    preflight: DatasetPreflight | None = None
    """Settings of the preflight Job that checks the dataset's files."""


class SplitStatistics(KubedetModel):
    """What one split of a validated dataset contains."""

    images: int = Field(ge=0)
    """Number of images in the split."""
    annotations: int = Field(ge=0)
    """Number of bounding-box annotations in the split."""


class DatasetSplitsStatus(KubedetModel):
    """Counts per split, as the trainer will see them (after splitting a single file by ratio)."""

    train: SplitStatistics
    """The training split."""
    val: SplitStatistics
    """The validation split."""
    test: SplitStatistics | None = None
    """The test split, when there is one."""


class ClassStatistics(KubedetModel):
    """How often one class is annotated, over all splits."""

    name: ClassName
    """The class name, as in spec.classes."""
    annotations: int = Field(ge=0)
    """Number of bounding-box annotations of this class."""


LIST_MAP_BY_NAME: dict[str, Any] = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}


class DatasetStatus(KubedetModel):
    """What the operator found when it validated the dataset's files."""

    phase: Annotated[Phase, *phases(Phase.PENDING, Phase.READY, Phase.FAILED)] | None = None
    """Pending until validated, then Ready or Failed (see the Ready condition's reason and message)."""
    conditions: list[Condition] = Field(
        default_factory=list, max_length=MAX_CONDITIONS, json_schema_extra=CONDITIONS_LIST_SCHEMA
    )
    """Ready: the files exist, the annotation files parse as COCO and their categories match
    spec.classes."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the status describes."""
    class_count: int | None = Field(default=None, ge=0)
    """Number of classes in spec.classes (for `kubectl get`)."""
    images: int | None = Field(default=None, ge=0)
    """Total number of images over all splits."""
    annotations: int | None = Field(default=None, ge=0)
    """Total number of bounding-box annotations over all splits."""
    splits: DatasetSplitsStatus | None = None
    """Images and annotations per split, once validated."""
    classes: list[ClassStatistics] | None = Field(
        default=None,
        max_length=1000,
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    """Annotations per class, in the order of spec.classes, once validated."""


class Dataset(KubedetObject):
    """A COCO-format object-detection dataset that TrainingRuns train on."""

    # Not "ds": kubectl resolves that to DaemonSets, built-in resources winning over CRDs.
    NAMES: ClassVar[CRDNames] = CRDNames("Dataset", "datasets", "dataset", ("dset",))
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Classes", ".status.classCount", "integer", "Number of classes."),
        PrinterColumn("Images", ".status.images", "integer", "Number of images over all splits."),
        PrinterColumn("Published", ".spec.published", "boolean", "Whether runs may train on it."),
        PrinterColumn(
            "Ready", '.status.conditions[?(@.type=="Ready")].status', "string", "The Ready condition."
        ),
        AGE_COLUMN,
    )

    kind: Literal["Dataset"] = "Dataset"
    """Kind is the type of this object: Dataset."""
    spec: DatasetSpec
    """What the dataset is and where its files live."""
    status: DatasetStatus | None = None
    """What the operator observed; written by the operator only."""
