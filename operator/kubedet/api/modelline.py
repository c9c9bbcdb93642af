"""The ModelLine kind: a line of models that replace one another, and which of them is published.

The operator creates a line the first time a model names it (spec.publishPolicy.modelLine) and records
the line's published model in its status; users read it (`kubectl get modellines`), and may create a
line themselves to describe it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kubedet.api.common import (
    CONDITIONS_LIST_SCHEMA,
    MAX_CONDITIONS,
    Condition,
    KubedetModel,
    LocalObjectReference,
    Timestamp,
)
from kubedet.api.publishing import LineChange
from kubedet.api.resource import AGE_COLUMN, CRDNames, KubedetObject, PrinterColumn

MAX_HISTORY = 50


class ModelLineSpec(KubedetModel):
    """What the line is for."""

    description: str | None = Field(default=None, max_length=4096)
    """Free text: what the line's models detect, where they serve."""


class ModelLineStatus(KubedetModel):
    """The line's published model and how it came to be."""

    published_model_ref: LocalObjectReference | None = None
    """The line's published model (its champion): the one the line offers for inference. Switched in one
    write when a model replaces it."""
    published_at: Timestamp | None = None
    """When it was published."""
    history: list[LineChange] = Field(default_factory=list, max_length=MAX_HISTORY)
    """The line's changes of published model, newest first (the last 50)."""
    conditions: list[Condition] = Field(
        default_factory=list, max_length=MAX_CONDITIONS, json_schema_extra=CONDITIONS_LIST_SCHEMA
    )
    """Reserved for the line's conditions; the Events on the line tell each switch."""


class ModelLine(KubedetObject):
    """A line of TrainedModels that replace one another (one purpose), and which one is published."""

    NAMES: ClassVar[CRDNames] = CRDNames("ModelLine", "modellines", "modelline", ("mline",))
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn("Published Model", ".status.publishedModelRef.name", "string", "The line's champion."),
        PrinterColumn("Published At", ".status.publishedAt", "date", "When it was published."),
        AGE_COLUMN,
    )

    kind: Literal["ModelLine"] = "ModelLine"
    """Kind is the type of this object: ModelLine."""
    spec: ModelLineSpec = Field(default_factory=ModelLineSpec)
    """What the line is for."""
    status: ModelLineStatus | None = None
    """Written by the operator only."""
