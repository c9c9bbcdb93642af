"""Evaluating a really trained model on the CPU: the scores must be the ones its training reported."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from trainer_harness import BASE_CONFIG_URI, Trainer, TrainerRun, run_spec

from kubedet.api.evaluation import EvaluationResult, parse_evaluation_message
from kubedet.api.runspec import EXIT_STORAGE_UNAVAILABLE, EXIT_USER_ERROR, FailureReason, TrainerFailure
from kubedet_trainer.results import sha256_of

pytestmark = pytest.mark.trainer

FIRST_MODEL = {
    "name": "first",
    "config": "pvc://models/first/config.py",
    "checkpointUri": "pvc://models/first/checkpoint.pth",
}


@dataclass
class Evaluation:
    returncode: int
    stderr: str
    message: EvaluationResult | TrainerFailure

    @property
    def result(self) -> EvaluationResult:
        assert isinstance(self.message, EvaluationResult), f"{self.message}\n{self.stderr[-3000:]}"
        return self.message

    @property
    def failure(self) -> TrainerFailure:
        assert isinstance(self.message, TrainerFailure), self.message
        return self.message


def evaluation_spec(dataset: str, classes: list[str], model: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The first run's dataset as its run spec names it (80/20/0), so the val split is the one it
    validated on."""
    return {"dataset": run_spec("eval", dataset, classes, 1)["dataset"], "model": model, **fields}


def evaluate(trainer: Trainer, spec: dict[str, Any], workdir: Path) -> Evaluation:
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "kubedet_trainer", "evaluate", "--spec", str(trainer.write_spec(spec))]
    process = subprocess.run(
        [*command, "--workdir", str(workdir)],
        env=trainer.env(workdir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    message = parse_evaluation_message((workdir / "termination-log").read_text())
    # The message also ends the log (stdout, or stderr for a failure): the Job's log says what it answered.
    log = process.stdout if process.returncode == 0 else process.stderr
    assert parse_evaluation_message(log.strip().splitlines()[-1]) == message
    return Evaluation(process.returncode, process.stderr, message)


def test_evaluation_scores_the_best_checkpoint_as_its_training_did(
    first_run: TrainerRun, trainer: Trainer
) -> None:
    assert first_run.returncode == 0, first_run.stderr[-3000:]
    trained = first_run.result
    spec = evaluation_spec(
        "shapes",
        ["circle", "square"],
        {**FIRST_MODEL, "checkpointSha256": trained.digests["checkpoint"]},
        split="val",
        workers=0,
    )
    evaluation = evaluate(trainer, spec, trainer.root / "work-evaluate-first")
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    result = evaluation.result
    print(
        f"\nevaluation of the first run on val: bbox_mAP {result.bbox_map} (training reported "
        f"{trained.metrics['bbox_mAP']}), bbox_mAP_50 {result.bbox_map50} "
        f"({trained.metrics['bbox_mAP_50']}), recall {result.per_class_recall}"
    )
    assert result.bbox_map == pytest.approx(trained.metrics["bbox_mAP"], abs=1e-3)
    assert result.bbox_map50 == pytest.approx(trained.metrics["bbox_mAP_50"], abs=1e-3)
    # Equal zeros would prove nothing: the shared model detects (the training test asks 0.4 on val).
    assert result.bbox_map > 0.1
    per_class_trained = json.loads((trainer.pvc / "models" / "first" / "metrics.json").read_text())[
        "perClassAP"
    ]
    assert set(result.per_class_ap) == {"circle", "square"} == set(result.per_class_recall)
    for name, ap in result.per_class_ap.items():
        assert ap == pytest.approx(per_class_trained[name], abs=1e-3), name
    for name, recall in result.per_class_recall.items():
        assert recall is not None and 0.0 <= recall <= 1.0, name
        # COCO's AP integrates precision up to the recall reached, on 101 recall points: it cannot
        # exceed that recall by more than one point's share.
        assert recall + 1 / 101 + 1e-3 >= (result.per_class_ap[name] or 0.0), name

    (report,) = first_run.events("preflight")
    assert result.images == report["splits"]["val"]["images"] > 0
    assert result.split == "val" and result.omitted_classes == 0
    assert result.checkpoint_sha256 == trained.digests["checkpoint"]
    # The very file the training validated against: the same images and boxes were scored.
    assert result.dataset_digest == sha256_of(first_run.workdir / "data" / "annotations" / "val.json")


@pytest.mark.parametrize(
    ("fields", "model", "exit_code", "reason", "expected"),
    [
        (
            {},
            {},
            EXIT_USER_ERROR,
            FailureReason.CONFIG_INVALID,
            "split: Value error, dataset shapes gives the test split 0%",
        ),
        (
            {"split": "validation"},
            {},
            EXIT_USER_ERROR,
            FailureReason.CONFIG_INVALID,
            "split: Input should be 'train', 'val' or 'test'",
        ),
        (
            {"split": "val"},
            {"checkpointUri": "pvc://models/nowhere/checkpoint.pth"},
            EXIT_STORAGE_UNAVAILABLE,
            FailureReason.STORAGE_UNAVAILABLE,
            "cannot read the model's checkpoint: pvc://models/nowhere/checkpoint.pth does not exist",
        ),
    ],
    ids=["test-split-absent", "unknown-split-name", "checkpoint-missing"],
)
def test_a_bad_split_or_a_missing_checkpoint_fails_saying_so(
    trainer: Trainer,
    tmp_path: Path,
    fields: dict[str, Any],
    model: dict[str, Any],
    exit_code: int,
    reason: FailureReason,
    expected: str,
) -> None:
    base = {"name": "rtmdet-tiny-160", "config": BASE_CONFIG_URI, "checkpointUri": "pvc://models/x.pth"}
    spec = evaluation_spec("shapes", ["circle", "square"], {**base, **model}, workers=0, **fields)
    failure = evaluate(trainer, spec, tmp_path).failure
    assert (failure.exit_code, failure.reason) == (exit_code, reason)
    assert expected in failure.message, failure.message


def test_a_checkpoint_of_other_classes_or_another_digest_is_refused(
    first_run: TrainerRun, trainer: Trainer, tmp_path: Path
) -> None:
    assert first_run.returncode == 0
    three = ["circle", "square", "triangle"]
    failure = evaluate(
        trainer, evaluation_spec("three-shapes", three, FIRST_MODEL, split="val"), tmp_path
    ).failure
    assert failure.exit_code == EXIT_USER_ERROR
    assert "the checkpoint's classes ['circle', 'square'] differ from the dataset's" in failure.message

    wrong_digest = {**FIRST_MODEL, "checkpointSha256": "0" * 64}
    spec = evaluation_spec("shapes", ["circle", "square"], wrong_digest, split="val")
    failure = evaluate(trainer, spec, tmp_path / "digest").failure
    assert failure.exit_code == EXIT_USER_ERROR
    assert (
        f"has sha256 {first_run.result.digests['checkpoint']}, the spec expects {'0' * 64}" in failure.message
    )


def test_coco_recall_per_class_counts_the_boxes_found(tmp_path: Path) -> None:
    """pycocotools on a hand-made case: two circles and a square, one circle and the square found."""
    from kubedet_trainer.evaluate import coco_scores

    truth = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}, {"id": 3, "name": "star"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [0, 50, 40, 40], "area": 1600, "iscrowd": 0},
        ],
    }
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(truth))
    found = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [0, 50, 40, 40], "score": 0.8},
    ]
    scores = coco_scores(path, found)
    assert scores.per_class_recall == {"circle": 0.5, "square": 1.0, "star": None}
    assert scores.per_class_ap["square"] == pytest.approx(1.0) and scores.per_class_ap["star"] is None
    assert scores.per_class_ap["circle"] == pytest.approx(0.5, abs=0.01)
    assert scores.summary["bbox_mAP_l"] is None, "no box is large (over 96 x 96 pixels)"

    nothing = coco_scores(path, [])
    assert nothing.per_class_recall == {"circle": 0.0, "square": 0.0, "star": None}
    assert nothing.summary["bbox_mAP"] == 0.0 and nothing.per_class_ap["star"] is None
