"""Every kind of the kubedet.io/v1alpha1 API, for code that handles them generically (crdgen, tests)."""

from __future__ import annotations

from kubedet.api.dataset import Dataset
from kubedet.api.modelevaluation import ModelEvaluation
from kubedet.api.modelline import ModelLine
from kubedet.api.resource import KubedetObject
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun

KINDS: tuple[type[KubedetObject], ...] = (
    Dataset,
    TrainedModel,
    TrainingRun,
    ModelEvaluation,
    ModelLine,
)
"""Every kind of the API, in the order the docs describe them."""


def model_for_kind(kind: str) -> type[KubedetObject]:
    """The model of a kubedet.io kind, e.g. for an object read from a manifest."""
    for model in KINDS:
        if model.NAMES.kind == kind:
            return model
    raise KeyError(f"{kind!r} is not a kubedet.io kind")
