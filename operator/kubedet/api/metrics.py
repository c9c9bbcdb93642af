"""COCO bounding-box figures, as a model's validation metrics and as an evaluation's result."""

from __future__ import annotations

from pydantic import Field

from kubedet.api.common import KubedetModel, Score
from kubedet.api.dataset import ClassName


class BoxMetrics(KubedetModel):
    """COCO bounding-box metrics (0-1), as mmdet's CocoMetric reports them. A value is unset when the split
    has no objects of that size."""

    bbox_map: Score | None = Field(default=None, alias="bboxMAP")
    """mAP over IoU 0.50:0.95 (coco/bbox_mAP); a run keeps the epoch that is best by it."""
    bbox_map50: Score | None = Field(default=None, alias="bboxMAP50")
    """mAP at IoU 0.50."""
    bbox_map75: Score | None = Field(default=None, alias="bboxMAP75")
    """mAP at IoU 0.75."""
    bbox_map_small: Score | None = Field(default=None, alias="bboxMAPSmall")
    """mAP of small objects (area < 32^2 pixels)."""
    bbox_map_medium: Score | None = Field(default=None, alias="bboxMAPMedium")
    """mAP of medium objects (32^2 to 96^2 pixels)."""
    bbox_map_large: Score | None = Field(default=None, alias="bboxMAPLarge")
    """mAP of large objects (area > 96^2 pixels)."""
    per_class_ap: dict[ClassName, Score] | None = Field(default=None, alias="perClassAP", max_length=1000)
    """Average precision (IoU 0.50:0.95) per class name, for the classes the split has boxes of."""
