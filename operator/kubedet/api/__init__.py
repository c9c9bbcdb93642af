"""The kubedet.io/v1alpha1 API: Dataset, TrainingRun and TrainedModel.

The pydantic models in this package are the single source of truth: the CRDs in crds/ and
docs/api-reference.md are generated from them (python -m kubedet.manifests), and the operator and the
trainer read and write objects through them. Import the modules themselves (kubedet.api.trainingrun,
...); this file stays empty so importing one does not import them all.
"""
