"""The Dataset kind: where a COCO-format detection dataset lives and what it contains."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from kubedet.api.common import (
    NO_PARENT_SEGMENTS_RULE,
    KubedetModel,
    SecretKeysReference,
    StorageURI,
    no_parent_segments,
)

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
            raise ValueError("split.train + split.val + split.test must add up to 100")
        return self


class DatasetAnnotations(KubedetModel):
    """The COCO annotation files: either one per split, or a single file split by ratio."""

    splits: SplitAnnotations | None = None
    """One annotation file per split. Exactly one of splits and file must be set."""
    file: RelativePath | None = None
    """A single COCO annotation file, split into train/val/test by `split`."""
    split: SplitRatios = Field(default_factory=SplitRatios)
    """Ratios and seed for splitting `file`; ignored with `splits`."""

    @model_validator(mode="after")
    def _exactly_one(self) -> DatasetAnnotations:
        if (self.splits is None) == (self.file is None):
            raise ValueError("set exactly one of annotations.splits and annotations.file")
        return self


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
    classes: list[ClassName] = Field(min_length=1, max_length=1000)
    """Ordered class names; the i-th name is the i-th output of a model trained on this dataset. The
    COCO category names in the annotation files must match them."""
    published: bool = False
    """Only published datasets may be trained on (as in the ported app)."""

    @model_validator(mode="after")
    def _unique_classes(self) -> DatasetSpec:
        seen: set[str] = set()
        for name in self.classes:
            if name in seen:
                raise ValueError(f"classes: duplicate class name {name!r}; each class must appear once")
            seen.add(name)
        return self
