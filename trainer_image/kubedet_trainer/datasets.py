"""Turning a Dataset spec into checked, normalized local COCO files that mmdet can train on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubedet.api.dataset import ClassStatistics, DatasetSplitsStatus, SplitStatistics
from kubedet.api.preflight import PreflightReport
from kubedet.api.runspec import RunDataset
from kubedet_trainer.coco import Coco, load_coco, write_coco
from kubedet_trainer.preflight import SplitCounts, SplitInput, preflight
from kubedet_trainer.splitting import split_coco
from kubedet_trainer.storage import Storage, contained_path, join_uri


@dataclass
class PreparedDataset:
    images_dir: Path
    annotation_files: dict[str, Path]
    """Normalized COCO file per split (train, val and maybe test)."""
    classes: list[str]
    counts: dict[str, SplitCounts]

    def report(self) -> dict[str, Any]:
        return {
            "kind": "preflight",
            "classes": self.classes,
            "splits": {k: v.to_wire() for k, v in self.counts.items()},
        }

    def preflight_report(self) -> PreflightReport:
        """The counts the operator copies into Dataset.status (the preflight Job's termination message)."""
        splits = {
            name: SplitStatistics(images=c.images, annotations=c.annotations)
            for name, c in self.counts.items()
        }
        per_class = {
            name: sum(c.per_class.get(name, 0) for c in self.counts.values()) for name in self.classes
        }
        return PreflightReport(
            images=sum(c.images for c in self.counts.values()),
            annotations=sum(c.annotations for c in self.counts.values()),
            splits=DatasetSplitsStatus(**splits),
            classes=[ClassStatistics(name=name, annotations=count) for name, count in per_class.items()],
        )


def read_splits(dataset: RunDataset, storage: Storage, data_dir: Path) -> list[SplitInput]:
    spec = dataset.spec
    source = spec.source.uri
    cache = data_dir / "fetched"
    if spec.annotations.file is not None:
        relative = spec.annotations.file
        whole = load_coco(storage.fetch(join_uri(source, relative), cache), relative)
        parts = split_coco(whole, spec.annotations.split)
        return [SplitInput(name, f"{relative} ({name} split)", data) for name, data in parts.items()]
    assert spec.annotations.splits is not None  # the model allows exactly one of file and splits
    chosen = spec.annotations.splits
    files = {"train": chosen.train, "val": chosen.val, "test": chosen.test}
    return [
        SplitInput(name, relative, load_coco(storage.fetch(join_uri(source, relative), cache), relative))
        for name, relative in files.items()
        if relative is not None
    ]


def fetch_images(splits: list[SplitInput], images_uri: str, storage: Storage, target_dir: Path) -> None:
    """Copy the referenced images of a remote dataset (an https:// folder cannot be listed)."""
    names = {image["file_name"] for split in splits for image in split.data["images"]}

    def fetch_one(name: str) -> None:
        target = contained_path(target_dir, name, what="file_name")
        if not target.exists():
            storage.download(join_uri(images_uri, name), target)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(fetch_one, sorted(names)))


def normalized(data: Coco, classes: list[str]) -> Coco:
    """Categories renumbered 1..N in the declared class order.

    mmdet maps category ids to labels in the file's category order, not in metainfo's class order; a
    file listing its categories in another order would silently train swapped labels.
    """
    new_id = {c["id"]: classes.index(c["name"]) + 1 for c in data["categories"] if c["name"] in classes}
    return {
        **data,
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)],
        "annotations": [{**a, "category_id": new_id[a["category_id"]]} for a in data["annotations"]],
    }


def prepare_dataset(dataset: RunDataset, storage: Storage, data_dir: Path) -> PreparedDataset:
    """Fetch, split, check and normalize; raises DatasetInvalid or StorageUnavailable."""
    spec = dataset.spec
    splits = read_splits(dataset, storage, data_dir)
    images_uri = join_uri(spec.source.uri, spec.images)
    if storage.is_remote(images_uri):
        images_dir = data_dir / "images"
        fetch_images(splits, images_uri, storage, images_dir)
    else:
        images_dir = storage.local_path(images_uri)
    counts = preflight(splits, images_dir, list(spec.classes))
    files = {}
    for split in splits:
        path = data_dir / "annotations" / f"{split.name}.json"
        write_coco(normalized(split.data, list(spec.classes)), path)
        files[split.name] = path
    return PreparedDataset(images_dir.resolve(), files, list(spec.classes), counts)
