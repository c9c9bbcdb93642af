"""Reading COCO annotation files and checking their structure, with messages naming file and entry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedet_trainer.errors import DatasetInvalid

# Beyond this many problems a report only says how many more there were.
MAX_REPORTED_PROBLEMS = 20

Coco = dict[str, Any]


@dataclass
class Problems:
    """Problems found in a dataset; raised together so one preflight shows many of them."""

    items: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_PROBLEMS:
            self.items.append(message)

    def raise_if_any(self) -> None:
        if not self.total:
            return
        more = self.total - len(self.items)
        text = "; ".join(self.items) + (f"; and {more} more problems" if more else "")
        raise DatasetInvalid(f"the dataset is invalid: {text}")


def load_coco(path: Path, label: str) -> Coco:
    """Parse a COCO file and check its structure; `label` names it in messages."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise DatasetInvalid(f"{label}: annotation file not found") from error
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise DatasetInvalid(f"{label}: not valid JSON ({error})") from error
    problems = Problems()
    check_structure(data, label, problems)
    problems.raise_if_any()
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_structure(data: Any, label: str, problems: Problems) -> None:
    if not isinstance(data, dict):
        problems.add(f"{label}: the top level must be a JSON object with images, annotations, categories")
        return
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            problems.add(f"{label}: '{key}' must be a list")
    if problems.total:
        return
    for position, image in enumerate(data["images"]):
        where = f"{label}: images[{position}]"
        if not isinstance(image, dict) or not _is_int(image.get("id")):
            problems.add(f"{where}: needs an integer 'id'")
            continue
        if not isinstance(image.get("file_name"), str) or not image["file_name"]:
            problems.add(f"{where} (image id {image['id']}): needs a non-empty 'file_name'")
        for size in ("width", "height"):
            if size in image and not (_is_int(image[size]) and image[size] > 0):
                problems.add(f"{where} (image id {image['id']}): '{size}' must be a positive integer")
    for position, category in enumerate(data["categories"]):
        if not isinstance(category, dict) or not _is_int(category.get("id")):
            problems.add(f"{label}: categories[{position}] needs an integer 'id'")
        elif not isinstance(category.get("name"), str):
            problems.add(f"{label}: category id {category['id']} needs a 'name'")
    for position, annotation in enumerate(data["annotations"]):
        where = f"{label}: annotations[{position}]"
        if not isinstance(annotation, dict) or not _is_int(annotation.get("id")):
            problems.add(f"{where}: needs an integer 'id'")
            continue
        where = f"{label}: annotation id {annotation['id']}"
        if not _is_int(annotation.get("image_id")) or not _is_int(annotation.get("category_id")):
            problems.add(f"{where}: needs integer 'image_id' and 'category_id'")
        bbox = annotation.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
            problems.add(f"{where}: 'bbox' must be [x, y, width, height] numbers, got {bbox!r}")


def write_coco(data: Coco, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, separators=(",", ":")))
    partial.replace(path)
