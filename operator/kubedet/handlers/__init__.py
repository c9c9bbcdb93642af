"""kopf handlers: `kopf run -m kubedet.handlers` registers all of them."""

from kubedet.handlers import (
    datasets,
    identity,
    indexes,
    modelevaluations,
    publishgates,
    settings,
    trainedmodels,
    trainingruns,
)

__all__ = [
    "datasets",
    "identity",
    "indexes",
    "modelevaluations",
    "publishgates",
    "settings",
    "trainedmodels",
    "trainingruns",
]
