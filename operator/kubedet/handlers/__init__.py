"""kopf handlers: `kopf run -m kubedet.handlers` registers all of them."""

from kubedet.handlers import datasets, identity, indexes, settings, trainedmodels, trainingruns

__all__ = ["datasets", "identity", "indexes", "settings", "trainedmodels", "trainingruns"]
