"""Command line of the trainer image.

    python -m kubedet_trainer train --spec SPEC --workdir DIR      train (the training Job; with
        NNODES x NPROC_PER_NODE > 1 it starts its ranks under torch.distributed.run: launch.py)
    python -m kubedet_trainer preflight --spec SPEC | --spec-env VAR  check a dataset (a Dataset's Job)
    python -m kubedet_trainer evaluate --spec SPEC | --spec-env VAR [--workdir DIR]
        score a trained model on one split of a dataset (kubedet.api.evaluation; evaluate.py)
    python -m kubedet_trainer cleanup --uri URI                     remove a deleted run's artifacts

Exit codes and termination messages follow kubedet.api.runspec: 0 with a TrainerResult (a PreflightReport
for preflight, an EvaluationResult for evaluate), otherwise the failure's exit code (EXIT_USER_ERROR for a
bad dataset or config) with a TrainerFailure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import kubedet_trainer  # noqa: F401  (sets the torch.load environment before anything imports torch)
from kubedet_trainer.errors import ConfigInvalid, failure_from_exception
from kubedet_trainer.launch import RANK_VARIABLE, launcher_arguments
from kubedet_trainer.results import write_termination_message
from kubedet_trainer.spec import load_preflight_spec, load_spec
from kubedet_trainer.storage import Storage


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kubedet-trainer", description="Train an MMDetection model for kubedet."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="check the dataset, train, publish the artifacts")
    train.add_argument("--spec", type=Path, required=True, help="run spec (JSON or YAML)")
    train.add_argument("--workdir", type=Path, required=True, help="scratch space for data and checkpoints")
    preflight = commands.add_parser("preflight", help="check the dataset only and report its counts")
    source = preflight.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", type=Path, help="a run spec (JSON or YAML); its dataset is checked")
    source.add_argument(
        "--spec-env", help="environment variable holding a preflight spec (the operator's way)"
    )
    preflight.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    evaluate = commands.add_parser("evaluate", help="score a trained model on one split of a dataset")
    spec_source = evaluate.add_mutually_exclusive_group(required=True)
    spec_source.add_argument("--spec", type=Path, help="an evaluation spec (JSON or YAML)")
    spec_source.add_argument(
        "--spec-env", help="environment variable holding an evaluation spec (the operator's way)"
    )
    evaluate.add_argument(
        "--workdir", type=Path, default=None, help="data, checkpoint and logs; default: a temporary folder"
    )
    cleanup = commands.add_parser("cleanup", help="remove the artifacts of a deleted run")
    cleanup.add_argument("--uri", required=True, help="the run's output folder")
    return parser.parse_args(argv)


def preflight_dataset(arguments: argparse.Namespace, storage: Storage) -> None:
    from kubedet_trainer.datasets import prepare_dataset

    if arguments.spec_env:
        dataset = load_preflight_spec(arguments.spec_env).dataset
    else:
        dataset = load_spec(arguments.spec).dataset
    with tempfile.TemporaryDirectory(prefix="kubedet-preflight-") as scratch:
        prepared = prepare_dataset(dataset, storage, (arguments.workdir or Path(scratch)) / "data")
    message = prepared.preflight_report().to_wire()
    text = json.dumps(message, separators=(",", ":"))
    print(text, flush=True)
    write_termination_message(text)


def evaluate_model(arguments: argparse.Namespace, storage: Storage) -> None:
    from kubedet_trainer.evaluate import evaluate, load_evaluation_spec

    spec = load_evaluation_spec(arguments.spec, arguments.spec_env)
    with tempfile.TemporaryDirectory(prefix="kubedet-evaluate-") as scratch:
        workdir = (arguments.workdir or Path(scratch)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        result = evaluate(spec, workdir, storage)
    message = result.serialize()
    print(message, flush=True)
    write_termination_message(message)


def run(arguments: argparse.Namespace) -> None:
    storage = Storage()
    if arguments.command == "preflight":
        preflight_dataset(arguments, storage)
        return
    if arguments.command == "evaluate":
        evaluate_model(arguments, storage)
        return
    if arguments.command == "cleanup":
        # A run's folder is <store>/<namespace>/<run>-<uid>: never remove a claim, bucket or store root.
        if len([part for part in arguments.uri.split("://", 1)[-1].split("/") if part]) < 3:
            raise ConfigInvalid(f"cleanup --uri {arguments.uri} is not a run's output folder; refusing")
        storage.remove(arguments.uri)
        print(json.dumps({"kind": "cleanup", "removed": arguments.uri}), flush=True)
        return
    spec = load_spec(arguments.spec)
    from kubedet_trainer.progress import default_reporters
    from kubedet_trainer.train import run_training

    workdir = arguments.workdir.resolve()
    if int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
        # Ranks of one pod share its disk: each prepares its data and keeps its checkpoints apart.
        workdir = workdir / f"rank-{os.environ[RANK_VARIABLE]}"
    # mmengine writes scratch files into the current directory (ranks gather evaluation results in
    # ./.dist_test), and the pod's root filesystem, the image's working directory, is read-only.
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    result = run_training(spec, workdir, storage, default_reporters())
    if result is not None:
        message = result.serialize()
        print(message, flush=True)
        write_termination_message(message)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    arguments = parse_arguments(argv)
    try:
        if arguments.command == "train":
            ranks = launcher_arguments(os.environ, argv)
            if ranks is not None:
                from kubedet_trainer.launch import launch

                return launch(ranks)
        run(arguments)
    except Exception as error:
        failure = failure_from_exception(error)
        message = failure.serialize()
        print(message, file=sys.stderr, flush=True)
        write_termination_message(message)
        return failure.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
