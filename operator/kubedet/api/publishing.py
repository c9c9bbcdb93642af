"""Publish policies and their gates: a model is published only if it is good enough on a golden dataset,
and no worse than the model it replaces in its line.

A *model line* names a purpose (e.g. `waste-detector`): the models trained for it replace one another,
and at most one of them is published at a time. The line's published model (its champion) is recorded
in one object, the ModelLine of that name, so that switching it is one write: whoever reads the line
sees the old champion or the new one, never none and never two.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from kubedet.api.common import DNSLabel, KubedetModel, LocalObjectReference, Score, Timestamp
from kubedet.api.dataset import ClassName
from kubedet.api.evaluation import EvaluationSplit
from kubedet.api.modelevaluation import EvaluationTemplate

MAX_GATED_CLASSES = 200
MAX_CHECKS = 2 * MAX_GATED_CLASSES + 2

Tolerance = Annotated[float, Field(ge=0, le=0.2)]


class PublishPolicy(KubedetModel):
    """The gate a model must pass to be published: its figures on a golden dataset, and no regression
    against the model currently published in its line."""

    model_line: DNSLabel
    """The line of models this one belongs to (its purpose, e.g. waste-detector). A model published in
    a line replaces the line's published model; models of other lines are never touched."""
    golden_dataset_ref: LocalObjectReference
    """The Dataset both the model and the line's published model are scored on (a held-out set that
    never trains a model: it need not be published)."""
    split: EvaluationSplit = "test"
    """The split of the golden dataset to score on."""
    min_bbox_map: Score | None = Field(default=None, alias="minBBoxMAP")
    """The lowest COCO bbox mAP (0-1) the model may have on the golden split. Unset: no minimum."""
    min_class_ap: dict[ClassName, Score] | None = Field(
        default=None, alias="minClassAP", max_length=MAX_GATED_CLASSES
    )
    """The lowest AP (0-1) per class name, for the classes that matter most (e.g. hazardous: 0.5). A
    class named here that the golden split has no boxes of fails the gate."""
    must_not_regress: bool = True
    """The model's bbox mAP, and its AP on every class of regressionClasses, must not be below the line's
    published model's (less tolerance). Ignored while the line has no published model."""
    regression_classes: list[ClassName] | None = Field(default=None, max_length=MAX_GATED_CLASSES)
    """The classes whose AP must not regress. Unset: every class the golden split has boxes of."""
    tolerance: Tolerance = 0.0
    """How far (0-0.2) a figure may drop below the published model's and still count as no regression."""
    evaluation: EvaluationTemplate | None = None
    """Size and placement of the evaluation pods the gate creates. Unset: one GPU, 2 CPUs, 8Gi."""

    @model_validator(mode="after")
    def _regression_classes_need_regression(self) -> PublishPolicy:
        if self.regression_classes and not self.must_not_regress:
            raise ValueError(
                "spec.publishPolicy.regressionClasses is set but mustNotRegress is false: set "
                "mustNotRegress: true, or remove regressionClasses"
            )
        return self


GateName = Literal["minBBoxMAP", "minClassAP", "mustNotRegress"]


class GateCheck(KubedetModel):
    """One comparison the gate made."""

    gate: GateName
    """The policy field that asked for it."""
    subject: str = Field(max_length=80)
    """What was compared: `bbox mAP` or `class <name>`."""
    passed: bool
    """Whether the model's figure reached the threshold."""
    value: Score | None = None
    """The model's figure (unset: the golden split has no boxes of the class)."""
    threshold: float | None = None
    """The figure it had to reach: the policy's minimum, or the published model's figure less the
    tolerance."""
    champion_value: Score | None = None
    """The published model's figure (mustNotRegress only)."""


class PublishGateStatus(KubedetModel):
    """The gate's verdict on the model, with the numbers it was made from."""

    passed: bool | None = None
    """Unset while the evaluations run; then whether every check passed."""
    model_line: DNSLabel | None = None
    """The line the gate was judged for (spec.publishPolicy.modelLine)."""
    champion_ref: LocalObjectReference | None = None
    """The line's published model the model was compared with (unset: the line had none)."""
    evaluation_ref: LocalObjectReference | None = None
    """The ModelEvaluation of this model on the golden split."""
    champion_evaluation_ref: LocalObjectReference | None = None
    """The ModelEvaluation of the published model on the golden split."""
    checks: list[GateCheck] = Field(default_factory=list, max_length=MAX_CHECKS)
    """Every comparison, failed ones first."""
    evaluated_at: Timestamp | None = None
    """When the verdict was reached."""


class LineChange(KubedetModel):
    """One change of a line's published model."""

    model_ref: LocalObjectReference
    """The model published."""
    replaced_ref: LocalObjectReference | None = None
    """The model it replaced (unset: the line's first)."""
    at: Timestamp
    """When the line switched."""
    overridden: bool = False
    """Published by someone who may override the gate, though the gate had not passed."""
