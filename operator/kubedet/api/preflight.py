"""The contract of a Dataset's preflight Job: what the operator asks and what the trainer answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kubedet.api.common import KubedetModel
from kubedet.api.dataset import ClassStatistics, DatasetSplitsStatus
from kubedet.api.runspec import RunDataset

PREFLIGHT_SPEC_ENV = "KUBEDET_PREFLIGHT_SPEC"


class PreflightSpec(KubedetModel):
    """The dataset to check (passed to the preflight pod in an environment variable)."""

    kind: Literal["preflight"] = "preflight"
    dataset: RunDataset


class PreflightReport(KubedetModel):
    """The preflight's termination message when the dataset is sound."""

    kind: Literal["preflight-report"] = "preflight-report"
    images: int = Field(ge=0)
    annotations: int = Field(ge=0)
    splits: DatasetSplitsStatus
    classes: list[ClassStatistics] = Field(max_length=1000)
