"""Evidence that a run started from its base checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmengine.hooks import Hook

from kubedet.api.runspec import Lineage
from kubedet_trainer.results import sha256_of


def measure_lineage(model: Any, checkpoint_path: Path) -> Lineage:
    """How many of the base checkpoint's tensors the freshly loaded model holds unchanged."""
    import torch

    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    base_state = checkpoint.get("state_dict", checkpoint)
    model_state = getattr(model, "module", model).state_dict()
    loaded = 0
    for key, tensor in base_state.items():
        current = model_state.get(key.removeprefix("module."))
        if current is not None and current.shape == tensor.shape and torch.equal(current.cpu(), tensor):
            loaded += 1
    return Lineage(
        base_checkpoint_sha256=sha256_of(checkpoint_path),
        loaded_tensors=loaded,
        total_tensors=len(base_state),
    )


class LineageHook(Hook):
    """Measures what was loaded once mmengine has loaded load_from and before the first step."""

    priority = "HIGHEST"

    def __init__(self, checkpoint: Path, state: Any) -> None:
        self.checkpoint = checkpoint
        self.state = state

    def before_train(self, runner: Any) -> None:
        self.state.lineage = measure_lineage(runner.model, self.checkpoint).to_wire()
        print(json.dumps({"kind": "lineage", **self.state.lineage}), flush=True)
