"""kopf handlers: `kopf run -m kubedet.handlers` registers all of them."""

from kubedet.handlers import datasets, indexes, settings, trainedmodels, trainingruns

__all__ = ["datasets", "indexes", "settings", "trainedmodels", "trainingruns"]
