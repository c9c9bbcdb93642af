"""The trainer's input: the run spec, resolved from the run, its dataset and its base model."""

from __future__ import annotations

import json

from kubedet.api.dataset import Dataset
from kubedet.api.runspec import BaseModelSpec, RunDataset, RunReference, RunSpec
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun
from kubedet.config import OperatorConfig

RUNSPEC_KEY = "runspec.json"


def output_uri(run: TrainingRun, config: OperatorConfig) -> str:
    """Where the run writes its artifacts: a folder of its own, so runs never overwrite each other."""
    root = (run.spec.output.uri if run.spec.output else config.artifact_store_uri).rstrip("/")
    return f"{root}/{run.namespace}/{run.name}-{str(run.metadata['uid'])[:8]}"


def build_run_spec(
    run: TrainingRun, dataset: Dataset, base_model: TrainedModel, config: OperatorConfig
) -> RunSpec:
    spec = run.spec
    return RunSpec(
        run=RunReference(namespace=run.namespace, name=run.name, uid=str(run.metadata["uid"])),
        dataset=RunDataset(name=dataset.name, spec=dataset.spec),
        base_model=BaseModelSpec(
            name=base_model.name,
            config=base_model.spec.config,
            checkpoint_uri=base_model.spec.checkpoint.uri,
            classes=base_model.spec.classes,
            checkpoint_secret_ref=base_model.spec.checkpoint.secret_ref,
        ),
        hyperparameters=spec.hyperparameters,
        gpus=spec.resources.gpus_per_node,
        nodes=spec.resources.nodes,
        cfg_options=dict(spec.cfg_options or {}),
        output_uri=output_uri(run, config),
    )


def run_spec_annotation(run_spec: RunSpec) -> str:
    """The run spec as the Job's pod template carries it (see builders/job.py): compact JSON."""
    return json.dumps(run_spec.to_wire(), separators=(",", ":"), sort_keys=True)
