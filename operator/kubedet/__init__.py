"""kubedet: a Kubernetes operator that trains MMDetection object-detection models."""

__version__ = "0.1.0"
GROUP = "kubedet.io"
VERSION = "v1alpha1"
