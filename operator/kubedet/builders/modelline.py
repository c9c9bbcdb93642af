"""A model line's published model: who it is after a publish, and what the other models must become.

The line's status.publishedModelRef is the truth, switched in one write; the models' spec.published
follows it (the replaced model is unpublished right after), and both models record the replacement
(status.replaces and status.replacedBy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubedet.api.common import LocalObjectReference
from kubedet.api.constants import API_VERSION, MANAGED_BY, Label
from kubedet.api.modelline import MAX_HISTORY, ModelLine, ModelLineStatus
from kubedet.api.publishing import LineChange
from kubedet.api.trainedmodel import TrainedModel


def line_of(model: TrainedModel) -> str | None:
    policy = model.spec.publish_policy
    return policy.model_line if policy else None


def build_model_line(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelLine",
        "metadata": {"name": name, "namespace": namespace, "labels": {Label.MANAGED_BY: MANAGED_BY}},
        "spec": {},
    }


@dataclass
class LineDecision:
    status: ModelLineStatus | None = None
    """The line's new status (a new published model, or none any more); None: unchanged."""
    unpublish: list[str] = field(default_factory=list)
    """Models whose spec.published must go back to false: the line has another published model."""
    replaced: tuple[str, str] | None = None
    """(new, old): the new published model replaced the old one (lineage both ways)."""


def _gate_passed(model: TrainedModel) -> bool:
    gate = model.status.publish_gate if model.status else None
    return bool(gate and gate.passed)


def _newest_first(models: list[TrainedModel]) -> list[TrainedModel]:
    return sorted(
        models, key=lambda m: (str(m.metadata.get("creationTimestamp") or ""), m.name), reverse=True
    )


def decide_line(line: ModelLine, models: list[TrainedModel], now: datetime) -> LineDecision:
    """`models` are the line's models as the cluster shows them."""
    status = line.status or ModelLineStatus()
    pointer = status.published_model_ref.name if status.published_model_ref else None
    published = [m for m in models if m.spec.published]
    current = next((m for m in published if m.name == pointer), None)
    newcomers = _newest_first([m for m in published if m.name != pointer])
    if newcomers:
        # A model published since (by the gate for its run, or by hand): it replaces the line's.
        winner = newcomers[0]
        old = pointer if pointer and any(m.name == pointer for m in models) else None
        change = LineChange(
            model_ref=LocalObjectReference(name=winner.name),
            replaced_ref=LocalObjectReference(name=old) if old else None,
            at=now,
            overridden=not _gate_passed(winner),
        )
        new_status = status.model_copy(
            update={
                "published_model_ref": LocalObjectReference(name=winner.name),
                "published_at": now,
                "history": [change, *status.history][:MAX_HISTORY],
            }
        )
        return LineDecision(
            status=new_status,
            unpublish=[m.name for m in published if m.name != winner.name],
            replaced=(winner.name, old) if old else None,
        )
    if pointer and current is None:
        # Its published model was unpublished (or deleted) by hand: the line has none now.
        return LineDecision(
            status=status.model_copy(update={"published_model_ref": None, "published_at": None})
        )
    return LineDecision()
