"""The trainer's answers to the operator: a preflight report it can parse, and a safe cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubedet.api.dataset import DatasetSpec
from kubedet.api.preflight import PREFLIGHT_SPEC_ENV, PreflightReport, PreflightSpec
from kubedet.api.runspec import EXIT_USER_ERROR, RunDataset, TrainerFailure

pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[3]


def trainer(
    args: list[str], tmp_path: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], str]:
    termination = tmp_path / "termination-log"
    full_env = {
        **os.environ,
        "KUBEDET_PVC_ROOT": str(tmp_path / "pvc"),
        "KUBEDET_TERMINATION_LOG": str(termination),
        "PYTHONPATH": f"{ROOT / 'operator'}:{ROOT / 'trainer_image'}",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "kubedet_trainer", *args],
        env=full_env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    return result, termination.read_text() if termination.exists() else ""


def shapes_dataset(tmp_path: Path) -> RunDataset:
    from kubedet_trainer.synthetic import make_shapes_dataset

    make_shapes_dataset(tmp_path / "pvc" / "data" / "shapes", images=20, size=64, seed=3)
    spec = DatasetSpec.model_validate(
        {
            "source": {"uri": "pvc://data/shapes"},
            "annotations": {"file": "annotations.json"},
            "classes": ["circle", "square"],
            "images": "images",
        }
    )
    return RunDataset(name="shapes", spec=spec)


def test_preflight_from_the_operators_environment_reports_counts(tmp_path: Path) -> None:
    dataset = shapes_dataset(tmp_path)
    spec = PreflightSpec(dataset=dataset).model_dump_json(by_alias=True)
    result, message = trainer(
        ["preflight", "--spec-env", PREFLIGHT_SPEC_ENV], tmp_path, {PREFLIGHT_SPEC_ENV: spec}
    )
    assert result.returncode == 0, result.stderr
    report = PreflightReport.model_validate_json(message)
    assert report.images == 20 and report.splits.train.images + report.splits.val.images <= 20
    assert [c.name for c in report.classes] == ["circle", "square"]
    assert report.annotations == sum(c.annotations for c in report.classes)


def test_preflight_of_a_broken_dataset_fails_as_user_error(tmp_path: Path) -> None:
    dataset = shapes_dataset(tmp_path)
    (tmp_path / "pvc" / "data" / "shapes" / "annotations.json").write_text('{"images": [')
    spec = PreflightSpec(dataset=dataset).model_dump_json(by_alias=True)
    result, message = trainer(
        ["preflight", "--spec-env", PREFLIGHT_SPEC_ENV], tmp_path, {PREFLIGHT_SPEC_ENV: spec}
    )
    assert result.returncode == EXIT_USER_ERROR
    failure = TrainerFailure.model_validate_json(message)
    assert failure.reason.value == "DatasetInvalid" and "annotations.json" in failure.message


def test_cleanup_removes_a_run_folder_but_never_a_store_root(tmp_path: Path) -> None:
    run_dir = tmp_path / "pvc" / "store" / "team-a" / "run-1-abcd"
    (run_dir / "sub").mkdir(parents=True)
    (run_dir / "sub" / "best.pth").write_bytes(b"x")
    result, _ = trainer(["cleanup", "--uri", "pvc://store/team-a/run-1-abcd"], tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert not run_dir.exists() and (tmp_path / "pvc" / "store" / "team-a").exists()
    refused, message = trainer(["cleanup", "--uri", "pvc://store/team-a"], tmp_path, {})
    assert refused.returncode == EXIT_USER_ERROR and "refusing" in json.loads(message)["message"]
