"""Splitting one COCO file: ratios, seed, stratification."""

from __future__ import annotations

from typing import Any

from kubedet.api.dataset import SplitRatios
from kubedet_trainer.splitting import split_coco, split_sizes


def coco_with(classes_per_image: list[list[int]]) -> dict[str, Any]:
    images = [{"id": i + 1, "file_name": f"{i + 1}.png"} for i in range(len(classes_per_image))]
    annotations = [
        {"id": 1000 * (i + 1) + n, "image_id": i + 1, "category_id": c, "bbox": [0, 0, 5, 5]}
        for i, classes in enumerate(classes_per_image)
        for n, c in enumerate(classes)
    ]
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": str(c)} for c in (1, 2, 3)],
    }


def test_sizes_follow_the_ratios() -> None:
    assert split_sizes(100, SplitRatios()) == {"train": 70, "val": 20, "test": 10}
    assert split_sizes(3, SplitRatios()) == {"train": 1, "val": 1, "test": 1}
    assert split_sizes(2, SplitRatios()) == {"train": 1, "val": 1, "test": 0}
    assert split_sizes(1, SplitRatios()) == {"train": 1, "val": 0, "test": 0}


def test_every_image_lands_in_exactly_one_split() -> None:
    data = coco_with([[1]] * 60 + [[2]] * 30 + [[1, 2]] * 10)
    parts = split_coco(data, SplitRatios())
    ids = [image["id"] for part in parts.values() for image in part["images"]]
    assert sorted(ids) == list(range(1, 101))
    assert {name: len(part["images"]) for name, part in parts.items()} == {"train": 70, "val": 20, "test": 10}
    for part in parts.values():
        members = {image["id"] for image in part["images"]}
        assert all(a["image_id"] in members for a in part["annotations"])
        assert part["categories"] == data["categories"]


def test_same_seed_same_split_other_seed_other_split() -> None:
    data = coco_with([[1]] * 50 + [[2]] * 50)
    first = split_coco(data, SplitRatios(seed=1))
    assert first == split_coco(data, SplitRatios(seed=1))
    assert first != split_coco(data, SplitRatios(seed=2))


def test_rare_classes_reach_train_and_val() -> None:
    data = coco_with([[1]] * 97 + [[3]] * 3)
    for seed in range(20):
        parts = split_coco(data, SplitRatios(seed=seed))
        for split in ("train", "val", "test"):
            assert any(a["category_id"] == 3 for a in parts[split]["annotations"]), (seed, split)


def test_tiny_dataset_has_no_test_split() -> None:
    assert set(split_coco(coco_with([[1], [2]]), SplitRatios())) == {"train", "val"}
