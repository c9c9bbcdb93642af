"""Fixtures of the trainer's unit tests: a small valid dataset on a fake PVC mount."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubedet.api.runspec import RunSpec

CLASSES = ["circle", "square"]
IMAGE_SIZE = 48


@pytest.fixture
def pvc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "pvc"
    root.mkdir()
    monkeypatch.setenv("KUBEDET_PVC_ROOT", str(root))
    return root


def coco_split(first_id: int, count: int) -> dict[str, Any]:
    images, annotations = [], []
    for offset in range(count):
        image_id = first_id + offset
        images.append(
            {"id": image_id, "file_name": f"img_{image_id}.png", "width": IMAGE_SIZE, "height": IMAGE_SIZE}
        )
        for number, category in enumerate((7, 3)):
            annotations.append(
                {
                    "id": image_id * 10 + number,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [2 + 20 * number, 4, 16, 20],
                    "area": 320,
                    "iscrowd": 0,
                }
            )
    # Categories out of class order on purpose: the trainer maps them by name.
    categories = [{"id": 3, "name": "square"}, {"id": 7, "name": "circle"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_shapes_dataset(root: Path) -> Path:
    """root/: images/ and train.json (4 images), val.json (2 images), all valid; returns root."""
    image_module = pytest.importorskip("PIL.Image")  # the trainer extra; absent from the base venv
    (root / "images").mkdir(parents=True)
    for name, (first, count) in {"train": (1, 4), "val": (101, 2)}.items():
        data = coco_split(first, count)
        (root / f"{name}.json").write_text(json.dumps(data))
        for number, image in enumerate(data["images"]):
            image_module.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (40 + 30 * number, 80, 120)).save(
                root / "images" / image["file_name"]
            )
    return root


@pytest.fixture(scope="session")
def shapes_dataset_writer() -> Callable[[Path], Path]:
    """write_shapes_dataset, for test modules (they cannot import conftest) and wider-scoped fixtures."""
    return write_shapes_dataset


@pytest.fixture
def dataset_dir(pvc_root: Path) -> Path:
    """pvc://data/ds: images/ and train.json (4 images), val.json (2 images), all valid."""
    return write_shapes_dataset(pvc_root / "data" / "ds")


def spec_wire(**dataset_overrides: Any) -> dict[str, Any]:
    dataset = {
        "source": {"uri": "pvc://data/ds"},
        "annotations": {"splits": {"train": "train.json", "val": "val.json"}},
        "classes": CLASSES,
        **dataset_overrides,
    }
    return {
        "run": {"namespace": "team-a", "name": "run-1", "uid": "0000-1111"},
        "dataset": {"name": "shapes", "spec": dataset},
        "baseModel": {"name": "rtmdet-tiny", "config": "mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py"},
        "hyperparameters": {"epochs": 2, "batchSize": 2},
        "gpus": 0,
        "outputUri": "pvc://data/out",
    }


@pytest.fixture
def make_spec() -> Callable[..., RunSpec]:
    def make(**dataset_overrides: Any) -> RunSpec:
        return RunSpec.model_validate(spec_wire(**dataset_overrides))

    return make


@pytest.fixture
def run_spec_wire() -> dict[str, Any]:
    """A valid run spec as the operator writes it (camelCase), for tests to alter."""
    return spec_wire()
