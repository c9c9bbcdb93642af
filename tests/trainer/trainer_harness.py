"""Running the trainer program as the Job's pod does: a subprocess against a fake PVC root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubedet.api.runspec import TrainerFailure, TrainerResult, parse_termination_message

# 80 images split 80/20: 64 to train on, 16 to validate; 160 px, like the reference run in the docs.
IMAGE_SIZE = 160
FIRST_RUN_EPOCHS = 40
BASE_CONFIG_URI = "pvc://models/rtmdet-tiny-160/config.py"


@dataclass
class TrainerRun:
    returncode: int
    stdout: str
    stderr: str
    message: TrainerResult | TrainerFailure
    workdir: Path

    def events(self, kind: str) -> list[dict[str, Any]]:
        found = []
        for line in self.stdout.splitlines():
            if line.startswith('{"kind":'):
                event = json.loads(line)
                if event["kind"] == kind:
                    found.append(event)
        return found

    @property
    def result(self) -> TrainerResult:
        assert isinstance(self.message, TrainerResult), f"{self.message}\n{self.stderr[-3000:]}"
        return self.message


class Trainer:
    """Runs the trainer program against a fake PVC root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pvc = root / "pvc"
        self.runs = 0

    def env(self, workdir: Path) -> dict[str, str]:
        return {
            **os.environ,
            "KUBEDET_PVC_ROOT": str(self.pvc),
            "KUBEDET_TERMINATION_LOG": str(workdir / "termination-log"),
            "KUBEDET_PROGRESS_FILE": str(workdir / "progress.json"),
            "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
            "OMP_NUM_THREADS": str(os.cpu_count() or 1),
        }

    def write_spec(self, spec: dict[str, Any]) -> Path:
        self.runs += 1
        path = self.root / f"spec-{self.runs}.json"
        path.write_text(json.dumps(spec))
        return path

    def start(
        self, spec: dict[str, Any], workdir: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "kubedet_trainer", "train", "--spec", str(self.write_spec(spec))]
        return subprocess.Popen(
            [*command, "--workdir", str(workdir)],
            env={**self.env(workdir), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, spec: dict[str, Any], workdir: Path, timeout: float = 600, env: dict[str, str] | None = None
    ) -> TrainerRun:
        process = self.start(spec, workdir, env)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # never leave a training behind a failed test
            process.communicate()
            raise
        message = parse_termination_message((workdir / "termination-log").read_text())
        return TrainerRun(process.returncode, stdout, stderr, message, workdir)


def run_spec(
    name: str,
    dataset: str,
    classes: list[str],
    epochs: int,
    base: dict[str, Any] | None = None,
    **hyperparameters: Any,
) -> dict[str, Any]:
    return {
        "run": {"namespace": "tests", "name": name, "uid": f"uid-{name}"},
        "dataset": {
            "name": dataset,
            "spec": {
                "source": {"uri": f"pvc://data/{dataset}"},
                "annotations": {"file": "annotations.json", "split": {"train": 80, "val": 20, "test": 0}},
                "classes": classes,
            },
        },
        "baseModel": base or {"name": "rtmdet-tiny-160", "config": BASE_CONFIG_URI},
        "hyperparameters": {"epochs": epochs, "batchSize": 8, "valInterval": 5, "seed": 7, **hyperparameters},
        "gpus": 0,
        "workers": 0,
        "outputUri": f"pvc://models/{name}",
    }
