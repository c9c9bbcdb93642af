"""The trainer's input: the run spec, resolved from the run, its dataset and its base model."""

from __future__ import annotations

import json
from typing import Any

from kubedet.api.dataset import Dataset
from kubedet.api.runspec import BaseModelSpec, RunDataset, RunReference, RunSpec
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.meta import object_meta, run_labels
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
        ),
        hyperparameters=spec.hyperparameters,
        gpus=spec.resources.gpus_per_node,
        nodes=spec.resources.nodes,
        cfg_options=dict(spec.cfg_options or {}),
        output_uri=output_uri(run, config),
    )


def build_runspec_configmap(run: TrainingRun, run_spec: RunSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            naming.runspec_configmap_name(run.name), run.namespace, run_labels(run, "runspec"), run
        ),
        "data": {RUNSPEC_KEY: json.dumps(run_spec.to_wire(), indent=2, sort_keys=True)},
        # The trainer's input must not change under a running Job.
        "immutable": True,
    }
