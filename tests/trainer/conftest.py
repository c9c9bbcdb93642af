"""Fixtures of the real-training tests: a fake PVC, synthetic datasets and one shared trained model."""

from __future__ import annotations

import pytest
from trainer_harness import FIRST_RUN_EPOCHS, IMAGE_SIZE, Trainer, TrainerRun, run_spec


@pytest.fixture(scope="session")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    pytest.importorskip("mmdet")
    from kubedet_trainer.synthetic import make_shapes_dataset, write_small_rtmdet_config

    trainer = Trainer(tmp_path_factory.mktemp("trainer"))
    make_shapes_dataset(trainer.pvc / "data" / "shapes", images=80, size=IMAGE_SIZE, seed=1)
    make_shapes_dataset(
        trainer.pvc / "data" / "three-shapes",
        images=40,
        size=IMAGE_SIZE,
        classes=("circle", "square", "triangle"),
        seed=2,
    )
    write_small_rtmdet_config(trainer.pvc / "models" / "rtmdet-tiny-160" / "config.py", IMAGE_SIZE)
    return trainer


@pytest.fixture(scope="session")
def first_run(trainer: Trainer) -> TrainerRun:
    """RTMDet-tiny trained from scratch on the two-shape dataset; shared by the tests."""
    spec = run_spec("first", "shapes", ["circle", "square"], FIRST_RUN_EPOCHS)
    return trainer.run(spec, trainer.root / "work-first")
