"""Checking a dataset before any GPU time is spent on it.

Every annotation is checked (box inside its image, not degenerate, category declared by name). Every
referenced image is opened by PIL in a thread pool: that reads the header (format, size) and runs
`verify()`, which walks a PNG's chunks and checksums but decodes no pixels. A full decode, which also
catches a truncated JPEG, runs on a deterministic sample of DECODE_SAMPLE images per split; that keeps a
10,000-image dataset well under ten seconds. Sizes are checked against a decompression-bomb limit
before anything is decoded.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from kubedet_trainer.coco import Coco, Problems
from kubedet_trainer.errors import DatasetInvalid
from kubedet_trainer.storage import contained_path

# PIL's own default; an env override lets an operator admit huge satellite tiles on purpose.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
DECODE_SAMPLE = 64
# A box may poke this many pixels past the image border (exporters round outward); beyond is an error.
BORDER_TOLERANCE = 1.0
# Boxes narrower or lower than a pixel are dropped silently by mmdet's loader; refuse them instead.
MIN_BOX_SIDE = 1.0

# We compare sizes against our own limit, so PIL's warning would only be noise.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


@dataclass
class SplitInput:
    name: str
    """train, val or test."""
    label: str
    """How messages name the file (its path in the dataset, plus the split when one file was split)."""
    data: Coco


@dataclass
class SplitCounts:
    images: int
    annotations: int
    per_class: dict[str, int]

    def to_wire(self) -> dict[str, Any]:
        return {"images": self.images, "annotations": self.annotations, "perClass": self.per_class}


def max_image_pixels() -> int:
    return int(os.environ.get("KUBEDET_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS))


def inspect_image(path: Path, decode: bool, pixel_limit: int) -> tuple[int, int] | str:
    """(width, height) of a sound image, or what is wrong with it."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > pixel_limit:
                return f"{width}x{height} pixels exceeds the limit of {pixel_limit} (decompression bomb?)"
            image.verify()
        if decode:
            with Image.open(path) as image:
                image.load()
    except FileNotFoundError:
        return "the image file does not exist"
    except IsADirectoryError:
        return "the image path is a folder"
    except Image.DecompressionBombError as error:
        return f"decompression bomb: {error}"
    except UnidentifiedImageError:
        return "not an image PIL can read"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return f"broken image: {error}"
    return width, height


def _decode_sample(count: int) -> set[int]:
    step = max(1, math.ceil(count / DECODE_SAMPLE))
    return set(range(0, count, step))


def check_images(splits: list[SplitInput], images_dir: Path, problems: Problems) -> None:
    """Open every image once (an image shared by splits is checked once); fill missing sizes."""
    pixel_limit = max_image_pixels()
    jobs: dict[Path, tuple[bool, list[tuple[SplitInput, dict]]]] = {}
    for split in splits:
        sample = _decode_sample(len(split.data["images"]))
        for position, image in enumerate(split.data["images"]):
            try:
                path = contained_path(images_dir, image["file_name"], what="file_name")
            except DatasetInvalid as error:
                problems.add(f"{split.label}: image id {image['id']}: {error}")
                continue
            decode, users = jobs.get(path, (False, []))
            users.append((split, image))
            jobs[path] = (decode or position in sample, users)
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 1) * 4)) as pool:
        outcomes = pool.map(lambda item: inspect_image(item[0], item[1][0], pixel_limit), jobs.items())
        for (_path, (_, users)), outcome in zip(jobs.items(), outcomes, strict=True):
            for split, image in users:
                where = f"{split.label}: image id {image['id']} ({image['file_name']})"
                if isinstance(outcome, str):
                    problems.add(f"{where}: {outcome}")
                    continue
                width, height = outcome
                declared = (image.get("width", width), image.get("height", height))
                if declared != (width, height):
                    problems.add(
                        f"{where}: declared {declared[0]}x{declared[1]} but the file is {width}x{height}"
                    )
                image["width"], image["height"] = width, height


def check_annotations(split: SplitInput, classes: list[str], problems: Problems) -> SplitCounts:
    data = split.data
    class_of_category: dict[int, str] = {}
    for category in data["categories"]:
        if category["name"] not in classes:
            problems.add(
                f"{split.label}: category id {category['id']} {category['name']!r} is not one of the "
                f"dataset's classes {classes}"
            )
        class_of_category[category["id"]] = category["name"]
    images: dict[int, dict] = {}
    for image in data["images"]:
        if image["id"] in images:
            problems.add(f"{split.label}: image id {image['id']} appears twice")
        images[image["id"]] = image
    per_class: Counter[str] = Counter()
    seen_annotations: set[int] = set()
    for annotation in data["annotations"]:
        where = f"{split.label}: annotation id {annotation['id']}"
        if annotation["id"] in seen_annotations:
            problems.add(f"{where}: the id appears twice")
        seen_annotations.add(annotation["id"])
        image = images.get(annotation["image_id"])
        if image is None:
            problems.add(f"{where}: refers to image id {annotation['image_id']}, which is not in the file")
            continue
        name = class_of_category.get(annotation["category_id"])
        if name is None:
            problems.add(f"{where}: category id {annotation['category_id']} is not in the file's categories")
            continue
        problem = box_problem(annotation["bbox"], image.get("width"), image.get("height"))
        if problem:
            problems.add(f"{where} (image id {image['id']}): {problem}")
            continue
        per_class[name] += 1
    if not data["images"]:
        problems.add(f"{split.label}: the {split.name} split has no images")
    elif split.name in ("train", "val") and not data["annotations"]:
        problems.add(f"{split.label}: the {split.name} split has no annotations")
    return SplitCounts(len(data["images"]), sum(per_class.values()), {c: per_class[c] for c in classes})


def box_problem(bbox: list[float], width: int | None, height: int | None) -> str | None:
    x, y, w, h = bbox
    if not all(math.isfinite(v) for v in bbox):
        return f"box {bbox} has a non-finite coordinate"
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        return f"box {bbox} is degenerate (width and height must be at least {MIN_BOX_SIDE:g} pixel)"
    if width is None or height is None:
        return None
    tolerance = BORDER_TOLERANCE
    if x < -tolerance or y < -tolerance or x + w > width + tolerance or y + h > height + tolerance:
        return f"box {bbox} lies outside the {width}x{height} image"
    return None


def preflight(splits: list[SplitInput], images_dir: Path, classes: list[str]) -> dict[str, SplitCounts]:
    """Check every split; raise DatasetInvalid naming each problem, else return the counts."""
    problems = Problems()
    check_images(splits, images_dir, problems)
    counts = {split.name: check_annotations(split, classes, problems) for split in splits}
    problems.raise_if_any()
    return counts
